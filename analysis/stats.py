"""Small statistical building blocks shared by the quality and diversity analyses."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval for the mean; a point when there is one value or no spread."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.ptp(values) == 0:
        return mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean - half, mean + half


def bca_interval(
    values: np.ndarray, *, seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """BCa bootstrap interval for the mean (scipy); a point when there is one value or no spread."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.ptp(values) == 0:
        return mean, mean
    with warnings.catch_warnings():
        # BCa's jackknife warns on near-degenerate data; the interval it returns is still the answer.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (values,),
            np.mean,
            method="BCa",
            n_resamples=n_resamples,
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


# scipy.stats.wilcoxon's default method enumerates every sign flip when a sample of at most this many
# differences has ties or zeros (2**13 < its 9999 resamples); above it, or without ties, it goes elsewhere.
WILCOXON_PERMUTATION_MAX = 13


def wilcoxon_signed_rank(differences: np.ndarray) -> tuple[float, float]:
    """The statistic and two-sided p-value of ``scipy.stats.wilcoxon(differences)`` with its defaults.

    scipy (1.17) picks the method by the sample: the normal approximation above 50 differences, the
    exact distribution without ties or zeros, and with ties or zeros at most 13 differences a
    permutation test that evaluates the statistic on all 2**n sign flips (about 0.4 s a call). Its
    null distribution is had here exactly by counting subsets of the tied ranks, doubled to integers
    (a knapsack count over at most 13 ranks), which gives scipy's p-value bit for bit; every other
    case is scipy's own call. Where scipy has no answer (one zero difference raises, more than 13 zero
    differences give NaN) p is 1: no sign flip can move a statistic made of zeros.
    """
    differences = np.asarray(differences, dtype=float)
    nonzero = differences[differences != 0]
    if not len(nonzero):
        return 0.0, 1.0
    ranks = stats.rankdata(np.abs(nonzero))
    tied = len(np.unique(ranks)) < len(ranks)
    if len(differences) > WILCOXON_PERMUTATION_MAX or not (tied or len(nonzero) < len(differences)):
        result = stats.wilcoxon(differences)
        return float(result.statistic), float(result.pvalue)
    doubled = np.rint(2 * ranks).astype(np.int64)
    # counts[s]: how many of the 2**m sign patterns give a doubled positive-rank sum of s.
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for rank in doubled:
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    observed = int(doubled[nonzero > 0].sum())
    flips = float(2 ** len(doubled))
    less, greater = counts[: observed + 1].sum() / flips, counts[observed:].sum() / flips
    positive = float(ranks[nonzero > 0].sum())
    return min(positive, float(ranks.sum()) - positive), min(1.0, 2 * min(less, greater))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment over the p-values given; None stays None and is not counted.

    statsmodels' ``multipletests(method="holm")`` arithmetic (the sorted p-values times m, m−1, …, 1,
    a running maximum, capped at 1), without the full garbage collection it runs on every call
    (0.1–0.3 s in a process that has loaded pandas, scipy and matplotlib).
    """
    present = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if present:
        values = np.array([p_values[i] for i in present], dtype=float)
        order = np.argsort(values)
        corrected = np.empty_like(values)
        corrected[order] = np.minimum(
            np.maximum.accumulate(values[order] * np.arange(len(values), 0, -1)), 1.0
        )
        for i, p in zip(present, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion (statsmodels, no continuity correction); NaN with no trials."""
    if trials == 0:
        return math.nan, math.nan
    low, high = proportion_confint(successes, trials, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def win_rate(wins: int, losses: int) -> float:
    """MusicRL's convention W/(W+L); NaN when every comparison tied."""
    return wins / (wins + losses) if wins + losses else math.nan


def significance_mark(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def oneway_anova(targets: pd.Series, values: pd.Series) -> tuple[float, float, float] | None:
    """Between- and within-target mean squares of a one-way layout, and its average group size k0.

    Unequal group sizes use k0 = (N − Σk²/N)/(n − 1), the ANOVA estimator's average k.
    None when there are fewer than two targets or no target has two values.
    """
    _, group = np.unique(targets.to_numpy(), return_inverse=True)
    values = values.to_numpy(dtype=float)
    sizes = np.bincount(group)
    means = np.bincount(group, weights=values) / sizes
    n_targets, n_values = len(sizes), len(values)
    if n_targets < 2 or n_values <= n_targets:
        return None
    between = float((sizes * (means - values.mean()) ** 2).sum() / (n_targets - 1))
    within = float(((values - means[group]) ** 2).sum() / (n_values - n_targets))
    k0 = float((n_values - (sizes**2).sum() / n_values) / (n_targets - 1))
    return between, within, k0
