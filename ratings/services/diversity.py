"""The diversity task: two pairs of clips of one prompt; which pair is more diverse."""

import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from .. import selectors
from ..models import (
    AssignmentStatus,
    CheckItem,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    Rater,
    Study,
    TaskKind,
    Variant,
)
from .errors import ServiceError, SubmissionRejected
from .quality_control import check_recorded
from .submissions import ClipListening, SubmitResult, listening_problems, locked_for_submission

DIVERSITY_PROMPTS_DEFAULT = 50


def _two_samples(prompt: Prompt, variant: Variant, rng: random.Random) -> list[int]:
    ids = list(Clip.objects.filter(prompt=prompt, variant=variant).values_list("id", flat=True))
    if len(ids) < 2:
        raise ServiceError(
            f"variant {variant.name} has {len(ids)} sample(s) for prompt {prompt.external_id}; a diversity "
            "comparison needs 2"
        )
    return rng.sample(ids, 2)


def diversity_claim(rater: Rater) -> DiversityAssignment | None:
    limit = rater.study.raters_per_prompt
    rng = random.SystemRandom()
    for comparison_id in selectors.diversity_comparisons_claimable_by(rater).values_list("id", flat=True):
        claimed = DiversityComparison.objects.filter(pk=comparison_id, slots_taken__lt=limit).update(
            slots_taken=F("slots_taken") + 1
        )
        if claimed:
            comparison = DiversityComparison.objects.select_related("prompt", "variant_x", "variant_y").get(
                pk=comparison_id
            )
            variant_a, variant_b = rng.sample([comparison.variant_x, comparison.variant_y], 2)
            return DiversityAssignment.objects.create(
                rater=rater,
                comparison=comparison,
                prompt=comparison.prompt,
                variant_a=variant_a,
                variant_b=variant_b,
                clips_a=_two_samples(comparison.prompt, variant_a, rng),
                clips_b=_two_samples(comparison.prompt, variant_b, rng),
            )
    return None


def diversity_attention_item(rater: Rater, rng: random.Random) -> CheckItem | None:
    """A comparison in which one pair is the same clip twice: the other pair must be judged more diverse."""
    comparisons = list(selectors.diversity_comparisons_claimable_by(rater).select_related("prompt")[:20])
    if not comparisons:
        return None
    comparison = rng.choice(comparisons)
    same, other = rng.sample([comparison.variant_x, comparison.variant_y], 2)
    twin = rng.choice(
        list(Clip.objects.filter(prompt=comparison.prompt, variant=same).values_list("id", flat=True))
    )
    pairs = {"A": [twin, twin], "B": _two_samples(comparison.prompt, other, rng)}
    expected = [1, 2]  # B more diverse
    if rng.random() < 0.5:
        pairs = {"A": pairs["B"], "B": pairs["A"]}
        expected = [-2, -1]
    return CheckItem.objects.create(
        study_id=rater.study_id,
        kind=TaskKind.DIVERSITY,
        source=CheckItem.Source.ATTENTION,
        prompt=comparison.prompt,
        clips=pairs,
        expected={"choice": expected},
        note=f"identical clips as one pair of {comparison}",
    )


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


@dataclass
class DiversitySubmission:
    choice: int | None  # −2 (A much more diverse) … +2 (B much more diverse)
    listening: Mapping[str, ClipListening] = field(default_factory=dict)  # A1, A2, B1, B2 → evidence


def diversity_judgement_submit(
    *, assignment: DiversityAssignment, submission: DiversitySubmission
) -> SubmitResult:
    """Store the answer of one comparison, exactly once; refused like quality_rating_submit when the
    answer is missing or outside −2..+2 or a clip was not played to the end."""
    with transaction.atomic():
        locked = locked_for_submission(DiversityAssignment, assignment)
        if isinstance(locked, SubmitResult):
            return locked
        assignment = locked
        labelled = selectors.diversity_clips_in_order(assignment)
        problems = []
        if submission.choice is None:
            problems.append("Choose which pair is more diverse.")
        elif not -2 <= submission.choice <= 2:
            problems.append(f"The answer must be between -2 and +2, not {submission.choice}.")
        problems += listening_problems(labelled, submission.listening)
        if problems:
            raise SubmissionRejected(problems[0], problems)
        assignment.choice = submission.choice
        assignment.status = AssignmentStatus.SUBMITTED
        assignment.submitted_at = timezone.now()
        assignment.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        assignment.save(update_fields=["choice", "status", "submitted_at", "listening"])
        if assignment.check_item_id is not None:
            low, high = assignment.check_item.expected["choice"]
            check_recorded(assignment, low <= assignment.choice <= high)
    return SubmitResult(assignment, already_submitted=False)
