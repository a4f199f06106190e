"""The long work a researcher enqueues, as plain functions: validated parameters in, files out.

The Django side (``generation.web``) stores jobs and runs these in Celery tasks on the ``gpu`` queue.
Nothing here imports torch at module import: the web process validates parameters with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"
# Progress: (fraction done in 0..1, a short note).
Progress = Callable[[float, str], None]


class JobParametersError(ValueError):
    pass


# numpy's and torch's generators take seeds below 2**32 on every platform; a larger one would pass
# the web process and fail on the worker.
SEED_MAX = 2**32 - 1


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= SEED_MAX:
        raise JobParametersError(f"seed must be between 0 and {SEED_MAX}, not {seed}")


@dataclass(frozen=True)
class PregenerateParams:
    """Clips of one variant of a model for a study's prompts."""

    # a checkpoint file (.pt) or a model folder (MusicGen's save_pretrained output), named by its name in
    # generation/checkpoints/ or the runs folder's checkpoints/
    checkpoint: str = "demo.pt"
    gamma: float = 1.0
    temperature: float = 1.0
    prompts: int = 12
    samples: int = 2
    seed: int = 0
    # Deployment-time steering: with merge_with set, sample θ_λ = (1−λ)·checkpoint + λ·merge_with.
    merge_with: str = ""
    lam: float = 0.0
    constrain: bool = False  # grammar-constrained sampling (how the demo finetunes were trained)
    seconds: float = 0.0  # clip length for a MusicGen model (0: its default); the built-in model makes 8 s

    def check(self) -> None:
        if not 0.0 <= self.gamma <= 10.0:
            raise JobParametersError(f"gamma must be between 0 and 10, not {self.gamma}")
        if not 0.05 <= self.temperature <= 5.0:
            raise JobParametersError(f"temperature must be between 0.05 and 5, not {self.temperature}")
        if not 1 <= self.prompts <= 500:
            raise JobParametersError(f"prompts must be between 1 and 500, not {self.prompts}")
        if not 1 <= self.samples <= 16:
            raise JobParametersError(f"samples must be between 1 and 16, not {self.samples}")
        for name in (self.checkpoint, self.merge_with):
            if name and (Path(name).name != name or name.startswith(".")):
                raise JobParametersError(
                    f"checkpoint must be a .pt file name, not a path (or a model folder's name): {name!r}"
                )
        if not self.checkpoint:
            raise JobParametersError("checkpoint must name a .pt file or a model folder")
        if not 0.0 <= self.lam <= 1.0:
            raise JobParametersError(f"lam must be between 0 and 1, not {self.lam}")
        if not 0.0 <= self.seconds <= 60.0:
            raise JobParametersError(
                f"seconds must be between 0 and 60 (0: the model's default), not {self.seconds}"
            )
        _check_seed(self.seed)


# generation.train.PRESETS' names, spelled out so the web process validates without importing torch
# (tests/generation/test_jobs.py keeps the two in step).
PRETRAIN_PRESETS = ("tiny", "demo")


@dataclass(frozen=True)
class PretrainParams:
    """A base model trained from a preset (resumed when its checkpoint is there)."""

    preset: str = "tiny"
    seed: int = 0

    def check(self) -> None:
        if self.preset not in PRETRAIN_PRESETS:
            raise JobParametersError(
                f"preset must be one of {', '.join(PRETRAIN_PRESETS)}, not {self.preset!r}"
            )
        _check_seed(self.seed)


PARAMETERS = {"pregenerate": PregenerateParams, "pretrain": PretrainParams}


def parse_parameters(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The job's parameters, complete and checked, as a plain dict; JobParametersError if not valid."""
    if kind not in PARAMETERS:
        raise JobParametersError(f"kind must be one of {', '.join(PARAMETERS)}, not {kind!r}")
    cls = PARAMETERS[kind]
    known = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise JobParametersError(f"unknown parameter(s) for {kind}: {', '.join(unknown)}")
    values = {}
    for name, value in raw.items():
        default = getattr(cls, name)
        try:
            values[name] = _as_bool(value) if isinstance(default, bool) else type(default)(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int() of an infinite float
            raise JobParametersError(f"{name} must be a {type(default).__name__}, not {value!r}") from None
    params = cls(**values)
    params.check()
    return asdict(params)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(value)


def resolve_checkpoint(name: str, runs_dir: Path) -> Path:
    """The checkpoint file or model folder called ``name`` in the project's or the runs folder's checkpoints."""
    for folder in (CHECKPOINTS_DIR, runs_dir / "checkpoints"):
        path = folder / name
        if path.is_file() or (path / "config.json").is_file():
            return path
    raise JobParametersError(f"no checkpoint {name!r} in {CHECKPOINTS_DIR} or {runs_dir / 'checkpoints'}")


def checkpoint_kind(checkpoint: dict[str, Any]) -> str:
    """What made a checkpoint, read from the checkpoint itself: base, distilled, diversity or merged."""
    if "merge" in checkpoint:
        return "merged"
    config = checkpoint.get("train_config") or {}
    if config.get("objective") == "diversity_rewarded_cfg_distillation":
        return "diversity" if config.get("beta", 0.0) > 0 else "distilled"
    return "base"


def run_pregenerate(
    params: dict[str, Any],
    out_dir: Path,
    runs_dir: Path,
    variant: str,
    progress: Progress,
    study_prompts: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Render the variant's clips into out_dir; returns the manifest path and what made the clips. Models are
    cached per process (a generation worker serves many jobs from one loaded model).

    With ``study_prompts`` ((prompt_id, text) of a study that has prompts already) the clips render
    those, every one; ``prompts`` counts the held-out prompts of a study that has none yet."""
    import torch

    from generation.backend import base_checkpoint, cached_backend, default_device, load_backend
    from generation.checkpoint import load_checkpoint
    from generation.merge import merge_checkpoints
    from generation.pregenerate import pregenerate
    from generation.sampling import SamplingConfig

    torch.set_num_threads(1)
    p = PregenerateParams(**params)
    checkpoint_path = resolve_checkpoint(p.checkpoint, runs_dir)
    progress(0.05, f"loading {p.checkpoint}")
    device = default_device()
    if p.merge_with:
        quality, diversity = (
            base_checkpoint(resolve_checkpoint(n, runs_dir)) for n in (p.checkpoint, p.merge_with)
        )
        checkpoint = merge_checkpoints(quality, diversity, p.lam)  # refuses unrelated checkpoints
        model = load_backend(checkpoint, device)
    else:
        model = cached_backend(checkpoint_path, device)
        # a model folder's weights are its own base; a file says what made it (read lazily, mmap)
        checkpoint = (
            load_checkpoint(checkpoint_path) if checkpoint_path.is_file() else {"checkpoint_id": None}
        )
    model.set_seconds(p.seconds or model.default_seconds)  # a cached model may have served another length
    n_prompts = len(study_prompts) if study_prompts else p.prompts
    progress(0.1, f"generating {n_prompts} prompts × {p.samples} samples on {device}")
    manifest = pregenerate(
        model,
        out_dir,
        variant=variant,
        n_prompts=n_prompts,
        prompts=study_prompts or None,
        samples=p.samples,
        sampling=SamplingConfig(p.gamma, p.temperature, constrain=p.constrain),
        seed=p.seed,
    )
    progress(0.9, "clips rendered")
    return {
        "manifest": str(manifest),
        "checkpoint": str(checkpoint_path),
        "checkpoint_id": checkpoint.get("checkpoint_id"),
        "checkpoint_kind": checkpoint_kind(checkpoint),
        "device": device,
    }


def run_pretrain(
    params: dict[str, Any], out_dir: Path, runs_dir: Path, variant: str, progress: Progress
) -> dict[str, Any]:
    """Train (or resume) a base model; the checkpoint lands in the runs folder's checkpoints/."""
    import torch

    from generation.backend import default_device
    from generation.train import PRESETS, pretrain

    torch.set_num_threads(1)
    p = PretrainParams(**params)
    config = replace(PRESETS[p.preset], seed=p.seed)
    target = runs_dir / "checkpoints" / f"{p.preset}-seed{p.seed}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)

    def report(step: int, total: int, metrics: dict[str, float]) -> None:
        if step % 10 == 0 or step == total:
            loss = metrics.get("train_loss")
            progress(step / max(total, 1), f"step {step}/{total}" + (f", loss {loss:.3f}" if loss else ""))

    checkpoint = pretrain(
        config, target, progress=report, corpus_cache=runs_dir / "corpus", device=default_device()
    )
    return {
        "checkpoint": str(target),
        "checkpoint_id": checkpoint.get("checkpoint_id"),
        "step": checkpoint["step"],
    }


RUNNERS = {"pregenerate": run_pregenerate, "pretrain": run_pretrain}
