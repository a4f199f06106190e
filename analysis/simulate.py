"""Simulated studies with planted effects: what the tests recover and the benchmark times.

Quality: score = round(3 + variant effect + rater bias + prompt difficulty + noise), clipped to 1–5.
Diversity: each judgement compares latent diversity strengths plus noise, on the −2..+2 scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from .data import CRITERIA

DEFAULT_VARIANTS = ("base", "cfg_g3", "distilled", "diversity_b15", "lerp_50", "temperature_0.8")


def simulate_quality(
    *,
    n_prompts: int = 100,
    raters_per_prompt: int = 3,
    n_raters: int = 30,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    effects: Mapping[str, Mapping[str, float]] | None = None,
    rater_bias_sd: float = 0.5,
    prompt_sd: float = 0.5,
    noise_sd: float = 0.7,
    seed: int = 0,
) -> pd.DataFrame:
    """Ratings in the ratings.csv format; ``effects[variant][criterion]`` shifts the latent score."""
    rng = np.random.default_rng(seed)
    effects = effects or {}
    rater_bias = rng.normal(0.0, rater_bias_sd, n_raters)
    prompt_difficulty = rng.normal(0.0, prompt_sd, n_prompts)
    rows = []
    for prompt in range(n_prompts):
        for rater in rng.choice(n_raters, size=raters_per_prompt, replace=False):
            for variant in variants:
                for criterion in CRITERIA:
                    latent = (
                        3.0
                        + effects.get(variant, {}).get(criterion, 0.0)
                        + rater_bias[rater]
                        + prompt_difficulty[prompt]
                        + rng.normal(0.0, noise_sd)
                    )
                    rows.append((f"r{rater:03d}", f"p{prompt:03d}", variant, criterion, latent))
    frame = pd.DataFrame(rows, columns=["rater_id", "prompt_id", "variant", "criterion", "latent"])
    frame["score"] = frame.pop("latent").round().clip(1, 5).astype(int)
    frame["created_at"] = "2026-01-01T00:00:00+00:00"
    return frame


def simulate_diversity(
    *,
    n_prompts: int = 50,
    raters_per_comparison: int = 3,
    n_raters: int = 30,
    strengths: Mapping[str, float] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    noise_sd: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Judgements in the diversity.csv format; a higher strength means judged more diverse."""
    rng = np.random.default_rng(seed)
    strengths = dict(strengths or {"base": 0.0, "cfg_g3": -0.8, "distilled": -0.6, "diversity_b15": 0.6})
    pairs = list(pairs) if pairs is not None else list(combinations(strengths, 2))
    rows = []
    for prompt in range(n_prompts):
        for first, second in pairs:
            for rater in rng.choice(n_raters, size=raters_per_comparison, replace=False):
                # Positions are random, as in the protocol: half the time the pair is shown reversed.
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                margin = strengths[b] - strengths[a] + rng.normal(0.0, noise_sd)
                choice = int(np.clip(np.round(margin), -2, 2))
                rows.append((f"r{rater:03d}", f"d{prompt:03d}", a, b, choice))
    frame = pd.DataFrame(rows, columns=["rater_id", "prompt_id", "variant_a", "variant_b", "choice"])
    frame["created_at"] = "2026-01-01T00:00:00+00:00"
    return frame
