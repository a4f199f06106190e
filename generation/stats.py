"""The statistics of the front's protocol (docs/front.md), plain numpy/scipy/statsmodels.

The unit of a finetuned model is its training seed; sampling seeds are nested inside (averaged first), and
every variant is measured on the same test prompts. So a variant's per-prompt values are an array
(training seeds, prompts); a base-model variant has one row (it is not trained).

- ``bootstrap_indices``: a hierarchical bootstrap of a crossed design: resample the training seeds, then
  the prompts, both with replacement; the same indices serve every variant, so comparisons stay paired.
- ``bootstrap_ci``: the percentile interval of a statistic over those resamples.
- ``one_sided_t``: a one-sided one-sample t-test over training seeds: H0 mean <= ``null``, H1 mean > ``null``.
  A non-inferiority test is this with ``null = -margin``: H1 "at most ``margin`` worse".
- ``holm``: Holm's step-down adjustment (statsmodels' ``multipletests``) of a family of p-values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats


def bootstrap_indices(
    n_seeds: int, n_prompts: int, n_boot: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_boot`` (seed indices, prompt indices) pairs: seeds resampled, then prompts."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, n_seeds, n_seeds), rng.integers(0, n_prompts, n_prompts)) for _ in range(n_boot)]


def nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean skipping NaN (a prompt with no pair of prompt-keeping samples), NaN without a warning where all
    are NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def resampled_mean(values: np.ndarray, seeds: np.ndarray, prompts: np.ndarray) -> float:
    """Mean of a (training seeds, prompts) array over resampled rows and columns; a one-row array (a base
    variant) ignores the seed resample. NaN cells (a prompt with no such pair) are skipped."""
    values = np.asarray(values, dtype=float)
    rows = values if len(values) == 1 else values[seeds]
    return float(nanmean(rows[:, prompts]))


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float | None],
    indices: Sequence[tuple[np.ndarray, np.ndarray]],
    level: float = 0.95,
) -> dict[str, float] | None:
    """Percentile interval of ``statistic(seeds, prompts)`` over the resamples (None where fewer than half
    of them give a value: the statistic is undefined there, e.g. outside a front's range)."""
    values = np.array([v for v in (statistic(s, p) for s, p in indices) if v is not None], dtype=float)
    if len(values) < len(indices) / 2:
        return None
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return {"ci_low": float(lo), "ci_high": float(hi), "n_boot": len(values)}


def one_sided_t(values: np.ndarray, null: float = 0.0) -> dict[str, float]:
    """t-test over training seeds of H1: mean > ``null``. With ``null = -margin``, a non-inferiority test."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return {"t": float("nan"), "df": 0, "p": float("nan"), "mean": float(values.mean()), "n": n}
    if np.ptp(values) == 0:  # every seed the same: the test is degenerate; decide by the sign alone
        t, p = (np.inf, 0.0) if values[0] > null else (-np.inf, 1.0)
    else:
        res = stats.ttest_1samp(values, null, alternative="greater")
        t, p = float(res.statistic), float(res.pvalue)
    return {"t": float(t), "df": n - 1, "p": float(p), "mean": float(values.mean()), "null": null, "n": n}


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> tuple[list[float], list[bool]]:
    """Holm-adjusted p-values and rejections at ``alpha`` (NaN p-values stay NaN, never reject): the
    report's Holm (analysis.stats.holm, statsmodels' arithmetic), which rejects where the adjusted p is
    at most alpha."""
    from analysis.stats import holm as holm_adjusted

    given = [None if np.isnan(p) else float(p) for p in np.asarray(pvalues, dtype=float)]
    adjusted = [np.nan if p is None else p for p in holm_adjusted(given)]
    return adjusted, [bool(p <= alpha) for p in adjusted]
