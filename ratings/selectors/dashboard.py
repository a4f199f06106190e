"""The researcher's dashboard: coverage per planned item of each kind, and one row per rater."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Avg, Count, QuerySet

from formats import CRITERIA

from ..kinds import KINDS, TaskKind
from ..models import QualityRating, Rater, RaterFlag, Study, Task, TaskStatus, Variant
from .queue import RaterProgress, study_raters_progress, study_task_kinds
from .screening import is_imported


def study_coverage(study: Study) -> dict[str, int]:
    """Prompt external id → raters who submitted its quality task and count (excluded raters do not)."""
    return {row["prompt_id"]: row["submitted"] for row in KINDS["quality"].coverage(study)}


def study_diversity_coverage(study: Study) -> list[dict]:
    """Per planned comparison: prompt, the two variants, valid submitted judgements and slots taken."""
    return KINDS["diversity"].coverage(study)


@dataclass
class RaterRow:
    rater: Rater
    progress: RaterProgress
    seconds_spent: float
    checks_failed: int
    checks_total: int
    flags: list[RaterFlag]
    open_items: list[Task]
    last_activity: datetime | None

    @property
    def excluded(self) -> bool:
        return any(flag.active for flag in self.flags)


@dataclass
class KindCoverage:
    """One part of the study on the dashboard: its planned items and how far they are."""

    kind: TaskKind
    rows: list[dict]
    raters_per_item: int

    @property
    def done(self) -> int:
        return sum(min(row["submitted"], self.raters_per_item) for row in self.rows)

    @property
    def target(self) -> int:
        return len(self.rows) * self.raters_per_item


# The automatic metrics a launch records with each variant (MISSION.md section 3), in the order shown.
METRICS = {
    "text_adherence": "Text adherence (MuLan)",
    "diversity_reward": "Diversity (reward embedding)",
    "diversity_heldout": "Diversity (held-out embedding)",
}


@dataclass
class VariantRow:
    """A variant with its automatic metrics beside its human ratings so far (mean score per criterion
    over the valid ratings: submitted, not a check item, rater not excluded)."""

    variant: Variant
    metrics: list[float | None]
    human: list[float | None]
    ratings: int


def study_variants_summary(study: Study) -> list[VariantRow]:
    """One row per variant, in two queries."""
    means: dict[tuple[int, str], tuple[float, int]] = {
        (row["clip__variant_id"], row["criterion"]): (row["mean"], row["n"])
        for row in QualityRating.objects.filter(
            clip__variant__study=study,
            task__status=TaskStatus.SUBMITTED,
            task__check_item=None,
            task__rater__excluded=False,
        )
        .values("clip__variant_id", "criterion")
        .annotate(mean=Avg("score"), n=Count("id"))
    }
    rows = []
    for variant in study.variants.order_by("name"):
        recorded = variant.provenance.get("metrics", {})
        rows.append(
            VariantRow(
                variant=variant,
                metrics=[recorded.get(name) for name in METRICS],
                human=[means.get((variant.pk, c), (None, 0))[0] for c in CRITERIA],
                ratings=sum(means.get((variant.pk, c), (None, 0))[1] for c in CRITERIA),
            )
        )
    return rows


@dataclass
class StudyDashboard:
    study: Study
    kinds: tuple[str, ...]
    variants: list[VariantRow] = field(default_factory=list)
    parts: list[KindCoverage] = field(default_factory=list)
    raters: list[RaterRow] = field(default_factory=list)
    check_items: int = 0


def study_dashboard(study: Study) -> StudyDashboard:
    """Everything the dashboard shows, in a handful of queries however many raters there are."""
    kinds = study_task_kinds(study)
    board = StudyDashboard(
        study=study,
        kinds=kinds,
        check_items=study.check_items.count(),
        variants=study_variants_summary(study),
    )
    for name in kinds:
        rows = KINDS[name].coverage(study)
        if rows:
            board.parts.append(KindCoverage(KINDS[name], rows, study.raters_per_prompt))
    by_rater: dict[int, list[Task]] = {}
    for task in Task.objects.filter(rater__study=study).select_related("prompt"):
        by_rater.setdefault(task.rater_id, []).append(task)
    progress = study_raters_progress(study, by_rater)
    for rater in study.raters.prefetch_related("flags").order_by("created_at", "id"):
        rater.study = study
        tasks = by_rater.get(rater.pk, [])
        submitted = [t for t in tasks if t.status == TaskStatus.SUBMITTED and not is_imported(t)]
        checks = [t for t in tasks if t.check_item_id is not None and t.status == TaskStatus.SUBMITTED]
        board.raters.append(
            RaterRow(
                rater=rater,
                progress=progress[rater.pk],
                seconds_spent=sum((t.submitted_at - t.created_at).total_seconds() for t in submitted),
                checks_failed=sum(1 for t in checks if t.check_passed is False),
                checks_total=len(checks),
                flags=list(rater.flags.all()),
                open_items=[t for t in tasks if t.status == TaskStatus.OPEN],
                last_activity=max((t.submitted_at or t.created_at for t in tasks), default=None),
            )
        )
    return board


def invites_unused(study: Study) -> QuerySet[Rater]:
    """The study's invite links nobody has opened yet (no consent given, no task taken), oldest first."""
    return study.raters.filter(source=Rater.Source.INVITE, consented_at=None, tasks=None).order_by("id")
