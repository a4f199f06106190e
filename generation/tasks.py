"""Thin Celery wrappers. torch is imported only inside the task bodies, never at module import."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(bind=True, name="generation.pretrain")
def pretrain_task(
    self, preset: str, out: str, steps: int | None = None, seed: int | None = None
) -> dict[str, Any]:
    """Pretrain a preset into ``out`` (resumes if a partial checkpoint is there); reports progress."""
    from dataclasses import replace

    from generation.train import PRESETS, pretrain

    cfg = PRESETS[preset]
    cfg = replace(cfg, **{k: v for k, v in {"steps": steps, "seed": seed}.items() if v is not None})

    def progress(step: int, total: int, metrics: dict[str, float]) -> None:
        if step % 10 == 0 or step == total:
            self.update_state(state="PROGRESS", meta={"step": step, "total": total, **metrics})

    ckpt = pretrain(cfg, out, progress=progress)
    return {
        "checkpoint": out,
        "checkpoint_id": ckpt["checkpoint_id"],
        "step": ckpt["step"],
        "log": ckpt["log"],
    }


@shared_task(name="generation.pregenerate")
def pregenerate_task(
    checkpoint: str,
    out: str,
    variant: str,
    n_prompts: int,
    samples: int,
    gamma: float = 1.0,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """Render a variant's clips into ``out`` and return the manifest path for ``import_clips``."""
    import torch

    from generation.checkpoint import model_from_checkpoint
    from generation.pregenerate import pregenerate
    from generation.sampling import SamplingConfig

    torch.set_num_threads(1)
    model = model_from_checkpoint(checkpoint)
    manifest = pregenerate(
        model,
        out,
        variant=variant,
        n_prompts=n_prompts,
        samples=samples,
        sampling=SamplingConfig(gamma, temperature),
        seed=seed,
    )
    return str(manifest)
