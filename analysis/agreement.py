"""Inter-rater agreement: Krippendorff's alpha and the one-way intraclass correlation ICC(1,k)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .data import CRITERIA
from .stats import oneway_anova


def krippendorff_alpha(units: pd.Series, values: pd.Series, *, metric: str = "ordinal") -> float:
    """Krippendorff's alpha from one row per (unit, coder) value; units with one value are not pairable.

    Built from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
    NaN when there is no disagreement to expect (every pairable value equal) or nothing is pairable.
    """
    levels = np.sort(values.unique())
    codes = pd.Categorical(values, categories=levels).codes
    counts = pd.crosstab(units.to_numpy(), codes).to_numpy().astype(float)
    pairable = counts.sum(axis=1)
    counts, pairable = counts[pairable >= 2], pairable[pairable >= 2]
    if not len(counts):
        return math.nan
    weight = 1.0 / (pairable - 1.0)
    coincidences = (counts.T * weight) @ counts - np.diag((counts * weight[:, None]).sum(axis=0))
    marginals = coincidences.sum(axis=1)
    total = marginals.sum()
    delta = _squared_distances(levels.astype(float), marginals, metric)
    observed = (coincidences * delta).sum() / total
    expected = (np.outer(marginals, marginals) * delta).sum() / (total * (total - 1.0))
    return math.nan if expected == 0 else float(1.0 - observed / expected)


def _squared_distances(levels: np.ndarray, marginals: np.ndarray, metric: str) -> np.ndarray:
    if metric == "nominal":
        return 1.0 - np.eye(len(levels))
    if metric == "interval":
        return np.subtract.outer(levels, levels) ** 2
    if metric == "ordinal":
        cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
        low = np.minimum.outer(np.arange(len(levels)), np.arange(len(levels)))
        high = np.maximum.outer(np.arange(len(levels)), np.arange(len(levels)))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (marginals[low] + marginals[high]) / 2.0) ** 2
    raise ValueError(f"unknown metric {metric!r}; use nominal, ordinal or interval")


def icc_oneway(targets: pd.Series, values: pd.Series) -> tuple[float, float, float]:
    """ICC(1,1) and ICC(1,k) of Shrout & Fleiss (1979), and k: one-way random effects over targets."""
    anova = oneway_anova(targets, values)
    if anova is None:
        return math.nan, math.nan, math.nan
    between, within, k0 = anova
    if between == 0:
        return math.nan, math.nan, k0
    return (between - within) / (between + (k0 - 1) * within), (between - within) / between, k0


def agreement(ratings: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per criterion: ordinal alpha and ICC(1,k) over clips (prompt × variant) rated by several raters."""
    rows, notes = [], []
    for criterion in CRITERIA:
        subset = ratings[ratings["criterion"] == criterion]
        if subset.empty:
            continue
        clips = subset["prompt_id"] + "\x1f" + subset["variant"]
        alpha = krippendorff_alpha(clips, subset["score"])
        icc1, icc1k, k = icc_oneway(clips, subset["score"])
        if math.isnan(alpha):
            shared = clips.value_counts().max() > 1
            why = (
                "every score is equal, so there is no disagreement to measure"
                if shared
                else "no two raters share a clip"
            )
            notes.append(f"agreement on {criterion} is undefined: {why}")
        rows.append(
            {
                "criterion": criterion,
                "krippendorff_alpha": alpha,
                "icc1": icc1,
                "icc1k": icc1k,
                "raters_per_clip": k,
                "n_clips": int(clips.nunique()),
                "n_raters": int(subset["rater_id"].nunique()),
            }
        )
    return pd.DataFrame(rows), notes
