"""Planning the diversity study: which comparisons (prompt, two variants) raters will judge."""

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from ..errors import ServiceError
from ..models import (
    Clip,
    DiversityComparison,
    Study,
)

DIVERSITY_PROMPTS_DEFAULT = 50


# --- diversity plan --------------------------------------------------------------------------------


@dataclass
class DiversityPlanResult:
    prompts: int
    pairs: list[tuple[str, str]]
    comparisons_created: int


@transaction.atomic
def diversity_plan(
    *,
    study: Study,
    variants: Iterable[str],
    baseline: str | None = None,
    prompts: int = DIVERSITY_PROMPTS_DEFAULT,
    seed: int = 0,
    diversity_only: bool = False,
) -> DiversityPlanResult:
    """Plan the diversity comparisons: every pair of the variants, or each against the baseline, on
    `prompts` prompts (drawn with `seed`) where every variant has at least two samples.
    Planning again adds what is missing and never removes a comparison. `diversity_only` turns the
    study's quality part off."""
    names = list(dict.fromkeys(v.strip() for v in variants if v.strip()))
    if baseline and baseline not in names:
        names.insert(0, baseline)
    if len(names) < 2:
        raise ServiceError("a diversity study needs at least two variants")
    if prompts < 1:
        raise ServiceError("prompts must be at least 1")
    known = {v.name: v for v in study.variants.filter(name__in=names)}
    missing = [name for name in names if name not in known]
    if missing:
        raise ServiceError(f"variant(s) {', '.join(missing)} not in study {study.slug}")
    samples = (
        Clip.objects.filter(prompt__study=study, variant__name__in=names)
        .values("prompt_id", "variant__name")
        .annotate(n=Count("id"))
    )
    enough: dict[int, set[str]] = {}
    for row in samples:
        if row["n"] >= 2:
            enough.setdefault(row["prompt_id"], set()).add(row["variant__name"])
    for name in names:
        if not any(name in have for have in enough.values()):
            raise ServiceError(
                f"variant {name} has fewer than 2 samples for every prompt; a diversity study needs 2 per prompt "
                "(import them with distinct sample_index)"
            )
    eligible = sorted(prompt_id for prompt_id, have in enough.items() if have >= set(names))
    if not eligible:
        raise ServiceError(f"no prompt has 2 samples of each of {', '.join(names)}")
    chosen = sorted(random.Random(seed).sample(eligible, min(prompts, len(eligible))))
    if baseline:
        pairs = [(known[baseline], known[name]) for name in names if name != baseline]
    else:
        pairs = [(known[a], known[b]) for a, b in itertools.combinations(names, 2)]
    created = 0
    for prompt_id in chosen:
        for first, second in pairs:
            x, y = sorted((first, second), key=lambda v: v.pk)
            _, was_created = DiversityComparison.objects.get_or_create(
                study=study, prompt_id=prompt_id, variant_x=x, variant_y=y
            )
            created += was_created
    study.diversity_part = True
    study.quality_part = study.quality_part and not diversity_only
    study.save(update_fields=["diversity_part", "quality_part"])
    return DiversityPlanResult(len(chosen), [(a.name, b.name) for a, b in pairs], created)
