import dataclasses

import numpy as np
import pytest
import torch

from generation.backend_builtin import BuiltinBackend
from generation.checkpoint import load_checkpoint, model_from_checkpoint
from generation.corpus import SLOT_HI, SLOT_LO, encode_text, is_held_out, prompt_set
from generation.finetune import (
    PRESETS,
    FinetuneConfig,
    advantages,
    finetune,
    policy_gradient_surrogate,
    token_kl,
    training_prompts,
)
from generation.model import generate
from generation.rewards import dissimilarities, gated_mean_dissimilarity

TINY = dataclasses.replace(PRESETS["tiny"], beta=10.0)


def diversity_rewards(emb: torch.Tensor) -> torch.Tensor:
    return gated_mean_dissimilarity(dissimilarities(emb))


@pytest.mark.parametrize("direction", ["reverse", "forward"])
def test_kl_is_zero_when_the_student_is_the_teacher_at_gamma_1(tiny_model, direction):
    backend = BuiltinBackend(tiny_model)
    cond = backend.encode(["Rock song", "calm piano ballad"])
    tokens = generate(tiny_model, cond.tensors["text_ids"], seed=0).tokens
    with torch.no_grad():
        student = backend.forced_logits(cond, tokens)
        kl = token_kl(student, backend.guided_forced_logits(cond, tokens, 1.0), direction)
        guided = token_kl(student, backend.guided_forced_logits(cond, tokens, 3.0), direction)
    assert kl.shape == backend.targets(tokens).shape and kl.abs().max() < 1e-5
    assert guided.mean() > 1e-3 and (guided > -1e-6).all()


def test_masked_logits_give_finite_kl_and_gradients():
    student = torch.randn(3, 5, requires_grad=True)
    teacher = torch.randn(3, 5)
    banned = torch.tensor([False, True, False, False, True])
    kl = token_kl(student.masked_fill(banned, float("-inf")), teacher.masked_fill(banned, float("-inf")))
    kl.sum().backward()
    assert torch.isfinite(kl).all() and torch.isfinite(student.grad).all()
    assert torch.allclose(student.grad[:, banned], torch.zeros(3, 2))
    masked = token_kl(student, teacher, mask=~banned)
    direct = token_kl(student[:, ~banned], teacher[:, ~banned])
    assert torch.allclose(masked, direct, atol=1e-5)


def test_policy_gradient_pushes_probability_towards_the_rewarded_action():
    logits = torch.zeros(2, requires_grad=True)  # a one-token policy over two actions
    actions = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    rewards = actions.float()[None]  # action 1 is rewarded
    logp = torch.log_softmax(logits, -1)[actions]
    loss = -policy_gradient_surrogate(logp, advantages(rewards, "batch").reshape(-1))
    loss.backward()
    assert logits.grad[1] < 0 < logits.grad[0]  # descending the loss raises the rewarded action's logit


def test_diversity_reward_is_mean_dissimilarity_to_siblings():
    e = torch.nn.functional.normalize(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]]), dim=-1)
    r = diversity_rewards(e)
    assert torch.allclose(r, torch.tensor([[0.5, 1.0, 0.5]]))
    pair = diversity_rewards(e[:, :2])
    assert torch.allclose(pair, torch.tensor([[1.0, 1.0]]))


def test_leave_one_out_cancels_with_a_pairwise_reward_so_it_is_refused():
    rewards = diversity_rewards(torch.nn.functional.normalize(torch.randn(4, 2, 8), dim=-1))
    assert torch.allclose(advantages(rewards, "leave_one_out"), torch.zeros(4, 2))
    assert advantages(rewards, "batch").abs().sum() > 0
    with pytest.raises(ValueError, match="cancels the advantage"):
        FinetuneConfig(beta=10.0, samples_per_prompt=2, baseline="leave_one_out")
    FinetuneConfig(beta=10.0, samples_per_prompt=2, baseline="batch")
    with pytest.raises(ValueError, match="baseline"):
        FinetuneConfig(baseline="median")


def test_training_prompts_are_never_held_out():
    prompts = training_prompts(200, seed=0)
    assert len(set(prompts)) == 200 and not any(is_held_out(p) for p in prompts)
    assert prompts == training_prompts(200, seed=0)


@pytest.fixture(scope="module")
def embeddings_path(untrained_embeddings, tmp_path_factory):
    return untrained_embeddings.save(tmp_path_factory.mktemp("emb") / "embeddings.pt")


def test_finetune_records_its_choices_lineage_and_training_log(tiny_checkpoint, embeddings_path, tmp_path):
    ckpt = finetune(TINY, tiny_checkpoint, embeddings_path, tmp_path / "ft.pt")
    base = load_checkpoint(tiny_checkpoint)
    assert ckpt["step"] == TINY.steps and ckpt["optimizer"] is None
    assert ckpt["init_id"] == base["init_id"] and ckpt["finetuned_from"] == base["checkpoint_id"]
    cfg = ckpt["train_config"]
    assert (cfg["beta"], cfg["gamma"], cfg["seed"], cfg["baseline"], cfg["kl"]) == (
        10.0,
        1.5,
        0,
        "prompt",
        "reverse",
    )
    assert cfg["samples_per_prompt"] == 4 and cfg["base_checkpoint_id"] == base["checkpoint_id"]
    steps = [e for e in ckpt["log"] if "kl" in e]
    assert len(steps) == TINY.steps and all({"kl", "reward", "entropy"} <= e.keys() for e in steps)
    assert sum("eval_diversity_heldout" in e for e in ckpt["log"]) >= 2
    assert ckpt["checkpoint_id"] != base["checkpoint_id"]


def test_an_interrupted_finetune_resumes_to_the_same_weights(tiny_checkpoint, embeddings_path, tmp_path):
    full = finetune(TINY, tiny_checkpoint, embeddings_path, tmp_path / "full.pt")

    def crash(step, total, metrics):
        if step == TINY.checkpoint_every + 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(TINY, tiny_checkpoint, embeddings_path, tmp_path / "run.pt", progress=crash)
    assert load_checkpoint(tmp_path / "run.pt")["step"] == TINY.checkpoint_every
    resumed = finetune(TINY, tiny_checkpoint, embeddings_path, tmp_path / "run.pt")
    assert resumed["checkpoint_id"] == full["checkpoint_id"]
    again = finetune(TINY, tiny_checkpoint, embeddings_path, tmp_path / "run.pt")
    assert again["checkpoint_id"] == full["checkpoint_id"]  # complete: returned as is


def test_forward_kl_distillation_runs(tiny_checkpoint, embeddings_path, tmp_path):
    cfg = dataclasses.replace(TINY, beta=0.0, kl="forward", steps=2, eval_every=0)
    ckpt = finetune(cfg, tiny_checkpoint, embeddings_path, tmp_path / "fwd.pt")
    assert ckpt["train_config"]["kl"] == "forward" and all(
        torch.isfinite(v).all() for v in ckpt["model_state"].values()
    )


def test_grammar_constrained_finetune_samples_well_kinded_tokens_with_finite_losses(
    tiny_checkpoint, embeddings_path, tmp_path
):
    cfg = dataclasses.replace(TINY, constrain=True, gamma=3.0, steps=2, eval_every=0)
    ckpt = finetune(cfg, tiny_checkpoint, embeddings_path, tmp_path / "constrained.pt")
    assert all(np.isfinite(e["kl"]) and np.isfinite(e["pg"]) for e in ckpt["log"])
    model = model_from_checkpoint(ckpt)
    tokens = generate(model, torch.from_numpy(encode_text(["Rock song"] * 4)), constrain=True).tokens.numpy()
    assert ((tokens >= SLOT_LO) & (tokens < SLOT_HI)).all()


def test_training_watches_dev_prompts_only_and_the_prompt_gated_reward_trains(
    tiny_checkpoint, embeddings_path, tmp_path, monkeypatch
):
    import generation.finetune as finetune_module

    watched: list[str] = []
    real = finetune_module.generate_for_prompts
    monkeypatch.setattr(
        finetune_module,
        "generate_for_prompts",
        lambda backend, texts, *a, **k: watched.extend(texts) or real(backend, texts, *a, **k),
    )
    cfg = dataclasses.replace(TINY, reward="prompt_gated", steps=2, eval_every=2, eval_prompts=5)
    ckpt = finetune(cfg, tiny_checkpoint, embeddings_path, tmp_path / "gated.pt")
    assert len(watched) == 2 * 5 and {prompt_set(t) for t in watched} == {"dev"}
    assert ckpt["train_config"]["reward"] == "prompt_gated"
    assert all(np.isfinite(e["reward"]) for e in ckpt["log"] if "reward" in e)


def test_sample_and_steer_reproduce_the_grammar_protocol_the_finetunes_were_trained_under(
    tiny_checkpoint, embeddings_path, tmp_path, capsys
):
    from generation.__main__ import main

    cfg = dataclasses.replace(TINY, constrain=True, steps=1, eval_every=0)
    finetune(dataclasses.replace(cfg, beta=0.0), tiny_checkpoint, embeddings_path, tmp_path / "q.pt")
    finetune(cfg, tiny_checkpoint, embeddings_path, tmp_path / "d.pt")
    capsys.readouterr()
    assert (
        main(
            [
                "sample",
                "--model",
                str(tmp_path / "q.pt"),
                "--prompt",
                "Rock song",
                "--out",
                str(tmp_path / "a.wav"),
            ]
        )
        == 0
    )
    assert "constrain=True" in capsys.readouterr().out  # trained constrained: sampled constrained
    assert (
        main(
            [
                "sample",
                "--model",
                str(tiny_checkpoint),
                "--prompt",
                "Rock song",
                "--out",
                str(tmp_path / "b.wav"),
            ]
        )
        == 0
    )
    assert "constrain=False" in capsys.readouterr().out  # a base checkpoint: plain sampling
    args = ["--model", str(tmp_path / "q.pt"), "--prompt", "Rock song", "--out", str(tmp_path / "c.wav")]
    assert main(["sample", *args, "--no-constrain"]) == 0 and "constrain=False" in capsys.readouterr().out
    pair = ["--quality", str(tmp_path / "q.pt"), "--diversity", str(tmp_path / "d.pt"), "--lam", "0.5"]
    assert (
        main(["steer", *pair, "--prompt", "Rock song", "--samples", "1", "--out", str(tmp_path / "s")]) == 0
    )
    assert "constrain=True" in capsys.readouterr().out
