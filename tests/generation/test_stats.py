import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW

from generation.stats import bootstrap_ci, bootstrap_indices, holm, one_sided_t, resampled_mean


def test_with_one_training_seed_the_bootstrap_is_scipys_percentile_bootstrap_over_prompts():
    values = np.random.default_rng(1).gamma(2.0, 0.1, size=(1, 60))  # a skewed metric, one model
    ours = bootstrap_ci(lambda s, p: resampled_mean(values, s, p), bootstrap_indices(1, 60, 4000, seed=3))
    theirs = scipy_stats.bootstrap(
        (values[0],), np.mean, n_resamples=4000, method="percentile", random_state=3
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours is not None
    assert (
        abs(ours["ci_low"] - theirs.low) < 0.08 * width and abs(ours["ci_high"] - theirs.high) < 0.08 * width
    )


def test_the_hierarchical_bootstrap_widens_with_the_spread_between_training_seeds():
    rng = np.random.default_rng(0)
    prompts = rng.normal(0.5, 0.05, size=40)
    same = np.stack([prompts] * 3)  # three training seeds that agree
    spread = same + np.array([[-0.05], [0.0], [0.05]])  # three that do not
    idx = bootstrap_indices(3, 40, 2000)

    def width(v):
        ci = bootstrap_ci(lambda s, p: resampled_mean(v, s, p), idx)
        return ci["ci_high"] - ci["ci_low"]

    assert width(spread) > 1.5 * width(same)
    assert all(len(s) == 3 and len(p) == 40 for s, p in idx[:5])


def test_holm_matches_statsmodels_and_a_hand_computation():
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    adjusted, reject = holm(p, alpha=0.05)
    ok = [0, 1, 2, 3]
    sm_reject, sm_adjusted, _, _ = multipletests([p[i] for i in ok], alpha=0.05, method="holm")
    assert np.allclose([adjusted[i] for i in ok], sm_adjusted) and [reject[i] for i in ok] == list(sm_reject)
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, made monotone
    assert np.allclose([adjusted[i] for i in ok], [0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True, False] and np.isnan(adjusted[4])


@pytest.mark.parametrize("margin", [0.0, 0.02, 0.05])
def test_the_non_inferiority_test_matches_statsmodels_one_sided_t_against_minus_the_margin(margin):
    diff = np.array([-0.012, 0.004, -0.006, -0.001, 0.003])  # distilled minus teacher, per training seed
    ours = one_sided_t(diff, -margin)
    t, p, _ = DescrStatsW(diff).ttest_mean(value=-margin, alternative="larger")
    assert np.isclose(ours["t"], t) and np.isclose(ours["p"], p) and ours["df"] == len(diff) - 1


def test_non_inferiority_rejects_within_the_margin_and_not_beyond_it():
    close = np.array([-0.004, -0.006, -0.002])
    assert one_sided_t(close, -0.02)["p"] < 0.05  # at most 0.02 worse: shown
    worse = np.array([-0.03, -0.025, -0.035])
    assert one_sided_t(worse, -0.02)["p"] > 0.5  # 0.03 worse: not shown
