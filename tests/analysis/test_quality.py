"""Quality statistics: planted effects are recovered, and every number matches scipy/statsmodels."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.data import CRITERIA, clean_quality
from analysis.quality import _crossed_model, _variant_categorical, analyse_quality, mixed_model, reml_start
from analysis.simulate import simulate_quality

VARIANTS = ["base", "better", "worse"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    # A +0.5 musicality effect, a −0.4 text-adherence effect, raters biased (sd 0.8), prompts harder (sd 0.3).
    return clean_quality(
        simulate_quality(
            n_prompts=60,
            n_raters=20,
            variants=VARIANTS,
            effects={"better": {"musicality": 0.5}, "worse": {"text_adherence": -0.4}},
            rater_bias_sd=0.8,
            prompt_sd=0.3,
            noise_sd=0.5,
            seed=3,
        )
    )


@pytest.fixture(scope="module")
def result(ratings):
    return analyse_quality(ratings, VARIANTS, seed=7, n_resamples=2000)


def prompt_means_of(ratings, variant, criterion) -> pd.Series:
    rows = ratings[(ratings["variant"] == variant) & (ratings["criterion"] == criterion)]
    return rows.groupby("prompt_id")["score"].mean()


def test_variant_means_are_means_of_prompt_means_with_t_and_bca_intervals(ratings, result):
    for index, row in enumerate(result.variants.itertuples()):
        values = prompt_means_of(ratings, row.variant, row.criterion).to_numpy()
        assert row.n_prompts == len(values) == 60
        assert row.mean == pytest.approx(values.mean())
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
        boot = stats.bootstrap(
            (values,), np.mean, method="BCa", n_resamples=2000, rng=np.random.default_rng(7 + index)
        ).confidence_interval
        assert (row.boot_low, row.boot_high) == pytest.approx((boot.low, boot.high))


def test_pairs_tally_each_rater_and_prompt_once_and_test_prompt_differences(ratings, result):
    wide = ratings.pivot_table(
        index=["criterion", "rater_id", "prompt_id"], columns="variant", values="score"
    )
    for pair in result.pairs.itertuples():
        both = wide.loc[pair.criterion][[pair.a, pair.b]].dropna()
        wins = int((both[pair.a] > both[pair.b]).sum())
        losses = int((both[pair.a] < both[pair.b]).sum())
        assert (pair.wins, pair.ties, pair.losses) == (wins, len(both) - wins - losses, losses)
        assert pair.win_rate == pytest.approx(wins / (wins + losses))
        differences = prompt_means_of(ratings, pair.a, pair.criterion) - prompt_means_of(
            ratings, pair.b, pair.criterion
        )
        assert pair.p_value == pytest.approx(stats.wilcoxon(differences).pvalue)
        assert pair.prompt_wins == (differences > 0).sum() and pair.prompt_losses == (differences < 0).sum()
        nonzero = differences[differences != 0]
        ranks = stats.rankdata(nonzero.abs())
        assert pair.rank_biserial == pytest.approx(
            (ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum()
        )


def test_holm_adjusts_over_every_pair_and_criterion(result):
    p = result.pairs["p_value"].to_numpy()
    order = np.argsort(p)
    expected = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        expected[index] = running
    assert len(p) == 3 * len(CRITERIA)
    assert result.pairs["p_holm"].to_numpy() == pytest.approx(expected)


def test_planted_effects_are_found_and_nothing_else_is(result):
    pairs = result.pairs.set_index(["a", "b", "criterion"])
    assert pairs.loc[("base", "better", "musicality"), "p_holm"] < 0.001
    assert pairs.loc[("base", "better", "musicality"), "mean_difference"] == pytest.approx(-0.5, abs=0.15)
    assert pairs.loc[("base", "worse", "text_adherence"), "p_holm"] < 0.001
    assert pairs.loc[("base", "better", "acoustic_quality"), "p_holm"] > 0.05
    effects = result.mixed_effects.set_index(["criterion", "variant"])
    assert effects.loc[("musicality", "better"), "estimate"] == pytest.approx(0.5, abs=0.12)
    assert effects.loc[("text_adherence", "worse"), "estimate"] == pytest.approx(-0.4, abs=0.12)
    assert effects.loc[("musicality", "better"), "ci_low"] > 0


def test_mixed_model_variance_components_are_read_by_name(ratings, result):
    components = result.variance_components.set_index(["criterion", "component"])["variance"]
    for criterion in CRITERIA:
        # Planted: rater sd 0.8 (variance 0.64) against prompt sd 0.3 (0.09); a swapped reading fails.
        assert components[(criterion, "rater")] > 3 * components[(criterion, "prompt")]
        assert components[(criterion, "rater")] == pytest.approx(0.64, rel=0.5)


def test_mixed_model_equals_statsmodels_fitted_independently(ratings, result):
    from statsmodels.regression.mixed_linear_model import MixedLM

    data = ratings[ratings["criterion"] == "musicality"].assign(group=1)
    fit = MixedLM.from_formula(
        "score ~ C(variant, Treatment('base'))",
        data=data,
        groups="group",
        re_formula="0",
        vc_formula={"prompt_id": "0 + C(prompt_id)", "rater_id": "0 + C(rater_id)"},
    ).fit(reml=True)
    names = fit.model.exog_vc.names
    components = result.variance_components.set_index(["criterion", "component"])["variance"]
    assert components[("musicality", "rater")] == pytest.approx(fit.vcomp[names.index("rater_id")], rel=1e-3)
    assert components[("musicality", "prompt")] == pytest.approx(
        fit.vcomp[names.index("prompt_id")], rel=1e-3
    )
    assert components[("musicality", "residual")] == pytest.approx(fit.scale, rel=1e-3)
    effect = result.mixed_effects.set_index(["criterion", "variant"]).loc[("musicality", "better")]
    assert effect["estimate"] == pytest.approx(fit.fe_params.iloc[1], abs=1e-4)
    assert effect["ci_low"] == pytest.approx(fit.conf_int().iloc[1, 0], abs=1e-3)


def test_ordinal_model_equals_statsmodels_ordered_model(ratings, result):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    data = ratings[ratings["criterion"] == "text_adherence"]
    exog = pd.DataFrame({v: (data["variant"] == v).astype(float) for v in ("better", "worse")})
    fit = OrderedModel(pd.Categorical(data["score"].astype(int), ordered=True), exog, distr="logit").fit(
        method="bfgs", disp=False
    )
    row = result.ordinal_effects.set_index(["criterion", "variant"]).loc[("text_adherence", "worse")]
    # The same fit, not a near one: the fast logistic cdf gives statsmodels' numbers exactly.
    assert row["log_odds"] == fit.params["worse"]
    assert row["p_value"] == fit.pvalues["worse"]
    assert row["odds_ratio"] < 1 and row["p_value"] < 0.001


def frame(rows) -> pd.DataFrame:
    columns = ["rater_id", "prompt_id", "variant", "criterion", "score", "created_at"]
    return clean_quality(pd.DataFrame([(*row, "") for row in rows], columns=columns))


def every_criterion(rows):
    return [(r, p, v, c, s) for r, p, v, s in rows for c in CRITERIA]


def test_variant_with_no_ratings_is_listed_with_a_note_and_left_out_of_pairs(ratings):
    result = analyse_quality(ratings[ratings["variant"] != "worse"], VARIANTS, ordinal=False, n_resamples=200)
    empty = result.variants[result.variants["variant"] == "worse"]
    assert (empty["n_prompts"] == 0).all() and empty["mean"].isna().all()
    assert "worse" not in set(result.pairs["a"]) | set(result.pairs["b"])
    assert any("worse has no ratings" in note for note in result.notes)


def test_ties_everywhere_give_p_one_and_a_note():
    rows = every_criterion(
        [(f"r{r}", f"p{p}", v, 1 + (p + r) % 5) for p in range(8) for r in range(3) for v in ("a", "b")]
    )
    result = analyse_quality(frame(rows), ordinal=False, n_resamples=200)
    assert (result.pairs["ties"] == 24).all() and result.pairs["win_rate"].isna().all()
    assert (result.pairs["p_value"] == 1.0).all()
    assert any("tie on every prompt" in note for note in result.notes)


def test_a_single_rater_still_gives_means_tests_and_a_prompt_only_mixed_model():
    rng = np.random.default_rng(0)
    rows = every_criterion(
        [("solo", f"p{p}", v, int(rng.integers(1, 6))) for p in range(12) for v in ("a", "b")]
    )
    result = analyse_quality(frame(rows), ordinal=False, n_resamples=200)
    assert result.variants["mean"].notna().all() and len(result.pairs) == 3
    assert set(result.variance_components["component"]) == {"prompt", "residual"}
    assert any("a single rater, so only a prompt random effect" in note for note in result.notes)


def test_all_scores_equal_give_point_intervals_and_clear_notes_without_crashing():
    rows = every_criterion([(f"r{r}", f"p{p}", v, 3) for p in range(6) for r in range(3) for v in ("a", "b")])
    result = analyse_quality(frame(rows), n_resamples=200)
    assert (result.variants["ci_low"] == 3).all() and (result.variants["boot_high"] == 3).all()
    assert result.mixed_effects.empty and result.ordinal_effects.empty
    assert any("interval is a point" in note for note in result.notes)
    assert any("every musicality score is equal" in note for note in result.notes)


def test_a_small_study_where_lbfgs_stalls_still_gets_the_converged_fit():
    from statsmodels.regression.mixed_linear_model import MixedLM

    small = clean_quality(
        simulate_quality(
            n_prompts=6, n_raters=6, variants=["a", "b", "c"], effects={"b": {"musicality": 0.8}}
        )
    )
    _, components, notes = mixed_model(small, ["a", "b", "c"])
    assert notes == []
    data = small[small["criterion"] == "musicality"].assign(group=1)
    fit = MixedLM.from_formula(
        "score ~ C(variant)",
        data=data,
        groups="group",
        re_formula="0",
        vc_formula={"prompt": "0 + C(prompt_id)", "rater": "0 + C(rater_id)"},
    ).fit(reml=True)
    ours = components[components["criterion"] == "musicality"].set_index("component")["variance"]
    assert fit.converged
    assert [ours["prompt"], ours["rater"], ours["residual"]] == pytest.approx(
        [*fit.vcomp, fit.scale], rel=1e-3
    )


# The reference fits these tests make warn where statsmodels' optimisers stall; the tests judge the fits.
STATSMODELS_WARNS = pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")


def statsmodels_model(ratings, criterion, variants):
    from statsmodels.regression.mixed_linear_model import MixedLM

    data = _variant_categorical(ratings[ratings["criterion"] == criterion], variants).assign(group=1)
    return MixedLM.from_formula(
        "score ~ C(variant)",
        data=data,
        groups="group",
        re_formula="0",
        vc_formula={"prompt": "0 + C(prompt_id)", "rater": "0 + C(rater_id)"},
    )


def demo_shaped_study() -> pd.DataFrame:
    """12 prompts by 2 raters, where L-BFGS from statsmodels' default start stops short of the optimum."""
    return clean_quality(
        simulate_quality(
            n_prompts=12,
            raters_per_prompt=2,
            n_raters=2,
            variants=["a", "b", "c", "d"],
            effects={"b": {"musicality": 0.5}},
            seed=36,
        )
    )


@STATSMODELS_WARNS
@pytest.mark.parametrize("study", ["planted", "demo"])
def test_reml_start_is_the_optimum_statsmodels_converges_to(ratings, study):
    data, variants = (
        (ratings, VARIANTS) if study == "planted" else (demo_shaped_study(), ["a", "b", "c", "d"])
    )
    for criterion in CRITERIA if study == "planted" else ["musicality"]:
        model = statsmodels_model(data, criterion, variants)
        start = reml_start(model)
        reference = model.fit(reml=True)  # statsmodels' own sequence (BFGS first) from its default start
        assert reference.converged
        assert start**2 == pytest.approx(reference.vcomp / reference.scale, rel=1e-3)
        confirmed = model.fit(reml=True, method="lbfgs", start_params=start)
        assert confirmed.converged and confirmed.llf >= reference.llf - 1e-6


@STATSMODELS_WARNS
def test_mixed_model_reaches_the_reml_optimum_where_lbfgs_from_the_default_start_stops_short():
    data = demo_shaped_study()
    model = statsmodels_model(data, "musicality", ["a", "b", "c", "d"])
    stalled = model.fit(reml=True, method="lbfgs")  # the old path: reports convergence 0.36 short
    reference = model.fit(reml=True)
    assert stalled.converged and stalled.llf < reference.llf - 0.1
    effects, components, notes = mixed_model(data, ["a", "b", "c", "d"])
    ours = components[components["criterion"] == "musicality"].set_index("component")["variance"]
    assert notes == []
    assert [ours["prompt"], ours["rater"], ours["residual"]] == pytest.approx(
        [*reference.vcomp, reference.scale], rel=1e-3
    )
    effect = effects.set_index(["criterion", "variant"]).loc[("musicality", "b")]
    assert effect["estimate"] == pytest.approx(reference.fe_params.iloc[1], abs=1e-4)
    assert (effect["ci_low"], effect["ci_high"]) == pytest.approx(
        tuple(reference.conf_int().iloc[1]), abs=1e-3
    )
    assert effect["p_value"] == pytest.approx(reference.pvalues.iloc[1], rel=1e-3)


@STATSMODELS_WARNS
def test_a_component_at_zero_keeps_statsmodels_own_path():
    # No prompt effect planted: its REML variance lies at zero, where no start is offered.
    data = clean_quality(
        simulate_quality(n_prompts=20, n_raters=6, variants=["a", "b"], prompt_sd=0.0, seed=0)
    )
    model = statsmodels_model(data, "musicality", ["a", "b"])
    assert reml_start(model) is None
    fit = model.fit(reml=True, method="lbfgs")
    if not fit.converged:
        fit = model.fit(reml=True)
    _, components, _ = mixed_model(data, ["a", "b"])
    ours = components[components["criterion"] == "musicality"].set_index("component")["variance"]
    assert [ours["prompt"], ours["rater"], ours["residual"]] == [*fit.vcomp, fit.scale]


@pytest.mark.parametrize("factors", [{"rater": "rater_id", "prompt": "prompt_id"}, {"prompt": "prompt_id"}])
def test_the_mixed_model_is_built_as_the_formula_builds_it(ratings, factors):
    data = _variant_categorical(ratings[ratings["criterion"] == "text_adherence"], VARIANTS)
    ours = _crossed_model(data, VARIANTS, factors)
    formula = statsmodels_model(data, "text_adherence", VARIANTS)
    if len(factors) == 1:
        from statsmodels.regression.mixed_linear_model import MixedLM

        formula = MixedLM.from_formula(
            "score ~ C(variant)",
            data=data.assign(group=1),
            groups="group",
            re_formula="0",
            vc_formula={"prompt": "0 + C(prompt_id)"},
        )
    assert ours.exog_names == formula.exog_names and ours.exog_vc.names == formula.exog_vc.names
    assert np.array_equal(ours.exog, formula.exog) and np.array_equal(ours.endog, formula.endog)
    for mine, theirs in zip(ours.exog_vc.mats, formula.exog_vc.mats, strict=True):
        assert np.array_equal(mine[0], theirs[0])
