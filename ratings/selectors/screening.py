"""Screening: the rules a rater may break (docs/ratings-qc.md), read for one rater or a whole study."""

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from formats import HEARD_FRACTION

from ..kinds import KINDS
from ..models import Clip, Rater, RaterFlag, Study, Task, TaskStatus
from .queue import RaterProgress, rater_progress, study_raters_progress

# A rater idle this long with fewer than the study's minimum of items is taken to have dropped out.
DROPPED_OUT_AFTER = timedelta(hours=1)


def _population_variance(values: list[float]) -> float:
    return statistics.pvariance(values) if len(values) > 1 else 0.0


def is_imported(task: Task) -> bool:
    return "imported_from" in (task.listening or {})


def task_duration_s(task: Task, durations: dict[int, float] | None = None) -> float:
    """Seconds of audio the task plays (durations: clip id → seconds, when already read)."""
    if durations is None:
        durations = dict(Clip.objects.filter(pk__in=task.clips).values_list("pk", "duration_s"))
    return sum(durations.get(clip_id, 0.0) for clip_id in task.clips)


def _answer_values(tasks: QuerySet[Task]) -> dict[int, list[float]]:
    """Task id → its answers as numbers, every kind's in one query."""
    values: dict[int, list[float]] = {}
    for name, kind in KINDS.items():
        values.update(kind.answer_values(tasks.filter(kind=name)))
    return values


def _findings(
    study: Study,
    tasks: list[Task],
    answers: dict[int, list[float]],
    durations: dict[int, float],
    progress: Callable[[], RaterProgress],
    now: datetime,
) -> list[tuple[str, str]]:
    """The rules on one rater's tasks; `progress()` is asked only when the rater may have dropped out."""
    findings: list[tuple[str, str]] = []
    submitted = [t for t in tasks if t.status == TaskStatus.SUBMITTED]
    checks = [t for t in submitted if t.check_item_id is not None]
    failed = [t for t in checks if t.check_passed is False]
    if len(failed) > study.attention_failures_allowed:
        findings.append(
            (RaterFlag.Reason.ATTENTION, f"failed {len(failed)} of {len(checks)} attention/gold items")
        )
    regular = [t for t in submitted if t.check_item_id is None]
    for name, kind in KINDS.items():
        items = [t for t in regular if t.kind == name]
        if len(items) >= max(study.min_completed_items, 2):
            variance = _population_variance([value for t in items for value in answers.get(t.pk, [])])
            if variance < study.straightlining_min_variance:
                findings.append(
                    (
                        RaterFlag.Reason.STRAIGHT_LINING,
                        f"{name} {kind.words.answers} vary by {variance:.2f} over {len(items)} items "
                        f"(threshold {study.straightlining_min_variance:g})",
                    )
                )
    too_fast = []
    for task in submitted:
        if is_imported(task) or task.submitted_at is None:
            continue
        elapsed = (task.submitted_at - task.created_at).total_seconds()
        audio = task_duration_s(task, durations)
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
    if tasks and len(submitted) < study.min_completed_items:
        last = max(t.submitted_at or t.created_at for t in tasks)
        dropped_out = now - last >= DROPPED_OUT_AFTER or not study.is_open
        if dropped_out and not progress().finished:
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


def rater_screening_findings(rater: Rater, now: datetime | None = None) -> list[tuple[str, str]]:
    """(reason, detail) for every screening rule the rater breaks now."""
    tasks_qs = rater.tasks.all()
    tasks = list(tasks_qs)
    durations = dict(
        Clip.objects.filter(pk__in={c for t in tasks for c in t.clips}).values_list("pk", "duration_s")
    )
    answers = _answer_values(tasks_qs.filter(status=TaskStatus.SUBMITTED, check_item__isnull=True))
    return _findings(
        rater.study, tasks, answers, durations, lambda: rater_progress(rater), now or timezone.now()
    )


def study_screening_findings(study: Study, now: datetime | None = None) -> dict[int, list[tuple[str, str]]]:
    """Rater id → (reason, detail) of every rule each rater of the study breaks now, read in a bounded
    number of queries however many raters and items the study has."""
    now = now or timezone.now()
    tasks_qs = Task.objects.filter(rater__study=study)
    by_rater: dict[int, list[Task]] = {}
    for task in tasks_qs:
        by_rater.setdefault(task.rater_id, []).append(task)
    durations = dict(Clip.objects.filter(prompt__study=study).values_list("pk", "duration_s"))
    answers = _answer_values(tasks_qs.filter(status=TaskStatus.SUBMITTED, check_item__isnull=True))
    progress = study_raters_progress(study, by_rater)
    return {
        rater_id: found
        for rater_id in progress
        if (
            found := _findings(
                study, by_rater.get(rater_id, []), answers, durations, lambda r=rater_id: progress[r], now
            )
        )
    }
