"""The researcher's dashboard: coverage per prompt and comparison, and one row per rater."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q

from ..models import (
    Assignment,
    AssignmentStatus,
    Clip,
    DiversityAssignment,
    QualityAssignment,
    Rater,
    RaterFlag,
    Study,
    TaskKind,
)
from .queue import (
    RaterProgress,
    assignment_kind,
    counts_from,
    diversity_comparisons_open,
    progress_from_counts,
    study_task_kinds,
)
from .screening import is_imported


def study_coverage(study: Study) -> dict[str, int]:
    """Prompt external id → raters who submitted it and count (excluded raters do not)."""
    rows = study.prompts.annotate(
        submitted=Count(
            "quality_assignments",
            filter=Q(
                quality_assignments__status=AssignmentStatus.SUBMITTED,
                quality_assignments__holds_slot=True,
                quality_assignments__check_item__isnull=True,
            ),
        )
    ).values_list("external_id", "submitted")
    return dict(rows)


def study_diversity_coverage(study: Study) -> list[dict]:
    """Per planned comparison: prompt, the two variants, valid submitted judgements and slots taken."""
    comparisons = (
        study.diversity_comparisons.select_related("prompt", "variant_x", "variant_y")
        .annotate(
            submitted=Count(
                "assignments",
                filter=Q(assignments__status=AssignmentStatus.SUBMITTED, assignments__holds_slot=True),
            )
        )
        .order_by("prompt__external_id", "variant_x__name", "variant_y__name")
    )
    return [
        {
            "prompt_id": c.prompt.external_id,
            "variants": (c.variant_x.name, c.variant_y.name),
            "submitted": c.submitted,
            "slots_taken": c.slots_taken,
        }
        for c in comparisons
    ]


# --- the researcher's dashboard ---------------------------------------------------------------


@dataclass
class RaterRow:
    rater: Rater
    progress: RaterProgress
    seconds_spent: float
    checks_failed: int
    checks_total: int
    flags: list[RaterFlag]
    open_items: list[tuple[str, Assignment]]  # (kind, assignment)
    last_activity: datetime | None

    @property
    def excluded(self) -> bool:
        return any(flag.active for flag in self.flags)


@dataclass
class StudyDashboard:
    study: Study
    kinds: list[str]
    quality_coverage: list[dict] = field(default_factory=list)
    diversity_coverage: list[dict] = field(default_factory=list)
    raters: list[RaterRow] = field(default_factory=list)
    check_items: int = 0

    @property
    def quality_done(self) -> int:
        return sum(min(row["submitted"], self.study.raters_per_prompt) for row in self.quality_coverage)

    @property
    def quality_target(self) -> int:
        return len(self.quality_coverage) * self.study.raters_per_prompt

    @property
    def diversity_done(self) -> int:
        return sum(min(row["submitted"], self.study.raters_per_prompt) for row in self.diversity_coverage)

    @property
    def diversity_target(self) -> int:
        return len(self.diversity_coverage) * self.study.raters_per_prompt


def study_dashboard(study: Study) -> StudyDashboard:
    """Everything the dashboard shows, in a handful of queries however many raters there are."""
    kinds = study_task_kinds(study)
    board = StudyDashboard(study=study, kinds=kinds, check_items=study.check_items.count())
    with_clips = set(
        study.prompts.filter(Exists(Clip.objects.filter(prompt=OuterRef("pk")))).values_list("id", flat=True)
    )
    open_prompts, open_comparisons = set(), set()
    if TaskKind.QUALITY in kinds:
        coverage = study_coverage(study)
        prompts = study.prompts.filter(pk__in=with_clips).order_by("external_id")
        board.quality_coverage = [
            {
                "prompt_id": p.external_id,
                "text": p.text,
                "submitted": coverage[p.external_id],
                "slots_taken": p.quality_slots_taken,
            }
            for p in prompts
        ]
        open_prompts = {p.pk for p in prompts if p.quality_slots_taken < study.raters_per_prompt}
    if TaskKind.DIVERSITY in kinds:
        open_comparisons = set(diversity_comparisons_open(study).values_list("id", flat=True))
    board.diversity_coverage = study_diversity_coverage(study)
    by_rater: dict[int, list[Assignment]] = {}
    for model in (QualityAssignment, DiversityAssignment):
        for assignment in model.objects.filter(rater__study=study).select_related("prompt"):
            by_rater.setdefault(assignment.rater_id, []).append(assignment)
    for rater in study.raters.prefetch_related("flags").order_by("created_at", "id"):
        rater.study = study
        assignments = by_rater.get(rater.pk, [])
        seen_prompts = {a.prompt_id for a in assignments if isinstance(a, QualityAssignment)}
        seen_comparisons = {a.comparison_id for a in assignments if isinstance(a, DiversityAssignment)}
        claimable = {}
        if TaskKind.QUALITY in kinds:
            claimable[TaskKind.QUALITY.value] = len(open_prompts - seen_prompts)
        if TaskKind.DIVERSITY in kinds:
            claimable[TaskKind.DIVERSITY.value] = len(open_comparisons - seen_comparisons)
        counts = counts_from([(assignment_kind(a), a.check_item_id, a.status) for a in assignments])
        submitted = [a for a in assignments if a.status == AssignmentStatus.SUBMITTED and not is_imported(a)]
        checks = [
            a for a in assignments if a.check_item_id is not None and a.status == AssignmentStatus.SUBMITTED
        ]
        board.raters.append(
            RaterRow(
                rater=rater,
                progress=progress_from_counts(
                    study, counts, claimable, lambda seen=seen_prompts: len(with_clips - seen)
                ),
                seconds_spent=sum((a.submitted_at - a.created_at).total_seconds() for a in submitted),
                checks_failed=sum(1 for a in checks if a.check_passed is False),
                checks_total=len(checks),
                flags=list(rater.flags.all()),
                open_items=[
                    (assignment_kind(a), a) for a in assignments if a.status == AssignmentStatus.OPEN
                ],
                last_activity=max((a.submitted_at or a.created_at for a in assignments), default=None),
            )
        )
    return board
