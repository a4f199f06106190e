"""Building blocks: the signed-rank test equals scipy's defaults, Holm and Wilson equal the textbook sums."""

import math
import time
import warnings

import numpy as np
import pytest
from scipy import stats

from analysis.stats import WILCOXON_PERMUTATION_MAX, holm, wilcoxon_signed_rank, wilson_interval


def planted_samples():
    """Differences of every kind scipy treats apart: ties, zeros, both, neither; n from 1 to 60."""
    rng = np.random.default_rng(16)
    for n in range(1, 61):
        yield n, "ties", rng.integers(-3, 4, n) / 3 + 0.01  # thirds: prompt means of three raters
        yield n, "zeros", np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n))
        yield n, "ties and zeros", rng.integers(-4, 5, n) / 2
        yield n, "continuous", rng.normal(0.3, 1.0, n)
    for n in (1, 2, 13, 14, 40):
        yield n, "all zero", np.zeros(n)


def scipy_wilcoxon(differences):
    """scipy's answer, or None where it has none (one zero raises; many zeros give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = stats.wilcoxon(differences)
        except ValueError:
            return None
    return None if math.isnan(result.pvalue) else (float(result.statistic), float(result.pvalue))


def test_signed_rank_test_equals_scipy_defaults_on_planted_samples():
    checked = permuted = 0
    for n, kind, differences in planted_samples():
        statistic, p = wilcoxon_signed_rank(differences)
        expected = scipy_wilcoxon(differences)
        if expected is None:
            assert (kind, p) == ("all zero", 1.0), (n, kind)
            continue
        assert statistic == expected[0], (n, kind)
        assert p == pytest.approx(expected[1], abs=1e-12), (n, kind)
        checked += 1
        nonzero = differences[differences != 0]
        permuted += n <= WILCOXON_PERMUTATION_MAX and (
            len(nonzero) < n or len(np.unique(np.abs(nonzero))) < len(nonzero)
        )
    assert checked >= 240 and permuted >= 30  # scipy's sign-flip path is among what was compared


def test_a_single_difference_or_only_zeros_give_p_one_where_scipy_has_no_answer():
    assert wilcoxon_signed_rank(np.array([0.0])) == (0.0, 1.0)
    assert wilcoxon_signed_rank(np.zeros(20)) == (0.0, 1.0)
    assert wilcoxon_signed_rank(np.array([1.5])) == (0.0, 1.0)


def test_signed_rank_test_with_ties_on_twelve_prompts_is_fast():
    rng = np.random.default_rng(0)
    samples = [rng.integers(-3, 4, 12) / 2 for _ in range(100)]
    start = time.process_time()
    for differences in samples:
        wilcoxon_signed_rank(differences)
    # scipy takes about 0.4 s for each of these; the counting takes well under a millisecond.
    assert time.process_time() - start < 1.0


def test_holm_leaves_none_out_and_equals_the_step_down_maximum():
    p = [0.01, None, 0.04, 0.03, 0.2]
    # Sorted: 0.01×4, 0.03×3, 0.04×2, 0.2×1, each at least the previous.
    assert holm(p) == pytest.approx([0.04, None, 0.09, 0.09, 0.2])
    assert holm([None, None]) == [None, None]


def test_holm_equals_statsmodels_multipletests_bit_for_bit():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for trial in range(300):
        p = rng.random(rng.integers(1, 40)) ** 3
        if trial % 3 == 0:
            p = np.round(p, 2)  # ties
        if trial % 5 == 0:
            p[: len(p) // 2] = 1.0
        assert holm(list(p)) == multipletests(p, method="holm")[1].tolist()


def test_wilson_interval_is_the_score_interval():
    low, high = wilson_interval(7, 10)
    z = stats.norm.ppf(0.975)
    centre = (0.7 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.7 * 0.3 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
