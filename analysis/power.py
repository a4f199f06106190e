"""How many prompts and raters a study needs for 80% power, from an effect size or a pilot study.

Quality: the paired test on per-prompt mean differences. A prompt's difference varies between
prompts (sd_prompt) and between the raters who hear it (sd_rater), so with k raters its standard
deviation is sqrt(sd_prompt² + sd_rater²/k). Power is the paired t-test's (noncentral t) at the
Wilcoxon test's asymptotic relative efficiency under normality, 3/π: n prompts count as 0.955·n.

Diversity: the exact two-sided binomial test of the win rate among decisive (non-tie) judgements.
Judgements of one prompt by several raters are correlated; the design effect 1 + (k − 1)·ρ, with ρ
the within-prompt intraclass correlation of the outcomes, converts independent judgements into
the number actually needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import special, stats

from .data import CRITERIA
from .diversity import diversity_order, oriented
from .quality import rater_prompt_scores, variant_order
from .stats import oneway_anova

TARGET_POWER = 0.8
ALPHA = 0.05
WILCOXON_EFFICIENCY = 3 / math.pi
MAX_PROMPTS = 100_000
RATER_COUNTS = (1, 2, 3, 5)


def paired_test_power(
    n_prompts: int, *, difference: float, sd_prompt: float, sd_rater: float, raters: int, alpha: float = ALPHA
) -> float:
    """Power of the two-sided signed-rank test on n prompts' mean differences (the paired t-test's power).

    The paired t-test's power at the Wilcoxon test's efficiency, 3/π (see the module docstring).

    Zero below the exact test's floor: with n prompts its smallest two-sided p-value is 2/2^n
    (so at α = 0.05 it needs at least 6 prompts, whatever the effect).
    """
    sd = math.sqrt(sd_prompt**2 + sd_rater**2 / raters)
    if sd == 0:
        return math.nan
    return float(_paired_powers(np.array([n_prompts]), effect=difference / sd, alpha=alpha)[0])


def t_test_power(effect: float, nobs: np.ndarray, alpha: float) -> np.ndarray:
    """statsmodels' two-sided ``ttest_power(effect, nobs, alpha)``, in the same arithmetic (for 0 < alpha < 1
    and nobs > 1, the only ones asked for here).

    The critical values are scipy's ``stats.t.isf``/``ppf`` through ``special.stdtrit`` directly (the
    same numbers, without the generic distribution machinery, which the power searches call a few
    hundred times per report).
    """
    nobs = np.asarray(nobs, dtype=float)
    df = nobs - 1
    noncentrality = effect * np.sqrt(nobs)
    upper, lower = -special.stdtrit(df, alpha / 2), special.stdtrit(df, alpha / 2)
    return (1 - special.nctdtr(df, noncentrality, upper)) + special.nctdtr(df, noncentrality, lower)


def _paired_powers(n_prompts: np.ndarray, *, effect: float, alpha: float) -> np.ndarray:
    """``paired_test_power`` for many prompt counts at once, for a standardised effect."""
    powers = np.zeros(len(n_prompts))
    above_floor = 2.0 ** (1 - n_prompts.astype(float)) <= alpha
    if above_floor.any():
        powers[above_floor] = t_test_power(effect, n_prompts[above_floor] * WILCOXON_EFFICIENCY, alpha)
    # The noncentral t can give NaN far in the tail, where the power is 1.
    return np.where(np.isfinite(powers), powers, 1.0)


def binomial_test_power(decisive: int, *, win_rate: float, alpha: float = ALPHA) -> float:
    """Exact power of scipy's two-sided binomial test at 0.5 with ``decisive`` non-tie judgements.

    At p = 0.5 the two-sided p-value is twice the smaller tail, so the test rejects k ≤ c or
    k ≥ n − c, with c the largest k whose lower tail is at most α/2.
    """
    return float(_binomial_powers(np.array([decisive]), win_rate=win_rate, alpha=alpha)[0])


def _binomial_powers(decisive: np.ndarray, *, win_rate: float, alpha: float) -> np.ndarray:
    """``binomial_test_power`` for many judgement counts at once."""
    critical = stats.binom.ppf(alpha / 2, decisive, 0.5)
    critical = np.where(stats.binom.cdf(critical, decisive, 0.5) > alpha / 2, critical - 1, critical)
    low = stats.binom.cdf(critical, decisive, win_rate)
    high = stats.binom.sf(decisive - critical - 1, decisive, win_rate)
    return np.where(critical < 0, 0.0, low + high)


def _smallest_reaching(
    powers: Callable[[np.ndarray], np.ndarray], target: float, guess: float, *, n_min: int
) -> int | None:
    """Smallest n ≥ n_min whose power, increasing in n, reaches ``target``; None if MAX_PROMPTS does not.

    Brackets the answer by doubling from the guess, then narrows the bracket sixteen-fold a step by
    evaluating 17 evenly spaced sizes at once: three or four evaluations where bisection takes a dozen.
    """
    high = min(max(n_min, math.ceil(guess)), MAX_PROMPTS)
    while powers(np.array([high]))[0] < target:
        if high >= MAX_PROMPTS:
            return None
        high = min(2 * high, MAX_PROMPTS)
    low = n_min  # the answer lies in [low, high]: high reaches, nothing below low counts
    while low < high:
        candidates = np.unique(np.linspace(low, high, 17).round().astype(int))
        first = int(np.argmax(powers(candidates) >= target))
        if first == 0:
            return int(candidates[0])
        low, high = int(candidates[first - 1]) + 1, int(candidates[first])
    return high


def _first_reaching(
    powers: Callable[[np.ndarray], np.ndarray], target: float, guess: float, *, n_min: int
) -> int | None:
    """Smallest n ≥ n_min whose power reaches ``target``, for a power that saw-tooths in n.

    None if even MAX_PROMPTS does not reach. Scans upward in growing blocks, each evaluated at once, from a little below the normal
    approximation's guess, stepping the start further down while it already reaches the target,
    so the first n found is the smallest (the binomial test's power saw-tooths in n).
    """
    start = min(max(n_min, int(0.9 * guess)), MAX_PROMPTS)
    while start > n_min and powers(np.array([start]))[0] >= target:
        start = max(n_min, int(0.8 * start))
    block = max(32, start // 4)
    while start <= MAX_PROMPTS:
        candidates = np.arange(start, min(start + block, MAX_PROMPTS + 1))
        reached = np.flatnonzero(powers(candidates) >= target)
        if len(reached):
            return int(candidates[reached[0]])
        start, block = start + block, 2 * block
    return None


def prompts_for_paired_test(
    *,
    difference: float,
    sd_prompt: float,
    sd_rater: float,
    raters: int,
    power: float = TARGET_POWER,
    alpha: float = ALPHA,
) -> int | None:
    """Fewest prompts giving the paired quality test ``power``; None if beyond MAX_PROMPTS (or no effect)."""
    sd = math.sqrt(sd_prompt**2 + sd_rater**2 / raters)
    if difference == 0 or math.isnan(difference) or sd == 0:
        return None
    z = special.ndtri(1 - alpha / 2) + special.ndtri(power)  # stats.norm.ppf without its argument checks
    guess = (z * sd / difference) ** 2 / WILCOXON_EFFICIENCY + 1
    return _smallest_reaching(
        lambda n: _paired_powers(n, effect=difference / sd, alpha=alpha), power, guess, n_min=3
    )


def decisive_judgements_for_win_rate(
    *, win_rate: float, power: float = TARGET_POWER, alpha: float = ALPHA
) -> int | None:
    """Fewest non-tie judgements giving the exact binomial test ``power`` (smallest n; power saw-tooths in n)."""
    if win_rate == 0.5 or math.isnan(win_rate):
        return None
    z_alpha, z_power = special.ndtri(1 - alpha / 2), special.ndtri(power)
    guess = ((z_alpha * 0.5 + z_power * math.sqrt(win_rate * (1 - win_rate))) / (win_rate - 0.5)) ** 2
    return _first_reaching(
        lambda n: _binomial_powers(n, win_rate=win_rate, alpha=alpha), power, guess, n_min=1
    )


def prompts_for_win_rate(
    *,
    win_rate: float,
    tie_rate: float = 0.0,
    raters: int = 3,
    within_prompt_correlation: float = 0.0,
    power: float = TARGET_POWER,
    alpha: float = ALPHA,
) -> int | None:
    """Fewest prompts (each judged by ``raters``) for the diversity win-rate test to reach ``power``."""
    decisive = decisive_judgements_for_win_rate(win_rate=win_rate, power=power, alpha=alpha)
    if decisive is None or tie_rate >= 1:
        return None
    design_effect = 1 + (raters - 1) * max(0.0, within_prompt_correlation)
    judgements = decisive * design_effect / (1 - tie_rate)
    return math.ceil(judgements / raters)


def _variance_split(differences: pd.Series) -> tuple[float, float, float]:
    """sd between prompts of the true difference, sd of one rater's difference, and raters per prompt."""
    prompts = differences.index.get_level_values("prompt_id")
    anova = oneway_anova(pd.Series(prompts), differences.reset_index(drop=True))
    if anova is None:
        return float(differences.std(ddof=1)) if len(differences) > 1 else math.nan, 0.0, 1.0
    between, within, k0 = anova
    return math.sqrt(max(0.0, (between - within) / k0)), math.sqrt(within), k0


def quality_power_table(
    ratings: pd.DataFrame,
    variants: Sequence[str] | None = None,
    *,
    rater_counts: Sequence[int] = RATER_COUNTS,
) -> pd.DataFrame:
    """Per pair and criterion of a pilot: its effect and spread, power now, and prompts needed per rater count."""
    scores = {
        criterion: rows.droplevel(0) for criterion, rows in rater_prompt_scores(ratings).groupby(level=0)
    }
    rows = []
    for a, b in combinations(variant_order(ratings, variants), 2):
        for criterion in CRITERIA:
            if criterion not in scores or not {a, b} <= set(scores[criterion].columns):
                continue
            differences = (scores[criterion][a] - scores[criterion][b]).dropna()
            if len(differences) < 2:
                continue
            difference = float(differences.groupby(level="prompt_id").mean().mean())
            sd_prompt, sd_rater, raters = _variance_split(differences)
            n_now = differences.index.get_level_values("prompt_id").nunique()
            row = {"a": a, "b": b, "criterion": criterion, "difference": difference}
            row |= {"sd_prompt": sd_prompt, "sd_rater": sd_rater, "n_prompts": n_now, "raters": raters}
            spread = {"difference": difference, "sd_prompt": sd_prompt, "sd_rater": sd_rater}
            row["power_now"] = paired_test_power(n_now, raters=max(1, round(raters)), **spread)
            for k in rater_counts:
                row[f"prompts_for_80_with_{k}_raters"] = prompts_for_paired_test(raters=k, **spread)
            rows.append(row)
    return _whole_prompt_counts(pd.DataFrame(rows))


def _whole_prompt_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Prompt counts as nullable integers (missing: not reachable), not floats."""
    for column in table.columns:
        if column.startswith("prompts_for_80_with_"):
            table[column] = table[column].astype("Int64")
    return table


def diversity_power_table(
    judgements: pd.DataFrame,
    variants: Sequence[str] | None = None,
    *,
    rater_counts: Sequence[int] = RATER_COUNTS,
) -> pd.DataFrame:
    """Per compared pair of a pilot: win rate, tie rate, within-prompt correlation, prompts needed per rater count."""
    frame = oriented(judgements, diversity_order(judgements, variants))
    rows = []
    for (a, b), group in frame.groupby(["a", "b"], sort=False):
        wins, losses = int((group["outcome"] > 0).sum()), int((group["outcome"] < 0).sum())
        rate = wins / (wins + losses) if wins + losses else math.nan
        anova = oneway_anova(group["prompt_id"], group["outcome"])
        correlation = 0.0
        if anova is not None and anova[0] + (anova[2] - 1) * anova[1] > 0:
            between, within, k0 = anova
            correlation = max(0.0, (between - within) / (between + (k0 - 1) * within))
        row = {"a": a, "b": b, "win_rate": rate, "tie_rate": float((group["outcome"] == 0).mean())}
        row |= {"within_prompt_correlation": correlation, "n_prompts": int(group["prompt_id"].nunique())}
        row["power_now"] = binomial_test_power(wins + losses, win_rate=rate) if wins + losses else math.nan
        for k in rater_counts:
            row[f"prompts_for_80_with_{k}_raters"] = prompts_for_win_rate(
                win_rate=rate, tie_rate=row["tie_rate"], raters=k, within_prompt_correlation=correlation
            )
        rows.append(row)
    return _whole_prompt_counts(pd.DataFrame(rows))
