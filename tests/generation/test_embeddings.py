"""The held-out embedding is independent of the reward one: other clips, input, architecture, objective, seed."""

from dataclasses import replace

import numpy as np
import torch

from generation.corpus import build_split
from generation.embeddings import (
    EMBEDDING_PRESETS,
    Embeddings,
    EmbeddingTrainConfig,
    EncoderConfig,
    SequenceEncoder,
    SpectrogramConvEncoder,
    _build,
    clip_side,
    clips_digest,
    embedding_clips,
    semitone_spectrogram,
    train_heldout,
    vicreg,
)
from generation.render import render_batch


def test_held_out_embedding_trains_on_no_clip_of_the_reward_embedding():
    cfg = replace(EMBEDDING_PRESETS["tiny"], n_clips=200, n_val=50)
    reward_clips, heldout_clips = embedding_clips(cfg)
    assert len(reward_clips) == len(heldout_clips) == 250
    reward_rows = {t.tobytes() for t in reward_clips.tokens}
    heldout_rows = {t.tobytes() for t in heldout_clips.tokens}
    assert reward_rows.isdisjoint(heldout_rows)
    assert {clip_side(t) for t in reward_clips.tokens} == {0}
    assert {clip_side(t) for t in heldout_clips.tokens} == {1}
    # a clip drawn again (any seed) lands on the side it landed on before
    again = build_split(50, seed=10_000 + cfg.seed).tokens
    assert all(clip_side(t) == clip_side(t.copy()) for t in again)
    assert clips_digest(reward_clips.tokens) != clips_digest(heldout_clips.tokens)
    assert clips_digest(reward_clips.tokens[::-1]) == clips_digest(reward_clips.tokens)  # a set: order-free


def test_held_out_embedding_reads_a_semitone_spectrogram_with_two_d_convolutions():
    audio = render_batch(build_split(2, seed=3).tokens)
    frames = semitone_spectrogram(audio)
    assert frames.shape == (2, 125, 72) and torch.isfinite(frames).all()
    heldout = _build(EncoderConfig("semitone", 16, 32))
    reward = _build(EncoderConfig("symbolic", 16, 32))
    assert isinstance(heldout, SpectrogramConvEncoder) and isinstance(reward, SequenceEncoder)
    assert any(isinstance(m, torch.nn.Conv2d) for m in heldout.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in reward.modules())
    emb = heldout(frames)
    assert emb.shape == (2, 16) and torch.allclose(emb.norm(dim=1), torch.ones(2))


def test_a_semitone_band_follows_the_pitch_played():
    t = np.arange(16_000 * 2) / 16_000
    a440 = np.sin(2 * np.pi * 440 * t)[None].astype(np.float32)
    band = int(semitone_spectrogram(a440)[0].mean(0).argmax())
    assert band == 69 - 36  # MIDI 69 (A4) above the lowest band, MIDI 36


def test_vicreg_has_no_negatives_and_punishes_collapse():
    torch.manual_seed(0)
    spread = torch.randn(256, 8)
    # two identical, spread-out views: no invariance, variance or (much) covariance cost
    assert float(vicreg(spread, spread, (25.0, 25.0, 1.0))) < 1.0
    # every clip mapped to one point: the views agree, the variance term alone costs about 2 x 25
    collapsed = torch.zeros(256, 8) + 0.3
    assert float(vicreg(collapsed, collapsed, (25.0, 25.0, 1.0))) > 45
    # disagreeing views cost their mean squared difference
    assert float(vicreg(spread, spread + 1.0, (1.0, 0.0, 0.0))) == 1.0


def test_the_committed_bundle_trained_its_held_out_embedding_on_other_clips():
    from pathlib import Path

    from generation.embeddings import Embeddings

    path = Path(__file__).resolve().parents[2] / "generation" / "checkpoints" / "demo-embeddings.pt"
    emb = Embeddings.load(path)
    assert emb.heldout_encoder.cfg.kind == "semitone" and emb.reward_encoder.cfg.kind == "symbolic"
    cfg = EMBEDDING_PRESETS["demo"]
    reward_clips, heldout_clips = embedding_clips(cfg)
    recorded = emb.report["train_clips_sha256"]
    assert recorded["reward_and_mulan"] == clips_digest(reward_clips.tokens[: cfg.n_clips])
    assert recorded["heldout"] == clips_digest(heldout_clips.tokens[: cfg.n_clips])
    assert {t.tobytes() for t in reward_clips.tokens}.isdisjoint({t.tobytes() for t in heldout_clips.tokens})


def test_the_held_out_embedding_is_centred_on_its_training_clips_and_old_bundles_still_load():
    frames = semitone_spectrogram(render_batch(build_split(40, seed=5).tokens))
    cfg = EmbeddingTrainConfig(steps=3, batch_size=16, dim=8, hidden=16)
    enc, _ = train_heldout(frames, 32, seed=1, crop=frames.shape[1] // 2 - 6, cfg=cfg)
    half = frames.shape[1] // 2
    with torch.no_grad():
        raw = enc.raw(torch.cat([frames[:32, :half], frames[:32, half : 2 * half]]))
        centred = enc(frames[:32, :half])
    assert torch.allclose(enc.centre, raw.mean(0), atol=1e-5) and enc.centre.norm() > 0
    assert torch.allclose(
        centred, torch.nn.functional.normalize(enc.raw(frames[:32, :half]) - enc.centre, dim=-1)
    )
    # centred vectors point every way: their mean cosine to each other is far below the raw projections'
    cos = lambda z: float((lambda u: (u @ u.T).mean())(torch.nn.functional.normalize(z, dim=-1)))  # noqa: E731
    assert cos(centred) < cos(enc.raw(frames[:32, :half]).detach()) - 0.2
    # a bundle saved before the centre existed loads with a zero centre (its embeddings unchanged)
    reward = _build(EncoderConfig("symbolic", 8, 16))
    d = Embeddings(None, None, reward, enc).to_dict()
    del d["heldout"]["state"]["centre"]
    assert torch.equal(Embeddings.from_dict(d).heldout_encoder.centre, torch.zeros(8))
