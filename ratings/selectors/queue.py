"""The claim queue's reads: what a rater may claim next, what they hold, how far they are."""

import math
from dataclasses import dataclass

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet

from ..models import (
    Assignment,
    AssignmentStatus,
    CheckItem,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    Rater,
    Study,
    TaskKind,
)

# --- what a rater may claim ----------------------------------------------------------------------


def prompt_quality_clips(prompt: Prompt) -> list[Clip]:
    """The clips a quality assignment shows: one per variant, its lowest sample index."""
    first_samples = (
        Clip.objects.filter(prompt=prompt).values("variant_id").annotate(first=Min("sample_index"))
    )
    wanted = Q(pk__in=[])
    for row in first_samples:
        wanted |= Q(variant_id=row["variant_id"], sample_index=row["first"])
    return list(Clip.objects.filter(prompt=prompt).filter(wanted).select_related("variant"))


def quality_prompts_claimable_by(rater: Rater) -> QuerySet[Prompt]:
    """Prompts of the rater's study with a free rater slot that the rater has not had, least covered first."""
    if not rater.study.quality_part:
        return Prompt.objects.none()
    return (
        Prompt.objects.filter(study_id=rater.study_id, quality_slots_taken__lt=rater.study.raters_per_prompt)
        .filter(clips__isnull=False)
        .exclude(quality_assignments__rater=rater)
        .distinct()
        .order_by("quality_slots_taken", "id")
    )


def _two_clips(variant: str) -> Exists:
    """The comparison's prompt has at least two clips of its `variant` ("variant_x" or "variant_y")."""
    clips = Clip.objects.filter(prompt=OuterRef("prompt"), variant=OuterRef(variant))
    return Exists(clips.values("prompt").annotate(n=Count("pk")).filter(n__gte=2))


def diversity_comparisons_open(study: Study) -> QuerySet[DiversityComparison]:
    """Comparisons with a free rater slot that raters can be shown: two clips of each variant. One made
    by import_ratings from judgements collected elsewhere may lack them, and is then never handed out."""
    return DiversityComparison.objects.filter(
        _two_clips("variant_x"), _two_clips("variant_y"), study=study, slots_taken__lt=study.raters_per_prompt
    )


def diversity_comparisons_claimable_by(rater: Rater) -> QuerySet[DiversityComparison]:
    """Open comparisons that the rater has not judged, least covered first."""
    return (
        diversity_comparisons_open(rater.study)
        .exclude(assignments__rater=rater)
        .order_by("slots_taken", "id")
    )


def claimable_by(rater: Rater, kind: str) -> QuerySet:
    if kind == TaskKind.QUALITY:
        return quality_prompts_claimable_by(rater)
    return diversity_comparisons_claimable_by(rater)


def study_task_kinds(study: Study) -> tuple[str, ...]:
    """The parts a study has: quality (on unless turned off), diversity (once comparisons are planned)."""
    kinds = (TaskKind.QUALITY.value,) if study.quality_part else ()
    return kinds + ((TaskKind.DIVERSITY.value,) if study.diversity_part else ())


def rater_open_quality_assignment(rater: Rater) -> QualityAssignment | None:
    return rater.quality_assignments.filter(status=AssignmentStatus.OPEN).first()


def rater_open_diversity_assignment(rater: Rater) -> DiversityAssignment | None:
    return rater.diversity_assignments.filter(status=AssignmentStatus.OPEN).first()


def rater_open_assignment(rater: Rater, kinds: tuple[str, ...] | None = None) -> Assignment | None:
    for kind in study_task_kinds(rater.study) if kinds is None else kinds:
        found = (
            rater_open_quality_assignment(rater)
            if kind == TaskKind.QUALITY
            else rater_open_diversity_assignment(rater)
        )
        if found is not None:
            return found
    return None


def assignment_kind(assignment: Assignment) -> str:
    return (TaskKind.QUALITY if isinstance(assignment, QualityAssignment) else TaskKind.DIVERSITY).value


@dataclass(frozen=True)
class RaterCounts:
    """Assignments a rater took (withdrawn ones left out), split into ordinary and check items."""

    regular: dict[str, int]
    checks: int
    submitted: int
    open: int

    @property
    def taken(self) -> int:
        return sum(self.regular.values()) + self.checks


def counts_from(rows: list[tuple[str, int | None, str]]) -> RaterCounts:
    """Counts from (kind, check_item_id, status) of a rater's assignments."""
    regular = {kind: 0 for kind in TaskKind.values}
    checks = submitted = open_ = 0
    for kind, check_item_id, status in rows:
        if status == AssignmentStatus.WITHDRAWN:
            continue
        if check_item_id is None:
            regular[kind] += 1
        else:
            checks += 1
        submitted += status == AssignmentStatus.SUBMITTED
        open_ += status == AssignmentStatus.OPEN
    return RaterCounts(regular, checks, submitted, open_)


def rater_counts(rater: Rater) -> RaterCounts:
    rows = [
        (TaskKind.QUALITY.value, *row)
        for row in rater.quality_assignments.values_list("check_item_id", "status")
    ]
    if rater.study.diversity_part:  # without it the rater cannot have a diversity item: spare the query
        rows += [
            (TaskKind.DIVERSITY.value, *row)
            for row in rater.diversity_assignments.values_list("check_item_id", "status")
        ]
    return counts_from(rows)


def attention_check_due(rater: Rater, counts: RaterCounts) -> bool:
    """Whether the next item should be a check: checks so far < rate × (ordinary items so far + 1)."""
    rate = rater.study.attention_rate
    return rate > 0 and counts.checks < math.floor(rate * (sum(counts.regular.values()) + 1) + 1e-9)


@dataclass(frozen=True)
class RaterProgress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def rater_progress(rater: Rater) -> RaterProgress:
    """Items submitted, and the most this rater can do: taken + still claimable (+ checks to come), capped."""
    claimable = {kind: claimable_by(rater, kind).count() for kind in study_task_kinds(rater.study)}

    def unseen_prompts() -> int:
        return (
            Prompt.objects.filter(study_id=rater.study_id, clips__isnull=False)
            .exclude(quality_assignments__rater=rater)
            .distinct()
            .count()
        )

    return progress_from_counts(rater.study, rater_counts(rater), claimable, unseen_prompts)


def progress_from_counts(
    study: Study, counts: RaterCounts, claimable: dict[str, int], unseen_prompts
) -> RaterProgress:
    """The one rule of rater_progress, fed by per-rater queries or by the dashboard's bulk ones.

    A quality check shows a prompt the rater has not met (a rater meets a prompt once): one already
    covered if there is any (`unseen_prompts()` minus the claimable ones), else one they could have
    rated, which the total then loses. Checks alternate between the parts of a study that has both.
    """
    kinds = study_task_kinds(study)
    total = counts.taken + sum(claimable.values())
    rate = study.attention_rate
    if sum(claimable.values()) and rate > 0:
        regular_total = sum(counts.regular.values()) + sum(claimable.values())
        checks_to_come = max(0, math.floor(rate * regular_total + 1e-9) - counts.checks)
        total += checks_to_come
        if TaskKind.QUALITY in kinds and checks_to_come:
            quality_checks = checks_to_come if len(kinds) == 1 else math.ceil(checks_to_come / 2)
            spare = unseen_prompts() - claimable[TaskKind.QUALITY]
            total -= min(claimable[TaskKind.QUALITY], max(0, quality_checks - spare))
    if study.max_items_per_rater is not None:
        total = min(total, max(study.max_items_per_rater, counts.taken))
    return RaterProgress(done=counts.submitted, total=total)


def check_items_unseen_by(rater: Rater, kind: str) -> QuerySet[CheckItem]:
    """Gold items of this kind the rater has not met (attention items are made for one rater)."""
    seen = Q(quality_assignments__rater=rater) | Q(diversity_assignments__rater=rater)
    items = CheckItem.objects.filter(
        study_id=rater.study_id, kind=kind, source=CheckItem.Source.GOLD
    ).exclude(seen)
    if kind == TaskKind.QUALITY:
        items = items.exclude(prompt__quality_assignments__rater=rater)
    return items.distinct()
