"""How a next token is drawn, for every backend: classifier-free guidance, temperature, top-k and top-p, and
the log-probability of the drawn token under the distribution it was drawn from. ``generate_for_prompts``
turns captions into token sequences (numpy) through any backend, seeded and batched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from generation.backend import Backend


@dataclass(frozen=True)
class SamplingConfig:
    gamma: float = 1.0
    temperature: float = 1.0
    top_k: int = 0  # 1 is greedy decoding
    top_p: float = 1.0
    constrain: bool = False  # the built-in model's token grammar (see model.generate)


PLAIN = SamplingConfig()


def trained_constrained(*checkpoints: dict) -> bool:
    """Whether the finetunes behind ``checkpoints`` sampled under the token grammar (their train config's
    ``constrain``; a merge's, its parents'), so sampling them can reproduce the protocol they were trained
    under. A base checkpoint, which was not finetuned, says False."""
    configs = [
        c
        for ckpt in checkpoints
        for c in (ckpt.get("merge", {}).get("parent_configs") or [ckpt.get("train_config") or {}])
    ]
    flags = {bool(c.get("constrain", False)) for c in configs}
    if len(flags) > 1:
        raise ValueError(
            "these checkpoints were finetuned under different sampling protocols (one grammar-constrained, one "
            "not); choose one with --constrain or --no-constrain"
        )
    return flags.pop() if flags else False


@dataclass
class Generation:
    """Sampled tokens (B, *token_shape) as the backend lays them out; optionally, for every generated
    position, the log-probability of the sampled token under the sampling distribution (B, *positions; 0 where
    a backend forces a token) and the full sampling logits (built-in backend only)."""

    tokens: torch.Tensor
    logprobs: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def cfg_logits(cond: torch.Tensor, uncond: torch.Tensor, gamma: float) -> torch.Tensor:
    """Classifier-free guidance: l(.|null) + gamma * (l(.|c) - l(.|null)); gamma = 1 is the conditional."""
    return uncond + gamma * (cond - uncond)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def draw(
    logits: torch.Tensor,
    rows: int,
    sampling: SamplingConfig,
    generator: torch.Generator,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoding step. ``logits`` (rows or 2 * rows, V): conditional rows, then null rows when guided.
    Returns the drawn tokens (rows, 1) and the sampling distribution's logits (rows, V): guided, biased
    (``bias``: 0 or -inf, e.g. a grammar), temperature-scaled and filtered."""
    if sampling.gamma != 1.0:
        logits = cfg_logits(logits[:rows], logits[rows:], sampling.gamma)
    if bias is not None:
        logits = logits + bias
    if sampling.temperature != 1.0:
        logits = logits / max(sampling.temperature, 1e-5)
    if sampling.top_k or sampling.top_p < 1.0:
        logits = filter_logits(logits, sampling.top_k, sampling.top_p)
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator), logits


def generate_for_prompts(
    backend: Backend,
    texts: list[str],
    samples_per_prompt: int,
    sampling: SamplingConfig = PLAIN,
    seed: int = 0,
    batch_rows: int = 256,
    return_logprobs: bool = False,
) -> tuple[np.ndarray, Generation | None]:
    """(len(texts), samples_per_prompt, *token_shape) tokens; rows are batched ``batch_rows`` at a time, each
    batch seeded from ``seed`` and its index, so results do not depend on anything else in the process."""
    rows = [t for t in texts for _ in range(samples_per_prompt)]
    chunks, last = [], None
    for i in range(0, len(rows), batch_rows):
        last = backend.generate(
            backend.encode(rows[i : i + batch_rows]),
            sampling,
            seed=seed * 100_003 + i,
            return_logprobs=return_logprobs,
        )
        chunks.append(last.tokens.cpu().numpy())
    tokens = np.concatenate(chunks)
    return tokens.reshape(len(texts), samples_per_prompt, *tokens.shape[1:]), last
