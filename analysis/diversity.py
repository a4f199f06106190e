"""Diversity study: pairwise preference scores, their tests, and Bradley–Terry strengths.

A judgement says which of two pairs of clips sounds more diverse on −2..+2, negative favouring
``variant_a``. Every analysis here first orients it from the side of the pair's first variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import choix
import numpy as np
import pandas as pd
from scipy import stats

from .stats import CONFIDENCE, holm, wilson_interval, win_rate

BOOTSTRAP_DRAWS = 2000
# choix's weak regularization keeps the strengths finite when a variant wins every comparison.
BT_REGULARIZATION = 1e-3
BT_MAX_ITERATIONS = 1000
# choix stops when an iteration moves the strengths by less than this (L1). Interval ends are
# printed to two decimals and vary by about 0.01 between bootstrap seeds: 1e-4 keeps a resample's
# fit within 1e-4 of the converged one and halves the iterations of choix's 1e-8 (kept for the
# point estimate).
BT_RESAMPLE_TOLERANCE = 1e-4


@dataclass
class DiversityResult:
    pairs: pd.DataFrame
    strengths: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def diversity_order(judgements: pd.DataFrame, variants: Sequence[str] | None = None) -> list[str]:
    ordered = list(dict.fromkeys(variants or ()))
    seen = set(judgements["variant_a"]) | set(judgements["variant_b"])
    return [v for v in ordered if v in seen] + sorted(seen - set(ordered))


def oriented(judgements: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Judgements with the pair as (a, b) in ``order`` and ``outcome`` +1/0/−1 for a more/as/less diverse."""
    position = {variant: i for i, variant in enumerate(order)}
    shown_first = judgements["variant_a"].map(position) < judgements["variant_b"].map(position)
    frame = judgements.copy()
    frame["a"] = judgements["variant_a"].where(shown_first, judgements["variant_b"])
    frame["b"] = judgements["variant_b"].where(shown_first, judgements["variant_a"])
    # choice < 0 favours variant_a: from a's side that is a win when a was shown as variant_a.
    preference = np.where(shown_first, -judgements["choice"], judgements["choice"])
    frame["preference"] = preference
    frame["outcome"] = np.sign(preference).astype(int)
    return frame


def pair_preferences(judgements: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Per compared pair: W/T/L, win rate with Wilson interval, exact binomial test, and the prompt-level test."""
    frame = oriented(judgements, order)
    rows = []
    for (a, b), group in frame.groupby(["a", "b"], sort=False):
        wins, ties, losses = (int((group["outcome"] == s).sum()) for s in (1, 0, -1))
        per_prompt = np.sign(group.groupby("prompt_id")["outcome"].sum())
        prompt_wins, prompt_ties, prompt_losses = (int((per_prompt == s).sum()) for s in (1, 0, -1))
        low, high = wilson_interval(wins, wins + losses)
        rows.append(
            {
                "a": a,
                "b": b,
                "wins": wins,
                "ties": ties,
                "losses": losses,
                "win_rate": win_rate(wins, losses),
                "wilson_low": low,
                "wilson_high": high,
                "p_value": float(stats.binomtest(wins, wins + losses).pvalue) if wins + losses else np.nan,
                "mean_preference": float(group["preference"].mean()),
                "n_judgements": len(group),
                "n_prompts": int(group["prompt_id"].nunique()),
                "prompt_wins": prompt_wins,
                "prompt_ties": prompt_ties,
                "prompt_losses": prompt_losses,
                "prompt_win_rate": win_rate(prompt_wins, prompt_losses),
                "prompt_p_value": (
                    float(stats.binomtest(prompt_wins, prompt_wins + prompt_losses).pvalue)
                    if prompt_wins + prompt_losses
                    else np.nan
                ),
            }
        )
    pairs = pd.DataFrame(rows)
    if len(pairs):
        rank = {v: i for i, v in enumerate(order)}
        pairs = pairs.sort_values(["a", "b"], key=lambda s: s.map(rank)).reset_index(drop=True)
        pairs["p_holm"] = holm([None if np.isnan(p) else p for p in pairs["p_value"]])
    return pairs


def win_matrices(frame: pd.DataFrame, order: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Per prompt, W[i, j] = judgements where i was more diverse than j; a tie is half a win each."""
    prompts = sorted(frame["prompt_id"].unique())
    prompt_index = {p: k for k, p in enumerate(prompts)}
    variant_index = {v: k for k, v in enumerate(order)}
    matrices = np.zeros((len(prompts), len(order), len(order)))
    k = frame["prompt_id"].map(prompt_index).to_numpy()
    i = frame["a"].map(variant_index).to_numpy()
    j = frame["b"].map(variant_index).to_numpy()
    outcome = frame["outcome"].to_numpy()
    share_a = np.where(outcome > 0, 1.0, np.where(outcome < 0, 0.0, 0.5))
    np.add.at(matrices, (k, i, j), share_a)
    np.add.at(matrices, (k, j, i), 1.0 - share_a)
    return prompts, matrices


def bradley_terry(
    wins: np.ndarray,
    *,
    regularization: float = BT_REGULARIZATION,
    initial: np.ndarray | None = None,
    tolerance: float = 1e-8,
) -> np.ndarray:
    """Bradley–Terry log-strengths from a win matrix (choix's I-LSR), shifted to sum to zero.

    P(i beats j) = 1 / (1 + exp(θj − θi)). ``regularization`` is choix's ``alpha``; at 0 the strengths
    are the maximum-likelihood estimate (which needs a connected, unseparated design). ``initial``
    starts the iterations (the bootstrap starts from the full sample's strengths); ``tolerance`` is choix's ``tol``.
    """
    strengths = choix.ilsr_pairwise_dense(
        wins, alpha=regularization, initial_params=initial, max_iter=BT_MAX_ITERATIONS, tol=tolerance
    )
    return strengths - strengths.mean()


def _connected(wins: np.ndarray) -> bool:
    linked = (wins + wins.T) > 0
    reached = {0}
    frontier = [0]
    while frontier:
        node = frontier.pop()
        for other in np.flatnonzero(linked[node]):
            if other not in reached:
                reached.add(int(other))
                frontier.append(int(other))
    return len(reached) == len(wins)


def strengths_with_bootstrap(
    judgements: pd.DataFrame, order: Sequence[str], *, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """Bradley–Terry log-strengths with percentile intervals from resampling prompts (scipy's bootstrap)."""
    frame = oriented(judgements, order)
    _, matrices = win_matrices(frame, order)
    total = matrices.sum(axis=0)
    notes = []
    if not _connected(total):
        notes.append(
            "Bradley–Terry: the compared pairs do not link every variant; strengths are not comparable"
        )
    strengths = bradley_terry(total)

    def resampled_strengths(prompts: np.ndarray, axis: int = -1) -> np.ndarray:
        """Strengths of each resample of prompt indices (scipy passes axis=-1), variants on the first axis."""
        rows = prompts.reshape(-1, prompts.shape[-1])
        fits = [
            bradley_terry(matrices[row].sum(axis=0), initial=strengths, tolerance=BT_RESAMPLE_TOLERANCE)
            for row in rows
        ]
        return np.moveaxis(np.reshape(fits, (*prompts.shape[:-1], len(order))), -1, 0)

    if len(matrices) > 1:
        interval = stats.bootstrap(
            (np.arange(len(matrices)),),
            resampled_strengths,
            vectorized=True,
            n_resamples=draws,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = interval.low, interval.high
    else:
        low = high = np.full(len(order), np.nan)
        notes.append("Bradley–Terry: one prompt judged, so no bootstrap interval")
    table = pd.DataFrame(
        {
            "variant": list(order),
            "strength": strengths,
            "ci_low": low,
            "ci_high": high,
            "judgements": (matrices.sum(axis=(0, 2)) + matrices.sum(axis=(0, 1))).astype(int),
        }
    )
    return table, notes


def analyse_diversity(
    judgements: pd.DataFrame, variants: Sequence[str] | None = None, *, seed: int = 0
) -> DiversityResult:
    order = diversity_order(judgements, variants)
    pairs = pair_preferences(judgements, order)
    notes = [
        f"diversity: every {r.a} vs {r.b} judgement is a tie; no win rate"
        for r in pairs.itertuples()
        if r.wins + r.losses == 0
    ]
    strengths = pd.DataFrame()
    if len(order) > 2:
        strengths, bt_notes = strengths_with_bootstrap(judgements, order, seed=seed)
        notes += bt_notes
    return DiversityResult(pairs=pairs, strengths=strengths, notes=notes)
