"""Diversity rewards for the finetune's policy gradient: one interface, one class per kind, registered.

Each reward sees a step's samples as the metrics do (``K`` clips for each of ``P`` prompts, prompt by prompt)
and gives every sample a reward, (P, K). The finetune chooses one by its config's ``reward`` key:

- ``paper``: the paper's reward, a sample's mean dissimilarity (1 - cosine of the reward embedding) to its
  K - 1 siblings; with K = 2 this is r = 1 - cos(E(y1), E(y2)). Nothing in it asks a sample to keep the
  prompt, and on the built-in model the diversity it buys is partly leaving the prompt (docs/front.md).
- ``prompt_gated``: the same dissimilarity counted only between samples that keep the prompt. Each sample
  gets a gate g in (0, 1), a logistic function of its MuLan-style adherence (cosine of the prompt's text
  embedding and the clip's audio embedding) around a threshold; a sample's reward is
  g_i * sum_{j != i} g_j * d_ij / (K - 1). A sample that leaves the prompt earns nothing and gives its
  siblings nothing, so the policy gradient rewards variety among prompt-keeping samples and pushes
  prompt-leaving ones down (with a per-prompt baseline they fall below it). The threshold is tuned on
  development prompts (docs/front.md), never on test prompts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch

if TYPE_CHECKING:
    from generation.backend import Clips
    from generation.embeddings import Embeddings


def dissimilarities(emb: torch.Tensor) -> torch.Tensor:
    """(P, K, D) unit embeddings -> (P, K, K) pairwise 1 - cosine (0 on the diagonal)."""
    d = 1 - emb @ emb.transpose(1, 2)
    return d * (1 - torch.eye(emb.shape[1], dtype=d.dtype, device=d.device))


def gated_mean_dissimilarity(d: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
    """(P, K, K) dissimilarities and an optional (P, K) gate in [0, 1] -> (P, K): each sample's mean
    dissimilarity to its K - 1 siblings, each pair weighted by both samples' gates (no gate: weight 1)."""
    k = d.shape[1]
    if gate is None:
        return d.sum(-1) / (k - 1)
    return gate * (d * gate[:, None, :]).sum(-1) / (k - 1)


class DiversityReward(ABC):
    """Rewards of P prompts' K samples each."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, emb: Embeddings, texts: list[str], clips: Clips, k: int) -> torch.Tensor:
        """``texts`` (P), ``clips`` (P * K, prompt by prompt) -> (P, K) rewards."""


class PaperReward(DiversityReward):
    name = "paper"

    def __call__(self, emb: Embeddings, texts: list[str], clips: Clips, k: int) -> torch.Tensor:
        return gated_mean_dissimilarity(dissimilarities(emb.embed_reward(clips).view(len(texts), k, -1)))


class PromptGatedReward(DiversityReward):
    """Dissimilarity between samples that keep the prompt (MuLan adherence above ``threshold``, a logistic
    gate of width ``width``)."""

    name = "prompt_gated"

    def __init__(self, threshold: float, width: float):
        if width <= 0:
            raise ValueError(f"the prompt gate's width must be positive, not {width}")
        self.threshold, self.width = threshold, width

    def gate(self, adherence: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((adherence - self.threshold) / self.width)

    def __call__(self, emb: Embeddings, texts: list[str], clips: Clips, k: int) -> torch.Tensor:
        emb.require_mulan()
        p = len(texts)
        rows = emb.embed_reward(clips).view(p, k, -1)
        audio = emb.embed_mulan_audio(clips.audio, clips.sample_rate).view(p, k, -1).to(rows.device)
        adherence = torch.einsum("pd,pkd->pk", emb.embed_text(texts).to(rows.device), audio)
        return gated_mean_dissimilarity(dissimilarities(rows), self.gate(adherence))


REWARDS = ("paper", "prompt_gated")


def make_reward(name: str, gate_threshold: float = 0.3, gate_width: float = 0.05) -> DiversityReward:
    """The reward a finetune config names (``FinetuneConfig.reward``, a recipe's ``reward`` key)."""
    if name == "paper":
        return PaperReward()
    if name == "prompt_gated":
        return PromptGatedReward(gate_threshold, gate_width)
    raise ValueError(f"reward {name!r} is not one of {', '.join(REWARDS)}")
