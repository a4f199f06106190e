"""Every read of the ratings app that is more than a one-line query."""

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import (
    AssignmentStatus,
    CheckItem,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    RaterFlag,
    Study,
    TaskKind,
)

# A rater idle this long with fewer than the study's minimum of items is taken to have dropped out.
DROPPED_OUT_AFTER = timedelta(hours=1)
# A clip counts as played when the player reached its end having played this much of it (skips allowed).
HEARD_FRACTION = 0.9
DIVERSITY_LABELS = ("A1", "A2", "B1", "B2")

Assignment = QualityAssignment | DiversityAssignment


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


def _counts_from(rows: list[tuple[str, int | None, str]]) -> RaterCounts:
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
    return _counts_from(rows)


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

    return _progress(rater.study, rater_counts(rater), claimable, unseen_prompts)


def _progress(study: Study, counts: RaterCounts, claimable: dict[str, int], unseen_prompts) -> RaterProgress:
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


# --- what a rater sees ------------------------------------------------------------------------------


def assignment_clips_in_order(assignment: QualityAssignment) -> list[tuple[str, Clip]]:
    """(label, clip) pairs, labelled A, B, C… in the order fixed for this assignment."""
    clips = Clip.objects.in_bulk(assignment.clip_order)
    return [(clip_label(position), clips[clip_id]) for position, clip_id in enumerate(assignment.clip_order)]


def diversity_clips_in_order(assignment: DiversityAssignment) -> list[tuple[str, Clip]]:
    """(label, clip) for A1, A2 (pair A) and B1, B2 (pair B)."""
    ids = [*assignment.clips_a, *assignment.clips_b]
    clips = Clip.objects.in_bulk(ids)
    return [(label, clips[clip_id]) for label, clip_id in zip(DIVERSITY_LABELS, ids, strict=True)]


def clip_label(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def rater_task_clip(rater: Rater, assignment_token: str, label: str) -> Clip | None:
    """The clip heard at one position (A, B… or A1, A2, B1, B2) of one of this rater's items, or None.

    By position, never by clip: a clip met in two items (an attention item reuses another prompt's
    clips, an identical pair plays one clip twice) must not look alike to the rater.
    """
    quality = rater.quality_assignments.filter(token=assignment_token).first()
    if quality is not None:
        return dict(assignment_clips_in_order(quality)).get(label)
    diversity = rater.diversity_assignments.filter(token=assignment_token).first()
    if diversity is not None:
        return dict(diversity_clips_in_order(diversity)).get(label)
    return None


def rater_is_excluded(rater: Rater) -> bool:
    """From the flags themselves (Rater.excluded mirrors this for requests that hold the rater's row)."""
    return rater.flags.filter(active=True).exists()


def rater_onboarding_step(rater: Rater) -> str | None:
    """The step a rater must take before any task: consent, instructions, headphones; or None."""
    if not rater.study.onboarding_required or rater.source == Rater.Source.IMPORTED:
        return None
    if rater.consented_at is None:
        return "consent"
    if rater.instructions_read_at is None:
        return "instructions"
    if rater.headphone_passed is not True:
        return "headphones"
    return None


# --- exports and the analysis ------------------------------------------------------------------


def study_quality_rows(study: Study) -> list[dict]:
    """Every quality rating of the study in the long format of ratings.csv (MISSION.md §5).

    Ratings of every rater, excluded ones included (filter with study_excluded_rater_ids);
    attention and gold items never appear.
    """
    ratings = (
        QualityRating.objects.filter(assignment__prompt__study=study, assignment__check_item__isnull=True)
        .select_related("assignment__rater", "assignment__prompt", "clip__variant")
        .order_by(
            "assignment__rater__external_id",
            "assignment__prompt__external_id",
            "clip__variant__name",
            "criterion",
        )
    )
    return [
        {
            "rater_id": rating.assignment.rater.external_id,
            "prompt_id": rating.assignment.prompt.external_id,
            "variant": rating.clip.variant.name,
            "criterion": rating.criterion,
            "score": rating.score,
            "created_at": rating.created_at.isoformat(),
        }
        for rating in ratings
    ]


def study_diversity_rows(study: Study) -> list[dict]:
    """Every diversity judgement in the format of diversity.csv (MISSION.md §5): variant_a and
    variant_b as heard as pair A and pair B, choice as answered (negative: A more diverse).

    Judgements of every rater, excluded ones included; attention and gold items never appear.
    """
    judged = (
        DiversityAssignment.objects.filter(
            prompt__study=study, check_item__isnull=True, status=AssignmentStatus.SUBMITTED
        )
        .select_related("rater", "prompt", "variant_a", "variant_b")
        .order_by("rater__external_id", "prompt__external_id", "variant_a__name", "variant_b__name")
    )
    return [
        {
            "rater_id": judgement.rater.external_id,
            "prompt_id": judgement.prompt.external_id,
            "variant_a": judgement.variant_a.name,
            "variant_b": judgement.variant_b.name,
            "choice": judgement.choice,
            "created_at": judgement.submitted_at.isoformat(),
        }
        for judgement in judged
    ]


def study_excluded_rater_ids(study: Study) -> set[str]:
    """External ids of the study's raters with an active exclusion flag."""
    return set(
        Rater.objects.filter(study=study, flags__active=True).values_list("external_id", flat=True).distinct()
    )


def study_flag_rows(study: Study) -> list[dict]:
    flags = (
        RaterFlag.objects.filter(rater__study=study)
        .select_related("rater")
        .order_by("rater__external_id", "reason")
    )
    return [
        {
            "rater_id": flag.rater.external_id,
            "reason": flag.reason,
            "detail": flag.detail,
            "active": flag.active,
            "created_at": flag.created_at.isoformat(),
            "lifted_at": flag.lifted_at.isoformat() if flag.lifted_at else "",
        }
        for flag in flags
    ]


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


# --- screening ---------------------------------------------------------------------------------


def _population_variance(values: list[float]) -> float:
    return statistics.pvariance(values) if len(values) > 1 else 0.0


def _is_imported(assignment: Assignment) -> bool:
    return "imported_from" in (assignment.listening or {})


def assignment_duration_s(assignment: Assignment) -> float:
    if isinstance(assignment, QualityAssignment):
        ids = assignment.clip_order
    else:
        ids = [*assignment.clips_a, *assignment.clips_b]
    durations = dict(Clip.objects.filter(pk__in=ids).values_list("pk", "duration_s"))
    return sum(durations.get(clip_id, 0.0) for clip_id in ids)


def rater_screening_findings(rater: Rater, now: datetime | None = None) -> list[tuple[str, str]]:
    """(reason, detail) for every screening rule the rater breaks now (docs/ratings-qc.md)."""
    study = rater.study
    now = now or timezone.now()
    findings: list[tuple[str, str]] = []
    submitted = [
        *rater.quality_assignments.filter(status=AssignmentStatus.SUBMITTED),
        *rater.diversity_assignments.filter(status=AssignmentStatus.SUBMITTED),
    ]
    checks = [a for a in submitted if a.check_item_id is not None]
    failed = [a for a in checks if a.check_passed is False]
    if len(failed) > study.attention_failures_allowed:
        findings.append(
            (RaterFlag.Reason.ATTENTION, f"failed {len(failed)} of {len(checks)} attention/gold items")
        )
    regular = [a for a in submitted if a.check_item_id is None]
    quality_items = [a for a in regular if isinstance(a, QualityAssignment)]
    diversity_items = [a for a in regular if isinstance(a, DiversityAssignment)]
    if len(quality_items) >= max(study.min_completed_items, 2):
        scores = list(
            QualityRating.objects.filter(assignment__in=quality_items).values_list("score", flat=True)
        )
        variance = _population_variance(scores)
        if variance < study.straightlining_min_variance:
            findings.append(
                (
                    RaterFlag.Reason.STRAIGHT_LINING,
                    f"quality scores vary by {variance:.2f} over {len(quality_items)} items "
                    f"(threshold {study.straightlining_min_variance:g})",
                )
            )
    if len(diversity_items) >= max(study.min_completed_items, 2):
        variance = _population_variance([a.choice for a in diversity_items])
        if variance < study.straightlining_min_variance:
            findings.append(
                (
                    RaterFlag.Reason.STRAIGHT_LINING,
                    f"diversity answers vary by {variance:.2f} over {len(diversity_items)} items "
                    f"(threshold {study.straightlining_min_variance:g})",
                )
            )
    too_fast = []
    for assignment in submitted:
        if _is_imported(assignment) or assignment.submitted_at is None:
            continue
        elapsed = (assignment.submitted_at - assignment.created_at).total_seconds()
        audio = assignment_duration_s(assignment)
        if elapsed < HEARD_FRACTION * audio:
            too_fast.append((elapsed, audio))
    if too_fast:
        elapsed, audio = min(too_fast)
        findings.append(
            (
                RaterFlag.Reason.TOO_FAST,
                f"{len(too_fast)} item(s) submitted faster than their clips play "
                f"(fastest: {elapsed:.1f} s for {audio:.1f} s of audio)",
            )
        )
    started = [*rater.quality_assignments.all(), *rater.diversity_assignments.all()]
    if started and len(submitted) < study.min_completed_items:
        last = max(a.submitted_at or a.created_at for a in started)
        dropped_out = now - last >= DROPPED_OUT_AFTER or not study.is_open
        if dropped_out and not rater_progress(rater).finished:
            findings.append(
                (
                    RaterFlag.Reason.TOO_FEW_ITEMS,
                    f"stopped after {len(submitted)} item(s); the study asks for at least {study.min_completed_items}",
                )
            )
    # One flag per reason: the first finding of a reason stands for it.
    unique: dict[str, str] = {}
    for reason, detail in findings:
        unique.setdefault(reason, detail)
    return list(unique.items())


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
        counts = _counts_from([(assignment_kind(a), a.check_item_id, a.status) for a in assignments])
        submitted = [a for a in assignments if a.status == AssignmentStatus.SUBMITTED and not _is_imported(a)]
        checks = [
            a for a in assignments if a.check_item_id is not None and a.status == AssignmentStatus.SUBMITTED
        ]
        board.raters.append(
            RaterRow(
                rater=rater,
                progress=_progress(
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


def check_items_unseen_by(rater: Rater, kind: str) -> QuerySet[CheckItem]:
    """Gold items of this kind the rater has not met (attention items are made for one rater)."""
    seen = Q(quality_assignments__rater=rater) | Q(diversity_assignments__rater=rater)
    items = CheckItem.objects.filter(
        study_id=rater.study_id, kind=kind, source=CheckItem.Source.GOLD
    ).exclude(seen)
    if kind == TaskKind.QUALITY:
        items = items.exclude(prompt__quality_assignments__rater=rater)
    return items.distinct()
