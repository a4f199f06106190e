"""Small statistical building blocks shared by the quality and diversity analyses."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

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


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment over the p-values given; None stays None and is not counted."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    m = len(present)
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion (no continuity correction)."""
    if trials == 0:
        return math.nan, math.nan
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


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
    frame = pd.DataFrame({"target": targets.to_numpy(), "value": values.to_numpy(dtype=float)})
    groups = frame.groupby("target")["value"]
    sizes, means = groups.size().to_numpy(), groups.mean().to_numpy()
    n_targets, n_values = len(sizes), int(sizes.sum())
    if n_targets < 2 or n_values <= n_targets:
        return None
    grand = frame["value"].mean()
    between = float((sizes * (means - grand) ** 2).sum() / (n_targets - 1))
    within = float(((frame["value"] - groups.transform("mean")) ** 2).sum() / (n_values - n_targets))
    k0 = float((n_values - (sizes**2).sum() / n_values) / (n_targets - 1))
    return between, within, k0
