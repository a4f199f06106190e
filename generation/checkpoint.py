"""Checkpoints as self-describing dicts: the backend that rebuilds them, its config and trainable weights, the
step, lineage (parent, init_id, and for a pretrained backend the folder it was initialised from), the log."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from generation.model import ModelConfig, MusicTransformer

FORMAT = "counterpoint.generation.lm/1"


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        # raw bytes, so bfloat16 weights hash too (float32 bytes are what .numpy() gave before)
        h.update(state[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def make_checkpoint(
    state: dict[str, torch.Tensor],
    model_config: dict[str, Any],
    *,
    backend: str = "builtin",
    step: int,
    train_config: dict[str, Any],
    init_id: str,
    parent: str | None,
    log: list[dict[str, Any]],
    optimizer: dict | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``state``: the trainable weights (on the CPU); ``model_config``: what the backend needs to rebuild the
    rest. ``init_id`` names the initial weights every descendant shares (merging checks it); ``parent`` is
    the checkpoint_id this one was trained from (None for a pretraining run from scratch)."""
    return {
        "format": FORMAT,
        "backend": backend,
        "checkpoint_id": weights_digest(state),
        "model_config": model_config,
        "model_state": state,
        "train_config": train_config,
        "step": step,
        "init_id": init_id,
        "parent": parent,
        "log": log,
        "optimizer": optimizer,
        **(extra or {}),
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> Path:
    """Write atomically (a temp file renamed into place), so a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    # mmap: the weights are read when used, so reading a large checkpoint's metadata is cheap
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Counterpoint model checkpoint (format {ckpt.get('format')!r})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any] | str | Path) -> MusicTransformer:
    """The built-in model of a checkpoint dict or path, in eval mode on the CPU (other backends:
    ``generation.backend.load_backend``)."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt)
    if ckpt.get("backend", "builtin") != "builtin":
        raise ValueError(f"checkpoint is of the {ckpt['backend']} backend, not the built-in model")
    model = MusicTransformer(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model_state"])
    return model.eval()


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_sidecar(path: str | Path, **extra: Any) -> Path:
    """``PATH.json`` next to a checkpoint: its configs, seed, step, lineage, training log and SHA-256, so the
    file can be audited (and its provenance checked) without loading it."""
    import json

    path = Path(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    meta = {k: v for k, v in ckpt.items() if k not in ("model_state", "optimizer")}
    meta = {k: v for k, v in meta.items() if not isinstance(v, dict) or "state" not in v}
    meta.update(sha256=file_sha256(path), size_bytes=path.stat().st_size, **extra)
    side = path.with_name(path.name + ".json")
    side.write_text(json.dumps(meta, indent=2, default=str))
    return side
