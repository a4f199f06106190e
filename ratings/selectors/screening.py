"""Screening: the rules a rater may break (docs/ratings-qc.md)."""

import statistics
from datetime import datetime, timedelta

from django.utils import timezone

from formats import HEARD_FRACTION

from ..models import (
    Assignment,
    AssignmentStatus,
    Clip,
    DiversityAssignment,
    QualityAssignment,
    QualityRating,
    Rater,
    RaterFlag,
)
from .queue import rater_progress

# A rater idle this long with fewer than the study's minimum of items is taken to have dropped out.
DROPPED_OUT_AFTER = timedelta(hours=1)


# --- screening ---------------------------------------------------------------------------------


def _population_variance(values: list[float]) -> float:
    return statistics.pvariance(values) if len(values) > 1 else 0.0


def is_imported(assignment: Assignment) -> bool:
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
        if is_imported(assignment) or assignment.submitted_at is None:
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
