"""Diversity preferences: orientation, tests, Wilson intervals and Bradley–Terry, checked independently."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.data import clean_diversity
from analysis.diversity import (
    BT_REGULARIZATION,
    BT_RESAMPLE_TOLERANCE,
    analyse_diversity,
    bradley_terry,
    bradley_terry_many,
    oriented,
    strengths_with_bootstrap,
    win_matrices,
)
from analysis.simulate import simulate_diversity

STRENGTHS = {"base": 0.0, "cfg": -0.8, "rewarded": 0.7, "merged": 0.3}
PAIRS = [
    ("base", "cfg"),
    ("base", "rewarded"),
    ("cfg", "rewarded"),
    ("merged", "cfg"),
    ("merged", "rewarded"),
]


def judgements(rows) -> pd.DataFrame:
    columns = ["rater_id", "prompt_id", "variant_a", "variant_b", "choice", "created_at"]
    return clean_diversity(pd.DataFrame([(*row, "") for row in rows], columns=columns))


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return clean_diversity(simulate_diversity(n_prompts=40, strengths=STRENGTHS, pairs=PAIRS, seed=5))


def test_negative_choice_favours_variant_a_whichever_way_the_pair_was_shown():
    rows = [
        ("r1", "p1", "x", "y", -2),  # x more diverse: a win for x
        ("r2", "p1", "y", "x", 1),  # x (shown as B) more diverse: a win for x
        ("r3", "p1", "y", "x", -1),  # y more diverse: a loss for x
        ("r1", "p2", "x", "y", 0),  # a tie
    ]
    pairs = analyse_diversity(judgements(rows), ["x", "y"]).pairs
    assert pairs[["a", "b", "wins", "ties", "losses"]].iloc[0].tolist() == ["x", "y", 2, 1, 1]
    assert pairs["win_rate"].iloc[0] == pytest.approx(2 / 3)


def test_each_unordered_pair_appears_once_with_binomial_test_and_wilson_interval(simulated):
    from statsmodels.stats.proportion import proportion_confint

    pairs = analyse_diversity(simulated, list(STRENGTHS)).pairs
    assert len(pairs) == len(PAIRS)
    assert len({frozenset((a, b)) for a, b in zip(pairs["a"], pairs["b"], strict=True)}) == len(PAIRS)
    for pair in pairs.itertuples():
        rows = simulated[simulated[["variant_a", "variant_b"]].isin([pair.a, pair.b]).all(axis=1)]
        a_side = np.where(rows["variant_a"] == pair.a, -rows["choice"], rows["choice"])
        wins, losses = int((a_side > 0).sum()), int((a_side < 0).sum())
        assert (pair.wins, pair.ties, pair.losses) == (wins, len(rows) - wins - losses, losses)
        assert pair.p_value == pytest.approx(stats.binomtest(wins, wins + losses, 0.5).pvalue)
        low, high = proportion_confint(wins, wins + losses, method="wilson")
        assert (pair.wilson_low, pair.wilson_high) == pytest.approx((low, high))
        per_prompt = pd.Series(np.sign(a_side), index=rows["prompt_id"]).groupby(level=0).sum()
        k, n = int((per_prompt > 0).sum()), int((per_prompt != 0).sum())
        assert pair.prompt_p_value == pytest.approx(stats.binomtest(k, n).pvalue)


def test_planted_diversity_order_is_recovered_by_win_rates_and_bradley_terry(simulated):
    result = analyse_diversity(simulated, list(STRENGTHS))
    pairs = result.pairs.set_index(["a", "b"])
    assert pairs.loc[("base", "cfg"), "win_rate"] > 0.7 and pairs.loc[("base", "cfg"), "p_value"] < 0.001
    assert pairs.loc[("cfg", "rewarded"), "win_rate"] < 0.2
    strengths = result.strengths.set_index("variant")
    assert list(strengths["strength"].sort_values().index) == ["cfg", "base", "merged", "rewarded"]
    assert strengths["strength"].sum() == pytest.approx(0, abs=1e-9)
    assert (strengths["ci_low"] < strengths["strength"]).all() and (
        strengths["strength"] < strengths["ci_high"]
    ).all()


def test_bradley_terry_is_the_logistic_regression_maximum_likelihood(simulated):
    import statsmodels.api as sm

    order = list(STRENGTHS)
    frame = oriented(simulated, order)
    decisive = frame[frame["outcome"] != 0]
    design = pd.DataFrame(0.0, index=decisive.index, columns=order)
    for variant in order:
        design[variant] += (decisive["a"] == variant).astype(float) - (decisive["b"] == variant).astype(float)
    fit = sm.Logit((decisive["outcome"] > 0).astype(float), design[order[1:]]).fit(disp=False)
    expected = np.concatenate([[0.0], fit.params.to_numpy()])
    _, matrices = win_matrices(decisive, order)
    ours = bradley_terry(matrices.sum(axis=0), regularization=0.0)
    assert ours == pytest.approx(expected - expected.mean(), abs=1e-6)


def test_a_variant_that_always_wins_keeps_finite_strengths():
    rows = [(f"r{i}", f"p{i}", "x", "y", -2) for i in range(6)] + [
        (f"r{i}", f"p{i}", "y", "z", 1) for i in range(6)
    ]
    result = analyse_diversity(judgements(rows), ["x", "y", "z"])
    assert np.isfinite(result.strengths[["strength", "ci_low", "ci_high"]].to_numpy()).all()
    assert result.strengths.set_index("variant")["strength"].idxmax() == "x"


def test_all_ties_give_no_win_rate_and_a_note():
    rows = [(f"r{i}", f"p{i}", "x", "y", 0) for i in range(5)]
    result = analyse_diversity(judgements(rows), ["x", "y"])
    assert result.pairs["win_rate"].isna().all() and result.pairs["p_value"].isna().all()
    assert any("every x vs y judgement is a tie" in note for note in result.notes)


def test_bradley_terry_many_equals_choix_fit_by_fit_on_planted_resamples(simulated):
    import choix

    order = list(STRENGTHS)
    _, matrices = win_matrices(oriented(simulated, order), order)
    start = bradley_terry(matrices.sum(axis=0))
    resamples = np.random.default_rng(3).integers(0, len(matrices), (200, len(matrices)))
    stacked = np.stack([matrices[row].sum(axis=0) for row in resamples])
    stacked[0, 0, :] = 0  # a variant that never wins: regularization keeps it finite
    ours = bradley_terry_many(stacked, initial=start, tolerance=BT_RESAMPLE_TOLERANCE)
    for wins, fit in zip(stacked, ours, strict=True):
        expected = choix.ilsr_pairwise_dense(
            wins, alpha=BT_REGULARIZATION, initial_params=start, max_iter=1000, tol=BT_RESAMPLE_TOLERANCE
        )
        assert fit == pytest.approx(expected - expected.mean(), abs=1e-12)
    point = choix.ilsr_pairwise_dense(matrices.sum(axis=0), alpha=BT_REGULARIZATION, max_iter=1000, tol=1e-8)
    assert start == pytest.approx(point - point.mean(), abs=1e-12)


def test_bootstrap_intervals_equal_the_fit_by_fit_path(simulated):
    """The bootstrap's percentile intervals, from the stacked fits, equal those of one choix fit per resample."""
    import choix

    order = list(STRENGTHS)
    table, _ = strengths_with_bootstrap(simulated, order, draws=300, seed=4)
    _, matrices = win_matrices(oriented(simulated, order), order)
    start = table["strength"].to_numpy()

    def one_by_one(prompts: np.ndarray, axis: int = -1) -> np.ndarray:
        fits = []
        for row in prompts.reshape(-1, prompts.shape[-1]):
            fit = choix.ilsr_pairwise_dense(
                matrices[row].sum(axis=0),
                alpha=BT_REGULARIZATION,
                initial_params=start,
                max_iter=1000,
                tol=BT_RESAMPLE_TOLERANCE,
            )
            fits.append(fit - fit.mean())
        return np.moveaxis(np.reshape(fits, (*prompts.shape[:-1], len(order))), -1, 0)

    expected = stats.bootstrap(
        (np.arange(len(matrices)),),
        one_by_one,
        vectorized=True,
        n_resamples=300,
        method="percentile",
        rng=np.random.default_rng(4),
    ).confidence_interval
    assert table["ci_low"].to_numpy() == pytest.approx(expected.low, abs=1e-12)
    assert table["ci_high"].to_numpy() == pytest.approx(expected.high, abs=1e-12)
