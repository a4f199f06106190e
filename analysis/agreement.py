"""Inter-rater agreement: Krippendorff's alpha and the one-way intraclass correlation ICC(1,k)."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd

from .data import CRITERIA
from .stats import oneway_anova


def krippendorff_alpha(units: pd.Series, values: pd.Series, *, metric: str = "ordinal") -> float:
    """Krippendorff's alpha (the ``krippendorff`` package) from one row per (unit, coder) value.

    Units with one value are not pairable. NaN when nothing is pairable or there is no disagreement
    to expect (every pairable value equal), where the package raises or divides by zero.
    """
    levels = np.sort(values.unique())
    counts = pd.crosstab(units.to_numpy(), pd.Categorical(values, categories=levels)).to_numpy()
    pairable = counts[counts.sum(axis=1) >= 2]
    if (pairable.sum(axis=0) > 0).sum() < 2:
        return math.nan
    return float(krippendorff.alpha(value_counts=pairable, value_domain=levels, level_of_measurement=metric))


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
