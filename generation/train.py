"""Pretraining the base model with condition dropout (the null prompt), so it also samples unconditionally."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from generation.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint, weights_digest
from generation.corpus import CORPUS_VERSION, NULL_WORD, PAD_WORD, TokenDataset, load_corpus
from generation.model import ModelConfig, MusicTransformer

ProgressCallback = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "demo"
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 2400
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup: int = 100
    weight_decay: float = 0.05
    cond_dropout: float = 0.15
    caption_noise: float = 0.25  # share of training pairs whose caption describes another piece
    seed: int = 0
    n_train: int = 40_000
    n_val: int = 1_000
    eval_every: int = 200
    checkpoint_every: int = 200
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["corpus_version"] = CORPUS_VERSION
        return d


PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        preset="tiny",
        model=ModelConfig(d_model=32, n_layer=1, n_head=2),
        steps=60,
        batch_size=32,
        lr=3e-3,
        warmup=10,
        n_train=2_000,
        n_val=200,
        eval_every=30,
        checkpoint_every=30,
    ),
    "demo": TrainConfig(),
}


def drop_condition(text_ids: torch.Tensor, p: float, rng: np.random.Generator) -> torch.Tensor:
    """Replace a fraction ``p`` of the captions by the null prompt (a lone <null> word)."""
    drop = torch.from_numpy(rng.random(text_ids.shape[0]) < p)
    null = torch.full_like(text_ids, PAD_WORD)
    null[:, -1] = NULL_WORD
    return torch.where(drop[:, None], null, text_ids)


def lm_loss(model: MusicTransformer, text_ids: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    logits = model(text_ids, tokens)[:, :-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate_loss(model: MusicTransformer, data: TokenDataset, batch_size: int = 250) -> float:
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(data), batch_size):
        text = torch.from_numpy(data.text_ids[i : i + batch_size].astype(np.int64)).to(device)
        toks = torch.from_numpy(data.tokens[i : i + batch_size].astype(np.int64)).to(device)
        total += lm_loss(model, text, toks).item() * len(toks)
    model.train()
    return total / len(data)


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(
    cfg: TrainConfig,
    out: str | Path,
    progress: ProgressCallback | None = None,
    corpus_cache: Path | None = Path("var/generation/corpus"),
    device: str | torch.device = "cpu",
    threads: int | None = None,
) -> dict[str, Any]:
    """Train from scratch, or resume from ``out`` if a checkpoint of the same config is there; returns the
    final checkpoint dict (also written to ``out``, and every ``checkpoint_every`` steps on the way). The
    batches are drawn on the CPU whatever the ``device``, so a run resumed on another device sees the same
    batches. ``threads``: torch's CPU threads for this run instead of the config's (how a run is computed, not
    what it computes, so it is no part of the config a resumed run must match)."""
    torch.set_num_threads(threads or cfg.threads)
    out = Path(out)
    train, val = load_corpus(cfg.n_train, cfg.n_val, cfg.seed, corpus_cache, cfg.caption_noise)
    torch.manual_seed(cfg.seed)
    model = MusicTransformer(cfg.model)
    init_id = f"{cfg.preset}-seed{cfg.seed}-{weights_digest(model.state_dict())}"
    model.to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )
    start, log, elapsed = 0, [], 0.0
    if out.exists():
        ckpt = load_checkpoint(out)
        if ckpt["train_config"] == cfg.to_dict() and ckpt["step"] >= cfg.steps:
            return ckpt  # already trained: running twice is safe
        if ckpt["train_config"] == cfg.to_dict() and ckpt.get("optimizer") is not None:
            model.load_state_dict(ckpt["model_state"])
            opt.load_state_dict(ckpt["optimizer"])
            start, log, init_id = ckpt["step"], ckpt["log"], ckpt["init_id"]
            elapsed = ckpt.get("elapsed_s", 0.0)
    model.train()
    t0 = time.perf_counter() - elapsed

    def checkpoint(step: int, final: bool) -> dict[str, Any]:
        return make_checkpoint(
            {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            model.cfg.to_dict(),
            step=step,
            train_config=cfg.to_dict(),
            init_id=init_id,
            parent=None,
            log=log,
            optimizer=None if final else opt.state_dict(),
            extra={"elapsed_s": time.perf_counter() - t0, "device": str(device)},
        )

    for step in range(start, cfg.steps):
        rng = np.random.default_rng([cfg.seed, step])  # per-step stream: resuming replays the same batches
        idx = rng.integers(0, len(train), cfg.batch_size)
        text = drop_condition(torch.from_numpy(train.text_ids[idx].astype(np.int64)), cfg.cond_dropout, rng)
        text = text.to(device)
        tokens = torch.from_numpy(train.tokens[idx].astype(np.int64)).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        loss = lm_loss(model, text, tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = step + 1
        metrics = {"train_loss": loss.item(), "lr": lr_at(cfg, step), "elapsed_s": time.perf_counter() - t0}
        if done % cfg.eval_every == 0 or done == cfg.steps:
            metrics["val_loss"] = evaluate_loss(model, val)
            log.append({"step": done, **metrics})
        if progress is not None:
            progress(done, cfg.steps, metrics)
        if done % cfg.checkpoint_every == 0 and done < cfg.steps:
            save_checkpoint(checkpoint(done, final=False), out)
    ckpt = checkpoint(cfg.steps, final=True)
    save_checkpoint(ckpt, out)
    return ckpt
