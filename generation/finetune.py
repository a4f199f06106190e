"""Diversity-rewarded CFG distillation (MISSION.md section 2): one finetuning objective, one file.

Each step the student samples ``samples_per_prompt`` sequences for each of ``prompts_per_step`` training
captions (on-policy, temperature 1, one forward pass per token). The loss is

    L = sum_t KL(student(.|c, y<t) || softmax(l_gamma(.|c, y<t)))  -  beta * mean(A * sum_t log student(y_t))

with the frozen base model under CFG at ``gamma`` as the teacher (reverse KL by default, forward as an
option) and A the advantage of each sequence's diversity reward: its mean dissimilarity (1 - cosine of the
reward embedding) to its siblings for the same prompt, minus a baseline (batch mean, per-prompt mean,
leave-one-out or a moving average), optionally divided by a running standard deviation. beta = 0 is plain
CFG distillation. Every choice and seed lands in the checkpoint, which also carries the lineage merging
checks: ``init_id`` (the initial weights) and ``finetuned_from`` (the base checkpoint's id).

Written once against ``generation.backend.Backend``: the built-in model and MusicGen train through the same
loop (for MusicGen the decoder trains, the text encoder and codec stay frozen, and the KL and log-probabilities
cover the sampled positions of the codebook delay pattern only). The reward embeds the decoded audio (the
built-in model's symbolic reward embedding reads its tokens instead).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from generation.backend import Backend, Conditioning, load_with_checkpoint
from generation.checkpoint import load_checkpoint, save_checkpoint, weights_digest
from generation.corpus import dev_prompts, is_held_out, sample_attributes, sample_prompt
from generation.embeddings import Embeddings
from generation.evaluate import score_clips
from generation.rewards import REWARDS, DiversityReward, make_reward
from generation.sampling import SamplingConfig, generate_for_prompts

BASELINES = ("batch", "prompt", "leave_one_out", "moving_average")
NORMALISATIONS = ("running_std", "none")
KL_DIRECTIONS = ("reverse", "forward")
# Masked logits are set to this finite value, never -inf: -inf inside a KL gives NaN values and gradients.
MASKED_LOGIT = -1e4

ProgressCallback = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class FinetuneConfig:
    preset: str = "demo"
    gamma: float = 1.5  # the teacher's CFG strength
    beta: float = 0.0  # weight of the diversity policy gradient; 0 = CFG distillation alone
    steps: int = 300
    prompts_per_step: int = 8
    samples_per_prompt: int = 4
    baseline: str = "prompt"
    normalise: str = "running_std"
    norm_momentum: float = 0.95  # of the running advantage variance (and of the moving-average baseline)
    kl: str = "reverse"
    reward: str = "paper"  # generation.rewards.REWARDS: "paper", or "prompt_gated" (keeps the prompt)
    gate_threshold: float = 0.3  # prompt_gated: the MuLan adherence a sample must reach (set on dev prompts)
    gate_width: float = 0.05  # prompt_gated: the logistic gate's width
    constrain: bool = False  # sample under the token grammar; the KL then distils the unmasked distribution
    lr: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    n_train_prompts: int = 4000
    eval_every: int = 50
    eval_prompts: int = 16
    eval_samples: int = 4
    checkpoint_every: int = 50
    threads: int = 1

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline {self.baseline!r} is not one of {BASELINES}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise {self.normalise!r} is not one of {NORMALISATIONS}")
        if self.kl not in KL_DIRECTIONS:
            raise ValueError(f"kl {self.kl!r} is not one of {KL_DIRECTIONS}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward {self.reward!r} is not one of {REWARDS}")
        if self.samples_per_prompt < 2:
            raise ValueError("the diversity reward needs samples_per_prompt >= 2")
        if self.beta and self.samples_per_prompt == 2 and self.baseline in ("prompt", "leave_one_out"):
            # With a pairwise reward both siblings get the same reward, so a per-prompt baseline cancels it.
            raise ValueError(
                f"baseline {self.baseline!r} cancels the advantage with 2 samples per prompt; "
                "use --baseline batch or moving_average, or more samples per prompt"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def make_reward(self) -> DiversityReward:
        return make_reward(self.reward, self.gate_threshold, self.gate_width)


PRESETS: dict[str, FinetuneConfig] = {
    "tiny": FinetuneConfig(
        preset="tiny",
        steps=6,
        prompts_per_step=2,
        samples_per_prompt=4,
        lr=1e-3,
        n_train_prompts=50,
        eval_every=3,
        eval_prompts=2,
        eval_samples=2,
        checkpoint_every=3,
    ),
    # The largest gamma of the front's grid: with grammar-constrained sampling its output stays well-formed.
    "demo": FinetuneConfig(gamma=3.0, constrain=True),
}


# --- the objective ------------------------------------------------------------------------------------


def token_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    direction: str = "reverse",
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL over the whole vocabulary at every position, (..., V) -> (...).

    reverse: KL(student || teacher), forward: KL(teacher || student). ``mask`` (broadcastable, True =
    allowed) is applied identically to both as a large finite negative, so the unmasked distribution is
    distilled; -inf logits are clamped to the same value, keeping values and gradients finite."""
    s, t = student_logits.float().clamp(min=MASKED_LOGIT), teacher_logits.float().clamp(min=MASKED_LOGIT)
    if mask is not None:
        s, t = s.masked_fill(~mask, MASKED_LOGIT), t.masked_fill(~mask, MASKED_LOGIT)
    log_s, log_t = F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1)
    if direction == "reverse":
        return (log_s.exp() * (log_s - log_t)).sum(-1)
    if direction == "forward":
        return (log_t.exp() * (log_t - log_s)).sum(-1)
    raise ValueError(f"kl direction {direction!r} is not one of {KL_DIRECTIONS}")


def advantages(rewards: torch.Tensor, baseline: str, moving_average: float | None = None) -> torch.Tensor:
    """(P, K) rewards minus the baseline: the batch mean, the prompt's mean, the mean of the sample's
    siblings (leave-one-out), or a moving average of past batch means (``moving_average``)."""
    if baseline == "batch":
        return rewards - rewards.mean()
    if baseline == "prompt":
        return rewards - rewards.mean(1, keepdim=True)
    if baseline == "leave_one_out":
        k = rewards.shape[1]
        return rewards - (rewards.sum(1, keepdim=True) - rewards) / (k - 1)
    if baseline == "moving_average":
        return rewards - (rewards.mean() if moving_average is None else moving_average)
    raise ValueError(f"baseline {baseline!r} is not one of {BASELINES}")


def policy_gradient_surrogate(sequence_logprobs: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """mean(A * log pi(y)): its gradient is the REINFORCE estimate of the gradient of the expected reward
    (the advantages are constants). The loss subtracts beta times this."""
    return (adv.detach() * sequence_logprobs).mean()


def objective_terms(
    student: Backend,
    teacher: Backend,
    cond: Conditioning,
    tokens: torch.Tensor,
    gamma: float,
    kl: str = "reverse",
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """On sampled ``tokens``: the per-position KL to the teacher under CFG at ``gamma`` (B, N), each
    sequence's log-probability under the student's sampling distribution (B,), and the mean entropy. Only
    the positions the backend samples count (not MusicGen's delay-pattern padding); ``allowed`` (N, V) is the
    grammar mask both distributions share."""
    logits = student.forced_logits(cond, tokens)
    with torch.no_grad():
        guided = teacher.guided_forced_logits(cond, tokens, gamma)
    per_position = token_kl(logits, guided, kl, mask=allowed)
    if allowed is not None:  # the sampling distribution: the same mask, a finite negative
        logits = logits.masked_fill(~allowed, MASKED_LOGIT)
    log_probs = F.log_softmax(logits.float(), dim=-1)
    seq_logprob = log_probs.gather(-1, student.targets(tokens)[..., None])[..., 0].sum(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    return per_position, seq_logprob, entropy


def training_prompts(n: int, seed: int) -> list[str]:
    """``n`` distinct training captions (never held-out ones), reproducible from ``seed``."""
    rng = np.random.default_rng([seed, 7919])
    seen: dict[str, None] = {}
    while len(seen) < n:
        text = sample_prompt(sample_attributes(rng), rng).text
        if not is_held_out(text):
            seen.setdefault(text, None)
    return list(seen)


# --- evaluation during training -----------------------------------------------------------------------


@torch.no_grad()
def quick_eval(
    backend: Backend,
    emb: Embeddings,
    n_prompts: int,
    samples: int,
    seed: int = 0,
    constrain: bool = False,
) -> dict[str, float]:
    """Held-out and reward diversity, MuLan adherence (when the embeddings have it) and validity (when the
    backend can tell) on ``n_prompts`` development prompts (never test prompts: what training watches must
    not be what the reports measure)."""
    texts = [p.text for p in dev_prompts(n_prompts)]
    tokens, _ = generate_for_prompts(backend, texts, samples, SamplingConfig(constrain=constrain), seed)
    scores = score_clips(emb, texts, backend.clips(tokens))
    result = {f"eval_{m}": float(v.mean()) for m, v in scores.items()}
    valid = backend.valid_rate(tokens)
    return {**result, **({} if valid is None else {"eval_valid": valid})}


# --- the training loop --------------------------------------------------------------------------------


def finetune(
    cfg: FinetuneConfig,
    base: str | Path,
    embeddings: Embeddings | str | Path,
    out: str | Path,
    progress: ProgressCallback | None = None,
    device: str | None = None,
    prompts: list[str] | None = None,
) -> dict[str, Any]:
    """Finetune the base (a checkpoint file, or a model folder of a pretrained backend) into ``out``; resumes
    from ``out`` when it holds a partial run of the same config and base, returns it untouched when that run
    is complete. ``prompts``: the training captions (default: the corpus's training captions). Runs on CUDA
    when present."""
    torch.set_num_threads(cfg.threads)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out)
    emb = embeddings if isinstance(embeddings, Embeddings) else Embeddings.load(embeddings)
    teacher, base_ckpt = load_with_checkpoint(base)
    run_config = {
        **cfg.to_dict(),
        "objective": "diversity_rewarded_cfg_distillation",
        "base_checkpoint_id": base_ckpt["checkpoint_id"],
        "reward_embedding_id": weights_digest(emb.reward_encoder.state_dict()),
    }
    if prompts is not None:
        run_config["prompts_sha256"] = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:16]
    teacher.to(dev)
    student = teacher.fork()
    teacher.network.requires_grad_(False)
    student.network.requires_grad_(True)
    opt = torch.optim.AdamW(student.network.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)
    state: dict[str, Any] = {"adv_var": None, "reward_avg": None}
    start, log, elapsed = 0, [], 0.0
    if out.exists():
        ckpt = load_checkpoint(out)
        if ckpt["train_config"] == run_config:
            if ckpt["step"] >= cfg.steps:
                return ckpt  # already trained: running twice is safe
            if ckpt.get("optimizer") is not None:
                student.load_state(ckpt["model_state"])
                opt.load_state_dict(ckpt["optimizer"])
                start, log, state = ckpt["step"], ckpt["log"], dict(ckpt["rl_state"])
                elapsed = ckpt.get("elapsed_s", 0.0)
    allowed = student.allowed_tokens(cfg.constrain)  # (positions, vocab) or None; refused where no grammar
    if prompts is None:
        prompts = training_prompts(cfg.n_train_prompts, cfg.seed)
    sampling = SamplingConfig(constrain=cfg.constrain)
    k = cfg.samples_per_prompt
    reward = cfg.make_reward()
    t0 = time.perf_counter() - elapsed

    def checkpoint(step: int, final: bool) -> dict[str, Any]:
        return student.checkpoint(
            step=step,
            train_config=run_config,
            init_id=base_ckpt["init_id"],
            parent=base_ckpt["checkpoint_id"],
            log=log,
            optimizer=None if final else opt.state_dict(),
            extra={
                "finetuned_from": base_ckpt["checkpoint_id"],
                "rl_state": state,
                "elapsed_s": time.perf_counter() - t0,
            },
        )

    def save(step: int, final: bool) -> dict[str, Any]:
        ckpt = checkpoint(step, final)
        save_checkpoint(ckpt, out)
        return ckpt

    if start == 0 and cfg.eval_every:
        log.append(
            {
                "step": 0,
                **quick_eval(student, emb, cfg.eval_prompts, cfg.eval_samples, constrain=cfg.constrain),
            }
        )
    for step in range(start, cfg.steps):
        rng = np.random.default_rng([cfg.seed, step])  # per-step stream: resuming replays the same batches
        idx = rng.choice(len(prompts), cfg.prompts_per_step, replace=False)
        texts = [prompts[i] for i in idx]
        cond = student.encode(texts).repeat_interleave(k)
        tokens = student.generate(cond, sampling, seed=int(rng.integers(2**31))).tokens
        student.network.train()
        kl, seq_logprob, entropy = objective_terms(student, teacher, cond, tokens, cfg.gamma, cfg.kl, allowed)
        with torch.no_grad():
            rewards = reward(emb, texts, student.clips(tokens.cpu().numpy()), k).to(dev)
            adv = advantages(rewards, cfg.baseline, state["reward_avg"])
            m = cfg.norm_momentum
            batch_mean = float(rewards.mean())
            state["reward_avg"] = (
                batch_mean if state["reward_avg"] is None else m * state["reward_avg"] + (1 - m) * batch_mean
            )
            if cfg.normalise == "running_std":
                var = float(adv.pow(2).mean())
                state["adv_var"] = var if state["adv_var"] is None else m * state["adv_var"] + (1 - m) * var
                adv = adv / (state["adv_var"] ** 0.5 + 1e-6)
        distill = kl.sum(1).mean()
        pg = policy_gradient_surrogate(seq_logprob, adv.reshape(-1))
        loss = distill - cfg.beta * pg if cfg.beta else distill
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(student.network.parameters(), cfg.grad_clip))
        opt.step()
        done = step + 1
        metrics = {
            "kl": float(distill.detach()),
            "reward": batch_mean,
            "entropy": float(entropy.detach()),
            "pg": float(pg.detach()),
            "loss": float(loss.detach()),
            "grad_norm": grad_norm,
            "advantage_std": float(state["adv_var"] ** 0.5)
            if state["adv_var"] is not None
            else float(adv.std()),
            "elapsed_s": time.perf_counter() - t0,
        }
        if cfg.eval_every and (done % cfg.eval_every == 0 or done == cfg.steps):
            metrics.update(
                quick_eval(student, emb, cfg.eval_prompts, cfg.eval_samples, constrain=cfg.constrain)
            )
        log.append({"step": done, **metrics})
        if progress is not None:
            progress(done, cfg.steps, metrics)
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
            save(done, final=False)
    return save(cfg.steps, final=True)


def config_for(preset: str, **overrides: Any) -> FinetuneConfig:
    """A preset's config with the given fields replaced (None values are ignored)."""
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
