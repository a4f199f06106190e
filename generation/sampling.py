"""Sampling for prompts: captions in, token sequences out (numpy), seeded and batched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generation.corpus import encode_text, is_valid
from generation.model import Generation, MusicTransformer, generate


@dataclass(frozen=True)
class SamplingConfig:
    gamma: float = 1.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    constrain: bool = False  # mask tokens of the wrong kind (see model.generate)


PLAIN = SamplingConfig()


def generate_for_prompts(
    model: MusicTransformer,
    texts: list[str],
    samples_per_prompt: int,
    sampling: SamplingConfig = PLAIN,
    seed: int = 0,
    batch_rows: int = 256,
    return_logprobs: bool = False,
) -> tuple[np.ndarray, Generation | None]:
    """(len(texts), samples_per_prompt, seq_len) tokens; rows are batched ``batch_rows`` at a time, each
    batch seeded from ``seed`` and its index, so results do not depend on anything else in the process."""
    text_ids = torch.from_numpy(np.repeat(encode_text(texts), samples_per_prompt, axis=0))
    chunks, last = [], None
    for i in range(0, len(text_ids), batch_rows):
        last = generate(
            model,
            text_ids[i : i + batch_rows],
            gamma=sampling.gamma,
            temperature=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            seed=seed * 100_003 + i,
            constrain=sampling.constrain,
            return_logprobs=return_logprobs,
        )
        chunks.append(last.tokens.numpy())
    tokens = np.concatenate(chunks).reshape(len(texts), samples_per_prompt, -1)
    return tokens, last


def validity_rate(tokens: np.ndarray) -> float:
    flat = tokens.reshape(-1, tokens.shape[-1])
    return float(np.mean([is_valid(t) for t in flat]))
