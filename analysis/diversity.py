"""Diversity study: pairwise preference scores, their tests, and Bradley–Terry strengths.

A judgement says which of two pairs of clips sounds more diverse on −2..+2, negative favouring
``variant_a``. Every analysis here first orients it from the side of the pair's first variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    return bradley_terry_many(
        wins[None], regularization=regularization, initial=initial, tolerance=tolerance
    )[0]


def bradley_terry_many(
    wins: np.ndarray,
    *,
    regularization: float = BT_REGULARIZATION,
    initial: np.ndarray | None = None,
    tolerance: float = 1e-8,
) -> np.ndarray:
    """``bradley_terry`` of each win matrix in a stack (shape fits × k × k), all fits iterated at once.

    choix's ``ilsr_pairwise_dense`` step by step, in numpy over the stack: each iteration is one Luce
    spectral ranking (the stationary distribution of a k-state Markov chain whose rates are the wins
    over the current weights), and a fit stops, as choix's does, at the first iteration that moves its
    centred strengths by at most ``tolerance`` × k (L1) from the iteration before. The bootstrap's 2000
    fits take one numpy pass per iteration instead of 2000 calls of choix (tests compare the two).
    """
    fits, k = wins.shape[0], wins.shape[-1]
    diagonal = np.arange(k)
    rates_in = np.swapaxes(wins, -1, -2)
    params = np.zeros((fits, k)) if initial is None else np.broadcast_to(initial, (fits, k)).astype(float)
    result = np.empty((fits, k))
    running = np.arange(fits)
    previous = None
    for _ in range(BT_MAX_ITERATIONS):
        weights = np.exp(params - params.mean(axis=1, keepdims=True))
        weights *= k / weights.sum(axis=1, keepdims=True)
        chain = regularization + rates_in[running] / (weights[:, :, None] + weights[:, None, :])
        chain[:, diagonal, diagonal] -= chain.sum(axis=2)
        # The stationary distribution π: πᵀ·chain = 0 with Σπ = 1 in place of the last (redundant) equation.
        balance = np.swapaxes(chain, 1, 2)
        balance[:, -1, :] = 1.0
        unit = np.zeros((len(running), k, 1))
        unit[:, -1] = 1.0
        logs = np.log(np.linalg.solve(balance, unit)[:, :, 0])
        params = logs - logs.mean(axis=1, keepdims=True)
        if previous is not None:
            done = np.abs(previous - params).sum(axis=1) <= tolerance * k
            result[running[done]] = params[done]
            running, params = running[~done], params[~done]
            if not len(running):
                return result - result.mean(axis=1, keepdims=True)
        previous = params
    raise RuntimeError(f"Bradley–Terry: did not converge after {BT_MAX_ITERATIONS} iterations")


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
        # How often each prompt is drawn in each resample; its win matrices summed that many times
        # (sums of halves, so exact in any order).
        draws = np.zeros((len(rows), len(matrices)))
        np.add.at(draws, (np.arange(len(rows))[:, None], rows), 1.0)
        resampled_wins = (draws @ matrices.reshape(len(matrices), -1)).reshape(-1, len(order), len(order))
        fits = bradley_terry_many(resampled_wins, initial=strengths, tolerance=BT_RESAMPLE_TOLERANCE)
        return np.moveaxis(fits.reshape(*prompts.shape[:-1], len(order)), -1, 0)

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
