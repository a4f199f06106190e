"""The claim queue's reads: what a rater may claim next, what they hold, how far they are."""

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Count, QuerySet
from django.utils import timezone

from .. import plain_sql
from ..kinds import KINDS
from ..models import CheckItem, Clip, DiversityComparison, Prompt, Rater, Study, Task, TaskStatus


def study_task_kinds(study: Study) -> tuple[str, ...]:
    """The parts a study has, in the registry's order: quality (on unless turned off), diversity (once
    comparisons are planned)."""
    return tuple(name for name, kind in KINDS.items() if kind.part_of(study))


def claimable_by(rater: Rater, kind: str) -> QuerySet:
    return KINDS[kind].claimable(rater)


def rater_open_task(rater: Rater) -> Task | None:
    """The rater's one open task, of whatever kind (the database allows one)."""
    return rater.tasks.filter(status=TaskStatus.OPEN).first()


def rater_claim_lapsed(rater: Rater, now: datetime | None = None) -> bool:
    """Whether the rater's latest item expired unanswered (or is past its study's claim timeout and will
    on the next claim): what they are told when they come back."""
    latest = rater.tasks.order_by("-created_at", "-id").first()
    if latest is None or latest.status not in (TaskStatus.OPEN, TaskStatus.EXPIRED):
        return False
    deadline = (now or timezone.now()) - timedelta(minutes=rater.study.claim_timeout_minutes)
    return latest.status == TaskStatus.EXPIRED or latest.created_at < deadline


@dataclass(frozen=True)
class RaterCounts:
    """Tasks a rater took (withdrawn and expired ones left out), split into ordinary and check items."""

    regular: dict[str, int]
    checks: int
    submitted: int
    open: int

    @property
    def taken(self) -> int:
        return sum(self.regular.values()) + self.checks


def counts_from(rows: list[tuple[str, int | None, str]]) -> RaterCounts:
    """Counts from (kind, check_item_id, status) of a rater's tasks."""
    regular = dict.fromkeys(KINDS, 0)
    checks = submitted = open_ = 0
    for kind, check_item_id, status in rows:
        if status in (TaskStatus.WITHDRAWN, TaskStatus.EXPIRED):
            continue
        if check_item_id is None:
            regular[kind] += 1
        else:
            checks += 1
        submitted += status == TaskStatus.SUBMITTED
        open_ += status == TaskStatus.OPEN
    return RaterCounts(regular, checks, submitted, open_)


@dataclass(frozen=True)
class TaskBrief:
    """What the claim queue and the task page read of each of a rater's tasks (rater_task_briefs)."""

    id: int
    kind: str
    check_item_id: int | None
    status: str
    created_at: datetime
    submitted_at: datetime | None
    check_passed: bool | None
    prompt_id: int | None
    comparison_id: int | None


# TaskBrief's fields, in its order.
TASK_BRIEF_FIELDS = tuple(field.name for field in dataclasses.fields(TaskBrief))


def rater_task_briefs(rater: Rater) -> list[TaskBrief]:
    """Every task of the rater, oldest first, in one query: what counts, progress and the reminder
    read, so that a request needing several of them asks once."""
    # A plain statement (ratings/plain_sql.py): every claim and task page reads these.
    sql = (
        f"SELECT {plain_sql.some_columns(Task, 't', TASK_BRIEF_FIELDS)} FROM {plain_sql.table(Task)} t "
        "WHERE t.rater_id = %s ORDER BY t.created_at, t.id"
    )
    fields = plain_sql.named_fields(Task, TASK_BRIEF_FIELDS)
    return [TaskBrief(*row) for row in plain_sql.values(sql, [rater.pk], fields)]


def rater_holds_open(tasks: list[TaskBrief]) -> bool:
    """Whether a rater holds an open task, from their rater_task_briefs (which a page reads for the
    rater's progress anyway: a query fewer than rater_open_task)."""
    return any(task.status == TaskStatus.OPEN for task in tasks)


def rater_counts(rater: Rater, tasks: list[TaskBrief] | None = None) -> RaterCounts:
    tasks = rater_task_briefs(rater) if tasks is None else tasks
    return counts_from([(task.kind, task.check_item_id, task.status) for task in tasks])


def attention_check_due(rater: Rater, counts: RaterCounts) -> bool:
    """Whether the next item should be a check: checks so far < rate × (ordinary items so far + 1)."""
    rate = rater.study.attention_rate
    return rate > 0 and counts.checks < math.floor(rate * (sum(counts.regular.values()) + 1) + 1e-9)


# Clips a diversity comparison plays (two pairs); a quality item plays one clip per variant.
DIVERSITY_CLIPS_PER_ITEM = 4


@dataclass(frozen=True)
class StudySession:
    """One rater's session: how many items (checks included; None = no limit) and the listening time
    of an average item, from which the page's time estimate is made."""

    items: int | None
    item_seconds: float

    def minutes_for(self, items: int) -> int:
        """Minutes of listening in this many items, rounded up (at least one when there is any)."""
        return math.ceil(items * self.item_seconds / 60) if items and self.item_seconds else 0


# study_clip_stats, remembered per process: (study id, its creation time) → (when read, mean clip
# seconds, variants). The clips of a study are planned before raters come; a process that imports clips
# forgets its own copy at once (study_clip_stats_forget), others within CLIP_STATS_SECONDS.
CLIP_STATS_SECONDS = 60.0
_clip_stats: dict[tuple[int, datetime], tuple[float, float | None, int]] = {}


def study_clip_stats(study: Study) -> tuple[float | None, int]:
    """The mean duration of the study's clips (None without clips) and how many variants have clips:
    what an item's listening time is made from. One query, on the first claim or task page of a study
    in this process each CLIP_STATS_SECONDS rather than on every one."""
    key = (study.pk, study.created_at)
    now = time.monotonic()
    remembered = _clip_stats.get(key)
    if remembered is not None and now - remembered[0] < CLIP_STATS_SECONDS:
        return remembered[1], remembered[2]
    clips = Clip.objects.filter(prompt__study=study).aggregate(
        seconds=Avg("duration_s"), variants=Count("variant", distinct=True)
    )
    if clips["seconds"] is not None:  # a study still without clips is asked again next time
        _clip_stats[key] = (now, clips["seconds"], clips["variants"])
    return clips["seconds"], clips["variants"]


def study_clip_stats_forget() -> None:
    """Forget every study's remembered clip stats in this process (after importing clips; in tests)."""
    _clip_stats.clear()


def study_session(study: Study) -> StudySession:
    """The session length in items: max_items_per_rater when the researcher set one, otherwise
    session_minutes of listening over an average item's listening time (mean clip duration × clips per
    item, averaged over the study's parts), at least one item (study_clip_stats)."""
    seconds, variants = study_clip_stats(study)
    per_item = {"quality": variants, "diversity": DIVERSITY_CLIPS_PER_ITEM}
    kinds = study_task_kinds(study)
    clips_per_item = sum(per_item.get(kind, 1) for kind in kinds) / max(1, len(kinds))
    item_seconds = (seconds or 0.0) * clips_per_item
    if study.max_items_per_rater is not None:
        items = study.max_items_per_rater
    elif study.session_minutes and item_seconds > 0:
        items = max(1, round(study.session_minutes * 60 / item_seconds))
    else:
        items = None
    return StudySession(items=items, item_seconds=item_seconds)


def study_session_items(study: Study) -> int | None:
    """study_session(study).items, without its query when the researcher set max_items_per_rater (what
    every claim and task page asks)."""
    if study.max_items_per_rater is not None:
        return study.max_items_per_rater
    return study_session(study).items


def study_raters_needed(study: Study) -> int:
    """How many rater sessions complete the study: every planned item (quality prompts with clips,
    diversity comparisons) times N, plus the attention items mixed in, over one session's items; and
    never fewer than N, since each item needs N distinct raters."""
    slots = 0
    if study.quality_part:
        slots += Prompt.objects.filter(study=study, clips__isnull=False).distinct().count()
    if study.diversity_part:
        slots += DiversityComparison.objects.filter(study=study).count()
    slots = math.ceil(slots * study.raters_per_prompt * (1 + study.attention_rate))
    per_session = study_session_items(study)
    needed = math.ceil(slots / per_session) if per_session else 1
    return max(needed, study.raters_per_prompt)


@dataclass(frozen=True)
class RaterProgress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def rater_briefs_and_progress(rater: Rater) -> tuple[list[TaskBrief], RaterProgress]:
    """rater_task_briefs(rater) and rater_progress with them, in one statement where the study's kinds
    count their claimable items in plain SQL (TaskKind.claimable_count_statement): the counts are the
    columns of a one-row table that the rater's tasks are joined to. Every task page reads both."""
    kinds = study_task_kinds(rater.study)
    counts = {kind: KINDS[kind].claimable_count_statement(rater) for kind in kinds}
    folded = [(kind, statement) for kind, statement in counts.items() if statement is not None]
    if not folded:
        tasks = rater_task_briefs(rater)
        return tasks, rater_progress(rater, tasks)
    numbers = ", ".join(f"({statement.sql}) AS n{index}" for index, (_, statement) in enumerate(folded))
    sql = (
        f"SELECT {', '.join(f'x.n{index}' for index in range(len(folded)))}, "
        f"{plain_sql.some_columns(Task, 't', TASK_BRIEF_FIELDS)} FROM (SELECT {numbers}) x "
        f"LEFT JOIN {plain_sql.table(Task)} t ON t.rater_id = %s ORDER BY t.created_at, t.id"
    )
    params = [param for _, statement in folded for param in statement.params]
    rows = plain_sql.tuples(sql, [*params, rater.pk])
    fields = plain_sql.named_fields(Task, TASK_BRIEF_FIELDS)
    tasks = [TaskBrief(*plain_sql.converted(fields, row[len(folded) :])) for row in rows if row[len(folded)]]
    claimable = {kind: rows[0][index] for index, (kind, _) in enumerate(folded)}
    for kind, statement in counts.items():
        if statement is None:
            claimable[kind] = KINDS[kind].claimable_count(rater)
    return tasks, _progress(rater, tasks, claimable)


def rater_progress(rater: Rater, tasks: list[TaskBrief] | None = None) -> RaterProgress:
    """Items submitted, and the most this rater can do: taken + still claimable (+ checks to come), capped.
    `tasks`: the rater's rater_task_briefs, when the caller has them already."""
    tasks = rater_task_briefs(rater) if tasks is None else tasks
    claimable = {kind: KINDS[kind].claimable_count(rater) for kind in study_task_kinds(rater.study)}
    return _progress(rater, tasks, claimable)


def _progress(rater: Rater, tasks: list[TaskBrief], claimable: dict[str, int]) -> RaterProgress:

    def unseen_items(kind: str) -> int:
        met = {KINDS[kind].item_of(task) for task in tasks if task.kind == kind}  # type: ignore[arg-type]
        return len(KINDS[kind].all_items(rater.study) - met)

    return progress_from_counts(
        rater.study, rater_counts(rater, tasks), claimable, unseen_items, study_session_items(rater.study)
    )


def progress_from_counts(
    study: Study,
    counts: RaterCounts,
    claimable: dict[str, int],
    unseen_items: Callable[[str], int],
    session_items: int | None,
) -> RaterProgress:
    """The one rule of rater_progress, fed by per-rater queries or by the dashboard's bulk ones.

    Checks to come are shared between the parts of the study. A kind whose check spends an item (a
    quality check shows a prompt the rater has not met, and a rater meets a prompt once) takes one
    already covered if there is any (`unseen_items(kind)` minus the claimable ones), else one they
    could have done, which the total then loses.

    The session length (study_session, checks included) caps the total, so a rater sees a steady
    "k of T" from the first item: T only falls, when other raters take the last items, never grows.
    """
    kinds = study_task_kinds(study)
    total = counts.taken + sum(claimable.values())
    rate = study.attention_rate
    if sum(claimable.values()) and rate > 0:
        regular_total = sum(counts.regular.values()) + sum(claimable.values())
        checks_to_come = max(0, math.floor(rate * regular_total + 1e-9) - counts.checks)
        total += checks_to_come
        for kind in kinds:
            if KINDS[kind].check_spends_an_item and checks_to_come:
                kind_checks = math.ceil(checks_to_come / len(kinds))
                spare = unseen_items(kind) - claimable[kind]
                total -= min(claimable[kind], max(0, kind_checks - spare))
    if session_items is not None:
        total = min(total, max(session_items, counts.taken))
    return RaterProgress(done=counts.submitted, total=total)


def check_items_unseen_by(rater: Rater, kind: str) -> QuerySet[CheckItem]:
    """Gold items of this kind the rater has not met (attention items are made for one rater), nor, for
    a kind whose check spends an item, whose prompt they have met."""
    items = CheckItem.objects.filter(
        study_id=rater.study_id, kind=kind, source=CheckItem.Source.GOLD
    ).exclude(tasks__rater=rater)
    if KINDS[kind].check_spends_an_item:
        items = items.exclude(prompt__in=Task.objects.filter(rater=rater, kind=kind).values("prompt_id"))
    return items.distinct()


def study_raters_progress(study: Study, tasks_by_rater: dict[int, list[Task]]) -> dict[int, RaterProgress]:
    """rater_progress of every rater of the study, in a few queries per kind however many raters."""
    kinds = study_task_kinds(study)
    open_items = {kind: KINDS[kind].open_items(study) for kind in kinds}
    all_items: dict[str, set[int]] = {}
    session_items = study_session_items(study)
    progress = {}
    for rater_id in study.raters.values_list("id", flat=True):
        tasks = tasks_by_rater.get(rater_id, [])
        met = {kind: {KINDS[kind].item_of(t) for t in tasks if t.kind == kind} for kind in kinds}
        claimable = {kind: len(open_items[kind] - met[kind]) for kind in kinds}

        def unseen_items(kind: str, met=met) -> int:
            if kind not in all_items:
                all_items[kind] = KINDS[kind].all_items(study)
            return len(all_items[kind] - met[kind])

        counts = counts_from([(t.kind, t.check_item_id, t.status) for t in tasks])
        progress[rater_id] = progress_from_counts(study, counts, claimable, unseen_items, session_items)
    return progress
