"""Agreement: textbook values of Krippendorff's alpha and of Shrout & Fleiss's ICC."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.agreement import agreement, icc_oneway, krippendorff_alpha
from analysis.data import clean_quality
from analysis.simulate import simulate_quality

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders × 12 units, with gaps.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
# Shrout & Fleiss (1979), Table 2: 6 targets × 4 judges.
SF1979 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def long_k2011() -> pd.DataFrame:
    rows = [(unit, value) for coder in K2011 for unit, value in enumerate(coder) if value is not None]
    return pd.DataFrame(rows, columns=["unit", "value"])


@pytest.mark.parametrize(
    ("metric", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_alpha_matches_the_published_example(metric, expected):
    data = long_k2011()
    assert krippendorff_alpha(data["unit"], data["value"], metric=metric) == pytest.approx(expected, abs=5e-4)


def test_icc_matches_shrout_and_fleiss():
    targets = pd.Series(np.repeat(np.arange(6), 4))
    icc1, icc1k, k = icc_oneway(targets, pd.Series(np.ravel(SF1979)))
    assert (round(icc1, 2), round(icc1k, 2), k) == (0.17, 0.44, 4)


def test_perfect_agreement_is_one_and_no_spread_is_undefined():
    units = pd.Series([0, 0, 1, 1, 2, 2])
    assert krippendorff_alpha(units, pd.Series([1, 1, 3, 3, 5, 5])) == 1.0
    assert math.isnan(krippendorff_alpha(units, pd.Series([4] * 6)))


def test_agreement_rises_with_clip_differences_and_falls_with_rater_noise():
    calm = clean_quality(
        simulate_quality(n_prompts=30, variants=["a", "b"], prompt_sd=1.0, noise_sd=0.3, rater_bias_sd=0.0)
    )
    noisy = clean_quality(
        simulate_quality(n_prompts=30, variants=["a", "b"], prompt_sd=1.0, noise_sd=1.5, rater_bias_sd=0.0)
    )
    calm_table, _ = agreement(calm)
    noisy_table, _ = agreement(noisy)
    assert (calm_table["krippendorff_alpha"] > noisy_table["krippendorff_alpha"] + 0.2).all()
    assert (calm_table["icc1k"] > noisy_table["icc1k"]).all()
    assert (calm_table["raters_per_clip"] == 3).all()
