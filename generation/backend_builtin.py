"""The built-in model (``generation.model``) as a backend: captions as word ids, symbolic music events as
tokens, the project's synthesizer (``generation.render``) as the decoder."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from generation.backend import Backend, Conditioning
from generation.corpus import encode_text, is_valid
from generation.model import ModelConfig, MusicTransformer, generate, grammar_bias, null_text_like
from generation.render import CLIP_SECONDS, SAMPLE_RATE, render_batch
from generation.sampling import Generation, SamplingConfig


def validity_rate(tokens: np.ndarray) -> float:
    flat = np.asarray(tokens).reshape(-1, np.asarray(tokens).shape[-1])
    return float(np.mean([is_valid(t) for t in flat]))


class BuiltinBackend(Backend):
    name = "builtin"
    symbolic_tokens = True
    sample_rate = SAMPLE_RATE

    def __init__(self, model: MusicTransformer) -> None:
        self.network = model
        self.model_config = model.cfg.to_dict()
        self.init_from = "random initialisation (generation.train)"

    @property
    def model(self) -> MusicTransformer:
        return self.network  # type: ignore[return-value]

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> BuiltinBackend:
        model = MusicTransformer(ModelConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model_state"])
        return cls(model.eval())

    def encode(self, texts: list[str]) -> Conditioning:
        return Conditioning({"text_ids": torch.from_numpy(encode_text(list(texts))).to(self.device)})

    def null_like(self, cond: Conditioning) -> Conditioning:
        return Conditioning({"text_ids": null_text_like(cond.tensors["text_ids"])})

    def generate(
        self, cond: Conditioning, sampling: SamplingConfig, seed: int = 0, return_logprobs: bool = False
    ) -> Generation:
        s = sampling
        text_ids = cond.tensors["text_ids"]
        return generate(
            self.model,
            text_ids,
            s.gamma,
            s.temperature,
            s.top_k,
            s.top_p,
            seed,
            return_logprobs,
            False,
            s.constrain,
        )

    def forced_logits(self, cond: Conditioning, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(cond.tensors["text_ids"], tokens)[:, :-1]

    def targets(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, 1:]

    def allowed_tokens(self, constrain: bool) -> torch.Tensor | None:
        return (grammar_bias(self.device)[1:] == 0) if constrain else None

    def valid_rate(self, tokens: np.ndarray) -> float | None:
        return validity_rate(tokens)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return render_batch(np.asarray(tokens))

    @property
    def clip_seconds(self) -> float:
        return CLIP_SECONDS

    @property
    def tokens_per_sequence(self) -> int:
        return self.model.cfg.music_len - 1

    def to(self, device: torch.device | str) -> BuiltinBackend:
        self.network.to(device)
        return self

    def fork(self) -> BuiltinBackend:
        return BuiltinBackend(copy.deepcopy(self.model))
