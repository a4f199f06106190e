"""Automatic metrics (MISSION.md section 3) and the statistics around them.

- Text adherence (MuLan score): cosine between the prompt's text embedding and each clip's audio embedding,
  averaged over a prompt's clips.
- Diversity: 1 - mean pairwise cosine of music-similarity embeddings over a prompt's k >= 2 clips.
Both return one value per prompt; intervals and tests treat the prompt as the unit.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats


def text_adherence(text_emb: torch.Tensor, audio_emb: torch.Tensor) -> np.ndarray:
    """``text_emb`` (P, D) and ``audio_emb`` (P, K, D), unit vectors -> (P,) mean cosine per prompt."""
    return torch.einsum("pd,pkd->pk", text_emb, audio_emb).mean(1).numpy()


def diversity(emb: torch.Tensor) -> np.ndarray:
    """``emb`` (P, K, D), unit vectors, K >= 2 -> (P,) 1 - mean pairwise cosine over the K clips."""
    k = emb.shape[1]
    if k < 2:
        raise ValueError("diversity needs at least 2 generations per prompt")
    sims = emb @ emb.transpose(1, 2)
    off = ~torch.eye(k, dtype=torch.bool)
    return (1 - sims[:, off].mean(1)).numpy()


def mean_ci(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean with a t-interval over the first axis (prompts, or seeds)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": n}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per-prompt paired comparison of b against a: mean difference, Wilcoxon and paired t p-values."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return {
        "mean_diff": float(diff.mean()),
        "wilcoxon_p": float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0,
        "ttest_p": float(stats.ttest_1samp(diff, 0.0).pvalue) if np.any(diff != 0) else 1.0,
        "n_prompts": len(diff),
    }
