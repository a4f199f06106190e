"""The MusicGen backend on a tiny, randomly initialised MusicGen built offline (see conftest)."""

import dataclasses
import shutil

import numpy as np
import pytest
import soundfile
import torch

from generation.__main__ import main
from generation.backend import load_backend, pretrained_checkpoint
from generation.embeddings import Embeddings
from generation.finetune import PRESETS, finetune, objective_terms
from generation.merge import merge_checkpoints
from generation.sampling import SamplingConfig

TEXTS = ["Rock song", "calm piano ballad with strings"]


@pytest.fixture(scope="module")
def musicgen(tiny_musicgen_dir):
    backend = load_backend(tiny_musicgen_dir)
    backend.set_seconds(0.2)  # 100 frames of 2 codebooks
    return backend


@pytest.mark.parametrize("gamma", [1.0, 3.0])
def test_greedy_cfg_generation_equals_transformers_generate_in_tokens_and_audio(musicgen, gamma, monkeypatch):
    codec = musicgen.model.audio_encoder
    seen = {}
    decode = codec.decode

    def keep_codes(codes, *args, **kwargs):
        seen["codes"] = codes
        return decode(codes, *args, **kwargs)

    monkeypatch.setattr(codec, "decode", keep_codes)
    inputs = musicgen.tokenizer(TEXTS, padding=True, return_tensors="pt")
    theirs = musicgen.model.generate(
        **inputs, do_sample=False, guidance_scale=gamma, max_new_tokens=musicgen.steps
    )
    monkeypatch.undo()

    ours = musicgen.generate(musicgen.encode(TEXTS), SamplingConfig(gamma=gamma, top_k=1), seed=7)
    assert torch.equal(musicgen.codes(ours.tokens), seen["codes"][0])
    assert np.array_equal(musicgen.decode(ours.tokens.numpy()), theirs[:, 0].numpy())


def test_guidance_changes_the_greedy_tokens(musicgen):
    cond = musicgen.encode(TEXTS)
    plain = musicgen.generate(cond, SamplingConfig(top_k=1)).tokens
    guided = musicgen.generate(cond, SamplingConfig(gamma=3.0, top_k=1)).tokens
    assert not torch.equal(plain, guided)


def test_the_delay_pattern_is_forced_and_left_out_of_the_log_probabilities(musicgen):
    cond = musicgen.encode(TEXTS)
    gen = musicgen.generate(cond, SamplingConfig(), seed=3, return_logprobs=True)
    k, length = musicgen.num_codebooks, musicgen.steps + 1
    pattern = musicgen.delay_pattern(length)
    forced = pattern != -1
    assert (gen.tokens[:, forced] == musicgen.start_id).all() and (gen.tokens[:, ~forced] < 32).all()
    scored = musicgen.scored_positions(length)
    assert int(scored.sum()) == musicgen.frames * k == musicgen.tokens_per_sequence
    assert (gen.logprobs[:, ~scored] == 0).all()
    with torch.no_grad():  # the cached sampling pass and teacher forcing agree on every sampled position
        forced_lp = torch.log_softmax(musicgen.forced_logits(cond, gen.tokens), -1)
    per_token = forced_lp.gather(-1, musicgen.targets(gen.tokens)[..., None])[..., 0]
    assert torch.allclose(per_token, gen.logprobs[:, scored], atol=1e-4)


def test_decoded_audio_is_finite_at_the_codec_rate(musicgen):
    gen = musicgen.generate(musicgen.encode(TEXTS), SamplingConfig(temperature=1.5), seed=1)
    audio = musicgen.decode(gen.tokens.numpy())
    assert musicgen.sample_rate == 8000 and audio.shape == (2, musicgen.frames * 16)
    assert np.isfinite(audio).all() and audio.std() > 0
    assert audio.shape[1] / musicgen.sample_rate == pytest.approx(musicgen.clip_seconds)


def test_a_distillation_step_lowers_the_kl_on_a_fixed_batch(musicgen):
    teacher = musicgen
    student = teacher.fork()
    before = {k: v.clone() for k, v in teacher.state().items()}
    cond = student.encode(TEXTS).repeat_interleave(2)
    tokens = student.generate(cond, SamplingConfig(), seed=0).tokens
    opt = torch.optim.Adam(student.network.parameters(), lr=3e-3)

    def kl() -> torch.Tensor:
        return objective_terms(student, teacher, cond, tokens, gamma=3.0)[0].sum(1).mean()

    first = kl()
    first.backward()
    opt.step()
    with torch.no_grad():
        second = kl()
    assert 0 < second < first
    assert all(torch.equal(v, teacher.state()[k]) for k, v in before.items())  # text encoder, codec, teacher


@pytest.fixture(scope="module")
def finetunes(musicgen, audio_embeddings_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("musicgen-ft")
    base = pretrained_checkpoint(musicgen)
    cfg = dataclasses.replace(
        PRESETS["tiny"],
        steps=1,
        prompts_per_step=2,
        samples_per_prompt=2,
        baseline="batch",
        n_train_prompts=8,
        eval_every=0,
        checkpoint_every=0,
    )
    quality = finetune(cfg, base, audio_embeddings_path, tmp / "q.pt")
    diverse = finetune(dataclasses.replace(cfg, beta=10.0), base, audio_embeddings_path, tmp / "d.pt")
    return base, quality, diverse


def test_a_diversity_rl_step_runs_on_audio_rewards_and_changes_the_decoder_only(finetunes):
    base, _, diverse = finetunes
    assert diverse["backend"] == "musicgen" and diverse["train_config"]["beta"] == 10.0
    (step,) = diverse["log"]
    assert np.isfinite([step["kl"], step["reward"], step["pg"]]).all() and step["reward"] > 0
    changed = [k for k, v in diverse["model_state"].items() if not torch.equal(v, base["model_state"][k])]
    assert changed and set(diverse["model_state"]) == set(base["model_state"])
    assert not any(k.startswith(("text_encoder", "audio_encoder")) for k in diverse["model_state"])
    assert diverse["init_id"] == base["init_id"] and diverse["finetuned_from"] == base["checkpoint_id"]


def test_merging_musicgen_finetunes_at_lambda_0_and_1_returns_the_parents_exactly(finetunes):
    _, quality, diverse = finetunes
    for lam, parent in ((0.0, quality), (1.0, diverse)):
        merged = merge_checkpoints(quality, diverse, lam)
        assert merged["checkpoint_id"] == parent["checkpoint_id"]
        assert all(torch.equal(merged["model_state"][k], v) for k, v in parent["model_state"].items())
    half = load_backend(merge_checkpoints(quality, diverse, 0.5))
    assert half.name == "musicgen" and half.clip_seconds == pytest.approx(0.2)


def test_audio_embeddings_score_musicgen_clips_resampled_to_their_rate(musicgen, audio_embeddings_path):
    emb = Embeddings.load(audio_embeddings_path)
    assert not emb.has_mulan and emb.sample_rate == 16_000
    clips = musicgen.clips(
        musicgen.generate(musicgen.encode(TEXTS * 2), SamplingConfig(), seed=2).tokens.numpy()
    )
    reward = emb.embed_reward(clips)
    assert reward.shape == (4, emb.reward_encoder.cfg.dim) and torch.isfinite(reward).all()
    with pytest.raises(ValueError, match="no MuLan"):
        emb.embed_text(TEXTS)


def test_the_symbolic_reward_embedding_is_refused_for_musicgen(musicgen, untrained_embeddings):
    clips = musicgen.clips(musicgen.generate(musicgen.encode(TEXTS), SamplingConfig()).tokens.numpy())
    with pytest.raises(ValueError, match="embeddings --audio"):
        untrained_embeddings.embed_reward(clips)


def test_sample_command_writes_a_greedy_musicgen_clip_and_refuses_constrain(
    tiny_musicgen_dir, tmp_path, capsys
):
    out = tmp_path / "clip.wav"
    args = ["sample", "--model", str(tiny_musicgen_dir), "--prompt", "Rock song", "--gamma", "3"]
    assert main([*args, "--top-k", "1", "--seconds", "0.25", "--out", str(out)]) == 0
    audio, sr = soundfile.read(out)
    assert sr == 8000 and len(audio) == 0.25 * 8000 and np.isfinite(audio).all()
    refused = tmp_path / "refused.wav"
    assert main([*args, "--constrain", "--out", str(refused)]) == 2
    err = capsys.readouterr().err.strip()
    assert "grammar" in err and len(err.splitlines()) == 1 and not refused.exists()


def test_a_missing_model_folder_is_a_one_line_error_saying_where_weights_go(tmp_path, capsys):
    out = tmp_path / "x.wav"
    assert (
        main(["sample", "--model", str(tmp_path / "musicgen-small"), "--prompt", "x", "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "save_pretrained" in err and "Hugging Face cache" in err and len(err.splitlines()) == 1


@pytest.mark.django_db
def test_pregenerating_with_a_musicgen_folder_writes_clips_that_import_clips_accepts(
    tiny_musicgen_dir, tmp_path
):
    from generation.jobs import parse_parameters, run_pregenerate
    from ratings import services
    from ratings.models import Clip

    runs = tmp_path / "runs"
    shutil.copytree(tiny_musicgen_dir, runs / "checkpoints" / "tiny-musicgen")
    params = parse_parameters(
        "pregenerate",
        {"checkpoint": "tiny-musicgen", "prompts": 2, "samples": 2, "gamma": 3.0, "seconds": 0.5},
    )
    notes = []
    result = run_pregenerate(params, tmp_path / "clips", runs, "musicgen-cfg3", lambda f, n: notes.append(n))
    assert result["checkpoint_kind"] == "base" and notes
    imported = services.clips_import(study_slug="mg", manifest=tmp_path / "clips" / "manifest.csv")
    assert imported.clips_created == 4
    clip = Clip.objects.filter(variant__name="musicgen-cfg3").first()
    assert clip.sample_rate == 8000 and clip.duration_s == pytest.approx(0.5)


def test_claim_one_evaluation_runs_on_musicgen_with_a_kept_mulan_pair(
    musicgen, audio_folder, untrained_embeddings, tmp_path
):
    from generation.evaluate import evaluate

    mulan = untrained_embeddings.save(tmp_path / "mulan.pt")
    out = tmp_path / "mixed.pt"
    args = ["embeddings", "--audio", str(audio_folder), "--out", str(out), "--preset", "tiny", "--steps", "2"]
    assert main([*args, "--mulan-from", str(mulan)]) == 0
    emb = Embeddings.load(out)
    assert emb.has_mulan and emb.reward_encoder.cfg.kind == "audio"
    result = evaluate(
        musicgen,
        emb,
        gammas=(1.0, 3.0),
        n_prompts=2,
        samples=2,
        seeds=(0,),
        zero_shot_clips=10,
        log=lambda s: None,
    )
    assert set(result["variants"]) == {"gamma=1", "gamma=3"} and "base_vs_corpus" not in result
    assert result["variants"]["gamma=3"]["valid_rate"] is None
