"""Quality study: MOS per variant and criterion, paired comparisons, and the crossed mixed model.

The unit is the prompt (MISSION.md §4): a prompt's raters are averaged first, then prompts are
compared. The win/tie/loss tallies of §5 are the exception: there each (rater, prompt) counts once.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .data import CRITERIA
from .stats import bca_interval, holm, t_interval, wilcoxon_signed_rank, win_rate


@dataclass
class QualityResult:
    variants: pd.DataFrame
    overall: pd.DataFrame
    pairs: pd.DataFrame
    mixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    ordinal_effects: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def variant_order(ratings: pd.DataFrame, variants: Sequence[str] | None = None) -> list[str]:
    """The given variants first, in their order, then any others in the ratings, sorted by name."""
    ordered = list(dict.fromkeys(variants or ()))
    return ordered + sorted(set(ratings["variant"]) - set(ordered))


def prompt_means(ratings: pd.DataFrame) -> pd.DataFrame:
    """(criterion, prompt) × variant table of each prompt's mean score over its raters."""
    return ratings.groupby(["criterion", "prompt_id", "variant"])["score"].mean().unstack("variant")


def rater_prompt_scores(ratings: pd.DataFrame) -> pd.DataFrame:
    """(criterion, rater, prompt) × variant table; a repeated rating of the same clip is averaged."""
    return (
        ratings.groupby(["criterion", "rater_id", "prompt_id", "variant"])["score"].mean().unstack("variant")
    )


def _by_criterion(table: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """criterion → variant → that variant's column (NaN where unrated), rows aligned within a criterion."""
    return {
        criterion: {variant: rows[variant].to_numpy() for variant in rows.columns}
        for criterion, rows in table.groupby(level=0, sort=False)
    }


def variant_means(
    ratings: pd.DataFrame, variants: Sequence[str], *, seed: int = 0, n_resamples: int | None = None
) -> pd.DataFrame:
    """Mean of per-prompt means with its 95% t-interval and BCa bootstrap interval, per variant × criterion."""
    means = _by_criterion(prompt_means(ratings))
    counts = ratings.groupby(["variant", "criterion"]).size()
    rows = []
    for index, (variant, criterion) in enumerate((v, c) for v in variants for c in CRITERIA):
        values = means.get(criterion, {}).get(variant, np.empty(0))
        values = values[~np.isnan(values)]
        row = {"variant": variant, "criterion": criterion, "n_prompts": len(values)}
        row["n_ratings"] = int(counts.get((variant, criterion), 0))
        if len(values):
            row["mean"] = float(values.mean())
            row["sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row["ci_low"], row["ci_high"] = t_interval(values)
            extra = {} if n_resamples is None else {"n_resamples": n_resamples}
            row["boot_low"], row["boot_high"] = bca_interval(values, seed=seed + index, **extra)
        rows.append(row)
    columns = ["variant", "criterion", "mean", "ci_low", "ci_high", "boot_low", "boot_high", "sd"]
    return pd.DataFrame(rows).reindex(columns=[*columns, "n_prompts", "n_ratings"])


def overall_means(ratings: pd.DataFrame, variants: Sequence[str]) -> pd.DataFrame:
    """Per variant, the mean over prompts of each prompt's mean over all three criteria, with its t-interval."""
    per_prompt = ratings.groupby(["variant", "prompt_id"])["score"].mean()
    rows = []
    for variant in variants:
        values = per_prompt.get(variant, pd.Series(dtype=float)).to_numpy()
        row = {"variant": variant, "n_prompts": len(values)}
        if len(values):
            row["mean"] = float(values.mean())
            row["ci_low"], row["ci_high"] = t_interval(values)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=["variant", "mean", "ci_low", "ci_high", "n_prompts"])


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (R+ − R−)/(R+ + R−), zero differences dropped as Wilcoxon does."""
    nonzero = differences[differences != 0]
    if not len(nonzero):
        return 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def _tally(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """Wins, ties and losses of a over b where both are present."""
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    return int((a > b).sum()), int((a == b).sum()), int((a < b).sum())


def pair_comparisons(ratings: pd.DataFrame, variants: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Every unordered variant pair × criterion: tallies, Wilcoxon on prompt differences, Holm over all."""
    by_rater = _by_criterion(rater_prompt_scores(ratings))
    by_prompt = _by_criterion(prompt_means(ratings))
    rows, notes = [], []
    for a, b in combinations(variants, 2):
        for criterion in CRITERIA:
            prompts = by_prompt.get(criterion, {})
            if a not in prompts or b not in prompts:
                continue
            differences = prompts[a] - prompts[b]
            differences = differences[~np.isnan(differences)]
            if not len(differences):
                notes.append(f"quality: {a} and {b} share no rated prompt on {criterion}; pair left out")
                continue
            wins, ties, losses = _tally(by_rater[criterion][a], by_rater[criterion][b])
            prompt_wins, prompt_ties, prompt_losses = _tally(prompts[a], prompts[b])
            statistic, p = wilcoxon_signed_rank(differences)
            if not np.any(differences):
                notes.append(f"quality: {a} and {b} tie on every prompt on {criterion} (p = 1)")
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "criterion": criterion,
                    "wins": wins,
                    "ties": ties,
                    "losses": losses,
                    "win_rate": win_rate(wins, losses),
                    "prompt_wins": prompt_wins,
                    "prompt_ties": prompt_ties,
                    "prompt_losses": prompt_losses,
                    "prompt_win_rate": win_rate(prompt_wins, prompt_losses),
                    "n_prompts": len(differences),
                    "mean_difference": float(differences.mean()),
                    "wilcoxon_statistic": statistic,
                    "p_value": p,
                    "rank_biserial": rank_biserial(differences),
                }
            )
    pairs = pd.DataFrame(rows)
    if len(pairs):
        pairs["p_holm"] = holm(pairs["p_value"].tolist())
    return pairs, notes


_TREATMENT = re.compile(r"\[T\.(.*)\]$")


def _variant_categorical(ratings: pd.DataFrame, variants: Sequence[str]) -> pd.DataFrame:
    present = [v for v in variants if v in set(ratings["variant"])]
    data = ratings.copy()
    data["variant"] = pd.Categorical(data["variant"], categories=present)
    return data


# Below this variance ratio (component / residual) a component counts as at the boundary, where
# statsmodels' square-root parameters flatten out and its own path is kept.
REML_BOUNDARY = 1e-4


def reml_start(model: Any) -> np.ndarray | None:
    """The REML optimum of a one-group MixedLM with variance components only, as statsmodels' start.

    Returns the square roots of the variance ratios (component / residual) in ``model.exog_vc.names``
    order, the packed form ``MixedLM.fit(start_params=...)`` takes; None when a ratio lies at the
    boundary (below ``REML_BOUNDARY``) or the fit fails. V = I + Z·diag(ratios)·Zᵀ (residual
    variance profiled out); every evaluation works on q × q and p × p matrices (q random effects, p
    fixed effects) built once from ZᵀZ, ZᵀX, Zᵀy: lme4's formulation with Λ = diag(√ratio),
    log|V| = log|I + ΛZᵀZΛ|. The profiled REML deviance
    (n − p)·log(rᵀV⁻¹r) + log|V| + log|XᵀV⁻¹X| is minimised over ratios ≥ 0 by L-BFGS-B (over the
    ratios, not their roots: at a zero root every gradient vanishes and the search would stop there).
    """
    from scipy import linalg, optimize

    if len(model.group_labels) != 1 or model.k_re or not model.k_vc:
        return None
    y, x = model.endog, model.exog
    blocks = [np.asarray(mats[0], dtype=float) for mats in model.exog_vc.mats]
    sizes = [block.shape[1] for block in blocks]
    z = np.hstack(blocks)
    n, p = x.shape
    ztz, ztx, zty = z.T @ z, z.T @ x, z.T @ y
    xtx, xty, yty = x.T @ x, x.T @ y, float(y @ y)
    q = len(ztz)

    blocks_of = np.repeat(np.arange(len(sizes)), sizes)

    def deviance(ratios: np.ndarray) -> tuple[float, np.ndarray]:
        """The deviance / n and its gradient over the ratios (dV/dratio_k = Z_k·Z_kᵀ)."""
        root = np.repeat(np.sqrt(ratios), sizes)
        inner = root[:, None] * ztz * root[None, :]
        inner.flat[:: q + 1] += 1.0
        factor = linalg.cho_factor(inner, lower=True)
        # ZᵀV⁻¹ applied to Z, X and y: ZᵀV⁻¹ = (I − ZᵀZ·Λ·inner⁻¹·Λ)·Zᵀ.
        through = ztz * root[None, :]
        zvz = ztz - through @ linalg.cho_solve(factor, through.T)
        zvx = ztx - through @ linalg.cho_solve(factor, root[:, None] * ztx)
        zvy = zty - through @ linalg.cho_solve(factor, root * zty)
        zx, zy = root[:, None] * ztx, root * zty
        xvx = xtx - zx.T @ linalg.cho_solve(factor, zx)
        xvy = xty - zx.T @ linalg.cho_solve(factor, zy)
        yvy = yty - zy @ linalg.cho_solve(factor, zy)
        fixed = linalg.cho_factor(xvx, lower=True)
        beta = linalg.cho_solve(fixed, xvy)
        rvr = yvy - xvy @ beta
        log_v = 2 * np.log(np.diag(factor[0])).sum()
        log_x = 2 * np.log(np.diag(fixed[0])).sum()
        value = ((n - p) * np.log(rvr) + log_v + log_x) / n
        zpy = zvy - zvx @ beta  # ZᵀPy, P the REML projection
        spread = np.einsum("ij,ji->i", zvx, linalg.cho_solve(fixed, zvx.T))
        gradient = (
            -(n - p) * np.bincount(blocks_of, zpy**2) / rvr
            + np.bincount(blocks_of, np.diag(zvz))
            - np.bincount(blocks_of, spread)
        ) / n
        return float(value), gradient

    try:
        with np.errstate(all="ignore"):
            result = optimize.minimize(
                deviance,
                np.ones(len(sizes)),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, None)] * len(sizes),
                options={"ftol": 1e-15, "gtol": 1e-10},
            )
    except (np.linalg.LinAlgError, linalg.LinAlgError, ValueError):
        return None
    if not np.isfinite(result.fun) or (result.x < REML_BOUNDARY).any():
        return None
    return np.sqrt(result.x)


def _indicators(codes: np.ndarray, count: int) -> np.ndarray:
    # Column-major, as the formula path hands them over: statsmodels solves against their transposes.
    return np.asfortranarray(codes[:, None] == np.arange(count)[None, :], dtype=float)


def _crossed_model(data: pd.DataFrame, levels: list[str], factors: dict[str, str]) -> Any:
    """``MixedLM.from_formula("score ~ C(variant)", groups=<one group>, re_formula="0",
    vc_formula={name: "0 + C(column)"})`` built from the same matrices directly: treatment-coded
    variants (the first level the reference, columns named as the formula names them) and one 0/1
    column per level of each factor. The formula machinery costs more than the fit it feeds.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

    variant = _indicators(data["variant"].cat.codes.to_numpy(), len(levels))
    variant[:, 0] = 1.0
    names = ["Intercept", *[f"C(variant)[T.{level}]" for level in levels[1:]]]
    vc_names, vc_columns, vc_matrices = [], [], []
    for name, column in sorted(factors.items()):  # statsmodels keeps the components by name
        values, codes = np.unique(data[column].to_numpy(), return_inverse=True)
        vc_names.append(name)
        vc_columns.append([[f"C({column})[{value}]" for value in values]])
        vc_matrices.append([_indicators(codes, len(values))])
    return MixedLM(
        data["score"].astype(float),
        pd.DataFrame(variant, columns=names, index=data.index),
        groups=np.ones(len(data)),
        exog_vc=VCSpec(vc_names, vc_columns, vc_matrices),
    )


def mixed_model(
    ratings: pd.DataFrame, variants: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """score ~ variant with crossed random intercepts for rater and prompt, fitted by REML per criterion.

    Crossed effects in statsmodels: one group holding every row, each factor a variance component.
    ``vcomp`` is ordered by ``model.exog_vc.names`` (alphabetical), not by the formula's order.
    """
    effects, components, notes = [], [], []
    for criterion in CRITERIA:
        data = _variant_categorical(ratings[ratings["criterion"] == criterion], variants)
        levels = list(data["variant"].cat.categories)
        if len(levels) < 2:
            continue
        factors = {
            name: column
            for name, column in (("rater", "rater_id"), ("prompt", "prompt_id"))
            if data[column].nunique() > 1
        }
        if data["score"].nunique() < 2:
            notes.append(f"mixed model: every {criterion} score is equal; nothing to fit")
            continue
        if not factors:
            notes.append(f"mixed model: one rater and one prompt on {criterion}; nothing to fit")
            continue
        if len(factors) < 2:
            present = next(iter(factors))
            single = "rater" if present == "prompt" else "prompt"
            notes.append(f"mixed model on {criterion}: a single {single}, so only a {present} random effect")
        model = _crossed_model(data, levels, factors)
        try:
            with warnings.catch_warnings():
                # A failed optimiser only warns; fit.converged decides.
                warnings.simplefilter("ignore")
                # statsmodels' L-BFGS from the REML optimum found cheaply here: it confirms it in one
                # evaluation. Without one (a component at zero), or if that stalls, the path used
                # before reml_start: L-BFGS from statsmodels' default start, then its own sequence
                # (BFGS, L-BFGS, CG) from the default start, which a stalled point can trap.
                start = reml_start(model)
                fit = None if start is None else model.fit(reml=True, method="lbfgs", start_params=start)
                if fit is None or not fit.converged:
                    fit = model.fit(reml=True, method="lbfgs")
                if not fit.converged:
                    fit = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as error:
            notes.append(f"mixed model on {criterion} could not be fitted: {error}")
            continue
        if not fit.converged:
            notes.append(f"mixed model on {criterion}: no optimiser converged; read its estimates with care")
        intervals = fit.conf_int()
        for term in fit.fe_params.index:
            match = _TREATMENT.search(term)
            effects.append(
                {
                    "criterion": criterion,
                    "term": f"{match.group(1)} − {levels[0]}" if match else f"intercept ({levels[0]})",
                    "variant": match.group(1) if match else levels[0],
                    "estimate": float(fit.fe_params[term]),
                    "ci_low": float(intervals.loc[term, 0]),
                    "ci_high": float(intervals.loc[term, 1]),
                    "p_value": float(fit.pvalues[term]),
                }
            )
        for name, variance in zip(model.exog_vc.names, fit.vcomp, strict=True):
            components.append({"criterion": criterion, "component": name, "variance": float(variance)})
        components.append({"criterion": criterion, "component": "residual", "variance": float(fit.scale)})
    return pd.DataFrame(effects), pd.DataFrame(components), notes


@functools.cache
def _ordered_logit() -> type:
    """statsmodels' ``OrderedModel`` for ``distr="logit"`` with the logistic cdf as ``scipy.special.expit``.

    The same numbers (``scipy.stats.logistic.cdf`` is expit behind generic argument handling), at a
    fraction of the cost: the fit's numerical gradients call the cdf a few thousand times.
    """
    from scipy.special import expit
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    class OrderedLogit(OrderedModel):
        def cdf(self, x: np.ndarray) -> np.ndarray:
            return expit(x)

    return OrderedLogit


def ordinal_model(ratings: pd.DataFrame, variants: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Proportional-odds (logit) model score ~ variant per criterion: odds ratios against the first variant.

    It treats ratings as independent (no rater or prompt effects); the mixed model is the primary analysis.
    """
    rows, notes = [], []
    for criterion in CRITERIA:
        data = _variant_categorical(ratings[ratings["criterion"] == criterion], variants)
        levels = list(data["variant"].cat.categories)
        if len(levels) < 2 or data["score"].nunique() < 2:
            continue
        exog = pd.get_dummies(data["variant"], drop_first=True, dtype=float)
        endog = pd.Categorical(data["score"].astype(int), ordered=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = _ordered_logit()(endog, exog, distr="logit").fit(method="bfgs", disp=False)
        except (np.linalg.LinAlgError, ValueError) as error:
            notes.append(f"ordinal model on {criterion} could not be fitted: {error}")
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            odds = np.exp(fit.conf_int().loc[list(exog.columns)])
        if not np.isfinite(odds.to_numpy()).all():
            # Few ratings can separate the variants: the likelihood then has no finite maximum.
            notes.append(f"ordinal model on {criterion}: too few ratings for finite odds ratios; left out")
            continue
        for variant in exog.columns:
            rows.append(
                {
                    "criterion": criterion,
                    "variant": variant,
                    "reference": levels[0],
                    "log_odds": float(fit.params[variant]),
                    "odds_ratio": float(np.exp(fit.params[variant])),
                    "ci_low": float(odds.loc[variant, 0]),
                    "ci_high": float(odds.loc[variant, 1]),
                    "p_value": float(fit.pvalues[variant]),
                }
            )
    return pd.DataFrame(rows), notes


def analyse_quality(
    ratings: pd.DataFrame,
    variants: Sequence[str] | None = None,
    *,
    seed: int = 0,
    ordinal: bool = True,
    n_resamples: int | None = None,
) -> QualityResult:
    order = variant_order(ratings, variants)
    notes = [f"quality: {v} has no ratings" for v in order if v not in set(ratings["variant"])]
    means = variant_means(ratings, order, seed=seed, n_resamples=n_resamples)
    flat = means.dropna(subset=["mean"]).query("n_prompts > 1 and sd == 0")
    notes += [
        f"quality: every {r.variant} {r.criterion} prompt mean is {r.mean:g}; interval is a point"
        for r in flat.itertuples()
    ]
    pairs, pair_notes = pair_comparisons(ratings, order)
    effects, components, model_notes = mixed_model(ratings, order)
    ordinal_effects, ordinal_notes = ordinal_model(ratings, order) if ordinal else (pd.DataFrame(), [])
    return QualityResult(
        variants=means,
        overall=overall_means(ratings, order),
        pairs=pairs,
        mixed_effects=effects,
        variance_components=components,
        ordinal_effects=ordinal_effects,
        notes=notes + pair_notes + model_notes + ordinal_notes,
    )
