"""The model interface: everything above the model (distillation, diversity RL, merging, steering,
pre-generation, evaluation, the front, the benchmarks and the command line) sees a ``Backend``, never a
model class.

A backend owns how prompts become conditioning (and what the null prompt is), how a next-token distribution
is computed with a cache (``generate``, drawing through ``generation.sampling.draw`` for CFG, temperature,
top-k and top-p), the teacher-forced logits of every generated position (what the KL and the log-probabilities
of the objective are computed on; a backend with forced positions, such as MusicGen's codebook delay pattern,
leaves them out), how tokens decode to audio at its sample rate, and which parameters finetuning and merging
touch (``network``). A checkpoint is the project's self-describing dict with ``backend`` naming the module
that rebuilds it; ``load_backend`` takes a checkpoint file, a checkpoint dict, or a model folder (a
transformers ``save_pretrained`` directory, or a model id already in the Hugging Face cache).

Nothing here imports torch-heavy backends at module import: they are imported by name when first loaded.
"""

from __future__ import annotations

import copy
import importlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from generation.sampling import Generation, SamplingConfig, cfg_logits

# backend name -> "module:Class", imported on first use so the built-in model never imports transformers.
BACKENDS = {
    "builtin": "generation.backend_builtin:BuiltinBackend",
    "musicgen": "generation.backend_musicgen:MusicgenBackend",
}


@dataclass
class Conditioning:
    """What a backend conditions on, one row per sequence: named tensors sharing the first (batch) axis."""

    tensors: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def repeat_interleave(self, k: int) -> Conditioning:
        return Conditioning({n: t.repeat_interleave(k, dim=0) for n, t in self.tensors.items()})

    def cat(self, other: Conditioning) -> Conditioning:
        return Conditioning({n: torch.cat([t, other.tensors[n]]) for n, t in self.tensors.items()})

    def to(self, device: torch.device | str) -> Conditioning:
        return Conditioning({n: t.to(device) for n, t in self.tensors.items()})


@dataclass
class Clips:
    """Generated clips as the metrics and the reward see them: audio at ``sample_rate`` (given, or decoded
    from ``tokens`` on first use) and the tokens; ``symbolic`` when the tokens are the built-in model's music
    events (the symbolic reward embedding's shortcut)."""

    tokens: np.ndarray | None
    sample_rate: int
    symbolic: bool = False
    decoder: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    given_audio: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def audio(self) -> np.ndarray:
        """(N, samples) float32 mono audio."""
        if self.given_audio is not None:
            return self.given_audio
        assert self.decoder is not None and self.tokens is not None
        return self.decoder(self.tokens)


class Backend(ABC):
    """One model family. Subclasses set ``name``, ``sample_rate``, ``network`` (the trainable module),
    ``model_config`` (what rebuilds the frozen parts, JSON-able) and ``init_from`` (where the initial weights
    came from)."""

    name: ClassVar[str]
    symbolic_tokens: ClassVar[bool] = False  # tokens are the built-in model's music events
    sample_rate: int
    network: nn.Module
    model_config: dict[str, Any]
    init_from: str

    # --- conditioning --------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, texts: list[str]) -> Conditioning:
        """Prompts to conditioning, one row per text, on the backend's device."""

    @abstractmethod
    def null_like(self, cond: Conditioning) -> Conditioning:
        """The null prompt (c = ∅), one row per row of ``cond``."""

    def with_null(self, cond: Conditioning) -> Conditioning:
        """``cond``'s rows followed by as many null rows: one batch for CFG's two passes."""
        return cond.cat(self.null_like(cond))

    # --- sampling and scoring ------------------------------------------------------------------------
    @abstractmethod
    def generate(
        self, cond: Conditioning, sampling: SamplingConfig, seed: int = 0, return_logprobs: bool = False
    ) -> Generation:
        """One sequence per row with a KV cache for the conditional (and, when guided, null) rows."""

    @abstractmethod
    def forced_logits(self, cond: Conditioning, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, N, V) at the N generated positions of ``tokens`` (B, *token_shape),
        with gradients when the network trains."""

    @abstractmethod
    def targets(self, tokens: torch.Tensor) -> torch.Tensor:
        """The tokens (B, N) at the positions ``forced_logits`` scores."""

    def allowed_tokens(self, constrain: bool) -> torch.Tensor | None:
        """(N, V) booleans: the tokens sampling may draw at each scored position (None: all)."""
        if constrain:
            raise ValueError(
                f"--constrain is the built-in model's token grammar; the {self.name} backend has none"
            )
        return None

    def guided_forced_logits(self, cond: Conditioning, tokens: torch.Tensor, gamma: float) -> torch.Tensor:
        """CFG logits at every scored position: conditional and null rows in one forward pass (the
        conditional rows alone at gamma = 1)."""
        if gamma == 1.0:
            return self.forced_logits(cond, tokens)
        b = len(cond)
        both = self.forced_logits(self.with_null(cond), torch.cat([tokens, tokens]))
        return cfg_logits(both[:b], both[b:], gamma)

    def valid_rate(self, tokens: np.ndarray) -> float | None:
        """Share of well-formed sequences, where the backend can tell (the built-in grammar); else None."""
        return None

    # --- audio ---------------------------------------------------------------------------------------
    @abstractmethod
    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """(N, *token_shape) tokens to (N, samples) float32 mono audio at ``sample_rate``."""

    @property
    @abstractmethod
    def clip_seconds(self) -> float:
        """Seconds of audio one generated sequence decodes to."""

    @property
    def default_seconds(self) -> float:
        """The clip length the backend was loaded with (``set_seconds`` may change the current one)."""
        return self.clip_seconds

    def set_seconds(self, seconds: float) -> None:
        """Generate clips of ``seconds``; a backend of fixed-length clips refuses any other length."""
        if abs(seconds - self.clip_seconds) > 1e-9:
            raise ValueError(f"the {self.name} model makes {self.clip_seconds:g}-second clips only")

    @property
    @abstractmethod
    def tokens_per_sequence(self) -> int:
        """Tokens one generated sequence samples (every codebook counted)."""

    token_ndim: ClassVar[int] = 1  # axes of one sequence's tokens: 1, or 2 for (codebooks, steps)

    def clips(self, tokens: np.ndarray) -> Clips:
        """Clips of tokens (..., *token_shape), leading axes flattened."""
        t = np.asarray(tokens)
        flat = t.reshape(-1, *t.shape[t.ndim - self.token_ndim :])
        return Clips(flat, self.sample_rate, self.symbolic_tokens, self.decode)

    # --- weights -------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @abstractmethod
    def to(self, device: torch.device | str) -> Backend:
        """Move everything (frozen parts too) to ``device``; returns self."""

    def fork(self) -> Backend:
        """A backend with its own copy of the trainable network, sharing the frozen parts."""
        twin = copy.copy(self)
        twin.network = copy.deepcopy(self.network)
        return twin

    def state(self) -> dict[str, torch.Tensor]:
        """The trainable weights (what finetuning changes and merging interpolates), on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> Backend:
        self.network.load_state_dict(state)
        return self

    def checkpoint(self, **kwargs: Any) -> dict[str, Any]:
        """A self-describing checkpoint of the trainable weights (see ``checkpoint.make_checkpoint``)."""
        from generation.checkpoint import make_checkpoint

        extra = {"init_from": self.init_from, **(kwargs.pop("extra", None) or {})}
        return make_checkpoint(self.state(), self.model_config, backend=self.name, extra=extra, **kwargs)

    @classmethod
    @abstractmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> Backend:
        """The backend of a checkpoint dict, in eval mode on the CPU."""


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def _is_checkpoint(source: str | Path | dict[str, Any]) -> bool:
    if isinstance(source, dict) or Path(source).is_file():
        return True
    if str(source).endswith(".pt"):
        raise ValueError(
            f"checkpoint {source} does not exist; train one with `python -m generation pretrain`"
        )
    return False


def pretrained_checkpoint(backend: Backend) -> dict[str, Any]:
    """A pretrained backend's own weights as a step-0 checkpoint: the root of every finetune of it."""
    from generation.checkpoint import weights_digest

    return backend.checkpoint(
        step=0,
        train_config={"pretrained": backend.init_from},
        init_id=weights_digest(backend.state()),
        parent=None,
        log=[],
    )


def load_with_checkpoint(source: str | Path | dict[str, Any]) -> tuple[Backend, dict[str, Any]]:
    """The backend of ``source`` (a checkpoint dict or file, a model folder, or a model id in the Hugging Face
    cache) and its checkpoint, on the CPU."""
    from generation.checkpoint import load_checkpoint

    if _is_checkpoint(source):
        ckpt = source if isinstance(source, dict) else load_checkpoint(source)
        return backend_class(ckpt.get("backend", "builtin")).from_checkpoint(ckpt), ckpt
    backend = backend_class("musicgen").from_pretrained(str(source))  # type: ignore[attr-defined]
    return backend, pretrained_checkpoint(backend)


def base_checkpoint(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The checkpoint of ``source``, as ``load_with_checkpoint`` finds it (a file is read, not rebuilt)."""
    from generation.checkpoint import load_checkpoint

    if isinstance(source, dict):
        return source
    return load_checkpoint(source) if Path(source).is_file() else load_with_checkpoint(source)[1]


def load_backend(source: str | Path | dict[str, Any], device: str | torch.device | None = None) -> Backend:
    """The backend of a checkpoint dict or file, or of a model folder / cached Hugging Face model id."""
    if _is_checkpoint(source):
        backend = load_with_checkpoint(source)[0]
    else:
        backend = backend_class("musicgen").from_pretrained(str(source))  # type: ignore[attr-defined]
    return backend.to(device) if device is not None else backend


_CACHE: OrderedDict[tuple[str, float, str], Backend] = OrderedDict()


def cached_backend(source: str | Path, device: str | None = None, size: int = 2) -> Backend:
    """``load_backend`` for a long-lived process (a Celery generation worker): the last ``size`` models stay
    loaded, keyed by path, modification time and device. Callers must not train the returned backend."""
    path = Path(source)
    here = path.exists()
    key = (str(path.resolve()) if here else str(source), path.stat().st_mtime if here else 0.0, str(device))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    backend = load_backend(source, device)
    _CACHE[key] = backend
    while len(_CACHE) > size:
        _CACHE.popitem(last=False)
    return backend


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
