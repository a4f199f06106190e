import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from generation.corpus import (
    VOCAB,
    Prompt,
    build_split,
    corpus_samples,
    decode,
    held_out_prompts,
    is_held_out,
    is_valid,
)
from generation.render import (
    CLIP_SECONDS,
    PEAK_LIMIT,
    SAMPLE_RATE,
    TARGET_RMS,
    clear_caches,
    render,
    render_batch,
)


def test_corpus_is_reproducible_valid_and_keeps_held_out_captions_out_of_training():
    a, b = build_split(300, seed=1), build_split(300, seed=1)
    assert np.array_equal(a.tokens, b.tokens) and a.texts == b.texts
    assert a.tokens.shape == (300, VOCAB.seq_len)
    assert all(is_valid(t) for t in a.tokens)
    assert not any(is_held_out(t) for t in a.texts)
    prompts = held_out_prompts(64)
    assert [p.text for p in prompts[:2]] == ["Rock song", "Opera singer"]
    assert len({p.text for p in prompts}) == 64 and all(is_held_out(p.text) for p in prompts)


def test_captions_are_varied():
    data = build_split(500, seed=2)
    assert len(set(data.texts)) > 250
    assert len({len(t.split()) for t in data.texts}) >= 5


def test_rock_and_opera_prompts_get_their_instruments_with_variety_inside():
    rng = np.random.default_rng(0)
    rock = [decode(t) for t in corpus_samples(Prompt("Rock song", (("genre", "rock"),)), 20, rng)]
    opera = [decode(t) for t in corpus_samples(Prompt("Opera singer", (("lead", "soprano_voice"),)), 20, rng)]
    assert all(p.kit == "acoustic" for p in rock) and all(p.kit == "none" for p in opera)
    assert {p.lead for p in opera} == {"soprano_voice"}
    assert len({p.key for p in rock}) > 3 and len({tuple(p.lead_steps) for p in rock}) == 20


def test_rendering_gives_finite_normalised_audio_of_the_clip_length():
    data = build_split(4, seed=3)
    audio = render_batch(data.tokens)
    assert audio.shape == (4, int(CLIP_SECONDS * SAMPLE_RATE)) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and np.abs(audio).max() <= PEAK_LIMIT + 1e-6
    rms = np.sqrt((audio**2).mean(1))
    assert np.all(rms <= TARGET_RMS * 1.01) and np.all(rms > TARGET_RMS * 0.3)


def test_rendering_reads_garbage_tokens_leniently():
    audio = render(np.random.default_rng(0).integers(0, VOCAB.size, VOCAB.seq_len))
    assert np.isfinite(audio).all() and len(audio) == int(CLIP_SECONDS * SAMPLE_RATE)


def test_rock_song_and_opera_singer_sound_different():
    from generation.inspect import measure_pitch

    rng = np.random.default_rng(1)
    rock = corpus_samples(Prompt("Rock song", (("genre", "rock"),)), 8, rng)
    opera = corpus_samples(Prompt("Opera singer", (("lead", "soprano_voice"),)), 8, rng)
    # drums and distortion make rock brighter (on average: a rock song may have an organ or a baritone
    # lead); the soprano's long sung notes are darker
    centroid = [np.mean([measure_pitch(render(t))["spectral_centroid_hz"] for t in x]) for x in (rock, opera)]
    assert centroid[0] > centroid[1] + 200


REFERENCE = Path(__file__).parent / "data" / "render_reference.json"


@lru_cache(maxsize=2)
def _projections(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((16, n)) / np.sqrt(n)


def fingerprint(audio: np.ndarray) -> list[float]:
    """RMS, peak and 16 random projections of a clip: float noise moves them by ~1e-8, any audible change
    (a note missing, moved or retuned) by far more than 1e-5."""
    x = np.asarray(audio, dtype=np.float64)
    return [float(np.sqrt(np.mean(x**2))), float(np.abs(x).max()), *map(float, _projections(len(x)) @ x)]


def test_rendering_matches_the_scalar_synthesizer_it_replaced():
    ref = json.loads(REFERENCE.read_text())
    audio = render_batch(np.array(ref["tokens"]))
    got = np.array([fingerprint(a) for a in audio])
    assert np.abs(got - np.array(ref["fingerprints"])).max() < 1e-6


def test_a_clip_renders_the_same_alone_cold_as_in_a_warm_batch():
    tokens = np.array(json.loads(REFERENCE.read_text())["tokens"][:12])
    clear_caches()
    alone = [render(t) for t in tokens[::-1]][::-1]  # short notes of a pitch may come before long ones
    batch = render_batch(tokens)
    assert all(np.array_equal(a, b) for a, b in zip(alone, batch, strict=True))
