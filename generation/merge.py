"""Weight merging of two finetunes of one base: theta_lambda = (1 - lambda) * theta_a + lambda * theta_b.

The paper merges the quality model (beta = 0, ``a``) with the diversity model (beta > 0, ``b``). Merging is
only meaningful between descendants of the same weights with the same architecture, so anything else is
refused. ``Steering`` merges on the fly at sampling time, caching recent lambdas, so a deployment can move
along the quality-diversity front without storing a checkpoint per lambda. Any backend: only the trainable
weights a checkpoint stores are interpolated.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generation.backend import Backend, base_checkpoint, load_backend
from generation.checkpoint import make_checkpoint
from generation.sampling import PLAIN, Generation, SamplingConfig, generate_for_prompts

Checkpoint = dict[str, Any]


def lineage_root(ckpt: Checkpoint) -> str:
    """The checkpoint every finetune of this family started from (a base is its own root)."""
    return ckpt.get("finetuned_from") or ckpt["checkpoint_id"]


def check_mergeable(a: Checkpoint, b: Checkpoint) -> None:
    """Raise ValueError unless ``a`` and ``b`` share the backend, model config, initialisation and base."""
    if a.get("backend", "builtin") != b.get("backend", "builtin"):
        raise ValueError(
            f"cannot merge a {a.get('backend', 'builtin')} checkpoint with a {b.get('backend', 'builtin')} one"
        )
    if a["model_config"] != b["model_config"]:
        raise ValueError(
            f"cannot merge checkpoints of different model configs ({a['model_config']} vs "
            f"{b['model_config']}); finetune both from the same base"
        )
    if a["init_id"] != b["init_id"] or lineage_root(a) != lineage_root(b):
        raise ValueError(
            f"cannot merge checkpoints that do not share an initialisation (init {a['init_id']} from "
            f"{lineage_root(a)} vs init {b['init_id']} from {lineage_root(b)}); finetune both from the same base"
        )


def merge_states(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], lam: float
) -> dict[str, torch.Tensor]:
    """(1 - lam) * a + lam * b per tensor; lam = 0 and lam = 1 return exact copies of a and b."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")
    if a.keys() != b.keys():
        raise ValueError("cannot merge state dicts with different parameter names")
    if lam in (0.0, 1.0):
        return {k: v.clone() for k, v in (a if lam == 0.0 else b).items()}
    return {k: torch.lerp(a[k].float(), b[k].float(), lam).to(a[k].dtype) for k in a}


def merge_checkpoints(a: Checkpoint, b: Checkpoint, lam: float) -> Checkpoint:
    """A self-describing checkpoint of the merge, recording both parents and lambda."""
    check_mergeable(a, b)
    return make_checkpoint(
        merge_states(a["model_state"], b["model_state"], lam),
        a["model_config"],
        backend=a.get("backend", "builtin"),
        step=0,
        train_config={"merge": {"lam": lam, "a": a["checkpoint_id"], "b": b["checkpoint_id"]}},
        init_id=a["init_id"],
        parent=a["checkpoint_id"],
        log=[],
        extra={
            "init_from": a.get("init_from"),
            "finetuned_from": lineage_root(a),
            "merge": {
                "lam": lam,
                "parents": [a["checkpoint_id"], b["checkpoint_id"]],
                "parent_configs": [a["train_config"], b["train_config"]],
            },
        },
    )


class Steering:
    """Sampling at any lambda between a quality and a diversity checkpoint (or model folder), merged on the
    fly; the last ``cache_size`` merged models are kept, sharing the backend's frozen parts."""

    def __init__(
        self,
        quality: Checkpoint | str | Path,
        diversity: Checkpoint | str | Path,
        cache_size: int = 4,
        device: str | None = None,
    ):
        self.a, self.b = base_checkpoint(quality), base_checkpoint(diversity)
        check_mergeable(self.a, self.b)
        self.cache_size = cache_size
        self._base = load_backend(self.a, device)
        self._models: OrderedDict[float, Backend] = OrderedDict()

    def model(self, lam: float) -> Backend:
        key = round(float(lam), 6)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        model = self._base.fork().load_state(merge_states(self.a["model_state"], self.b["model_state"], key))
        self._models[key] = model
        while len(self._models) > self.cache_size:
            self._models.popitem(last=False)
        return model

    def generate_for_prompts(
        self,
        texts: list[str],
        samples_per_prompt: int,
        lam: float,
        sampling: SamplingConfig = PLAIN,
        seed: int = 0,
    ) -> tuple[np.ndarray, Generation | None]:
        return generate_for_prompts(self.model(lam), texts, samples_per_prompt, sampling, seed)
