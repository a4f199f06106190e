"""Power: the closed forms agree with statsmodels and exact sums, and with a Monte Carlo of the real test."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.data import clean_diversity, clean_quality
from analysis.power import (
    WILCOXON_EFFICIENCY,
    binomial_test_power,
    decisive_judgements_for_win_rate,
    diversity_power_table,
    paired_test_power,
    prompts_for_paired_test,
    prompts_for_win_rate,
    quality_power_table,
    t_test_power,
)
from analysis.simulate import simulate_diversity, simulate_quality


def test_paired_power_is_the_t_test_power_at_the_wilcoxon_efficiency():
    from statsmodels.stats.power import TTestPower

    power = paired_test_power(40, difference=0.3, sd_prompt=0.4, sd_rater=0.6, raters=3)
    effect = 0.3 / math.sqrt(0.4**2 + 0.6**2 / 3)
    assert power == pytest.approx(TTestPower().power(effect, nobs=40 * WILCOXON_EFFICIENCY, alpha=0.05))


def test_t_test_power_equals_statsmodels_bit_for_bit():
    from statsmodels.stats.power import ttest_power

    rng = np.random.default_rng(2)
    for _ in range(300):
        effect = rng.normal() * rng.choice([0.01, 0.3, 2.0])
        nobs = rng.integers(2, 5000, size=rng.integers(1, 20)) * WILCOXON_EFFICIENCY
        alpha = rng.choice([0.01, 0.05, 0.1, 0.5])
        ours, expected = t_test_power(effect, nobs, alpha), ttest_power(effect, nobs=nobs, alpha=alpha)
        assert np.array_equal(ours, expected, equal_nan=True)  # NaN far in the tail, in both


def test_prompts_needed_is_the_smallest_reaching_80_percent_and_fewer_with_more_raters():
    needed = prompts_for_paired_test(difference=0.3, sd_prompt=0.4, sd_rater=0.9, raters=3)
    spread = {"difference": 0.3, "sd_prompt": 0.4, "sd_rater": 0.9, "raters": 3}
    assert paired_test_power(needed, **spread) >= 0.8 > paired_test_power(needed - 1, **spread)
    assert prompts_for_paired_test(difference=0.3, sd_prompt=0.4, sd_rater=0.9, raters=5) < needed
    assert prompts_for_paired_test(difference=0.0, sd_prompt=0.4, sd_rater=0.9, raters=3) is None


def test_monte_carlo_wilcoxon_reaches_about_80_percent_at_the_prompts_needed():
    rng = np.random.default_rng(1)
    needed = prompts_for_paired_test(difference=0.5, sd_prompt=1.0, sd_rater=0.0, raters=1)
    rejections = [stats.wilcoxon(rng.normal(0.5, 1.0, needed)).pvalue < 0.05 for _ in range(600)]
    assert np.mean(rejections) == pytest.approx(0.8, abs=0.05)


def test_binomial_power_is_the_exact_sum_over_scipy_rejections():
    n, p = 60, 0.65
    rejected = [k for k in range(n + 1) if stats.binomtest(k, n, 0.5).pvalue <= 0.05]
    assert binomial_test_power(n, win_rate=p) == pytest.approx(stats.binom.pmf(rejected, n, p).sum())
    needed = decisive_judgements_for_win_rate(win_rate=p)
    assert binomial_test_power(needed, win_rate=p) >= 0.8
    assert all(binomial_test_power(m, win_rate=p) < 0.8 for m in range(1, needed))


def test_ties_and_correlated_raters_raise_the_prompts_needed():
    base = prompts_for_win_rate(win_rate=0.65, tie_rate=0.0, raters=3)
    assert base == math.ceil(decisive_judgements_for_win_rate(win_rate=0.65) / 3)
    assert prompts_for_win_rate(win_rate=0.65, tie_rate=0.5, raters=3) == pytest.approx(2 * base, abs=1)
    assert prompts_for_win_rate(win_rate=0.65, raters=3, within_prompt_correlation=0.5) > base


def test_pilot_tables_estimate_effects_and_spreads():
    ratings = clean_quality(
        simulate_quality(n_prompts=40, variants=["a", "b"], effects={"b": {"musicality": 0.5}}, seed=2)
    )
    table = quality_power_table(ratings).set_index("criterion")
    music = ratings[ratings["criterion"] == "musicality"].pivot_table(
        index="prompt_id", columns="variant", values="score"
    )
    assert table.loc["musicality", "difference"] == pytest.approx((music["a"] - music["b"]).mean())
    assert table.loc["musicality", "difference"] == pytest.approx(-0.5, abs=0.25)
    assert table.loc["musicality", "power_now"] > 0.9
    assert table.loc["musicality", "prompts_for_80_with_3_raters"] < 40
    judgements = clean_diversity(simulate_diversity(n_prompts=20, strengths={"a": 0.0, "b": 0.5}, seed=2))
    row = diversity_power_table(judgements).iloc[0]
    assert 0 <= row["tie_rate"] < 1 and row["prompts_for_80_with_3_raters"] > 0


def test_the_signed_rank_test_needs_six_prompts_at_5_percent_however_large_the_effect():
    huge = {"difference": 10.0, "sd_prompt": 0.3, "sd_rater": 0.9, "raters": 3}
    assert stats.wilcoxon(np.arange(1.0, 6.0)).pvalue > 0.05  # five prompts, all one way
    assert paired_test_power(5, **huge) == 0.0 and paired_test_power(6, **huge) == 1.0
    assert prompts_for_paired_test(**huge) == 6
