"""Storing a rater's answer to a task of any kind, exactly once."""

import copy
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .. import plain_sql, selectors
from ..errors import RaterExcluded, SubmissionRejected
from ..kinds import Submission, kind_of
from ..listening import listening_problems
from ..models import AudioRequest, Rater, Task, TaskStatus
from .quality_control import check_recorded


@dataclass
class SubmitResult:
    task: Task
    already_submitted: bool


def task_submit(*, task: Task, submission: Submission) -> SubmitResult:
    """Store the answer of one task, exactly once.

    Refused, with nothing saved, when the kind finds the answer incomplete or out of its scale, the
    page says a clip was not played to the end, the server did not serve every clip in full or the answer
    came sooner after the page was first shown than the clips take to hear (selectors.task_heard_problems),
    the item was withdrawn or the rater is excluded. A late answer to an expired task is stored only while
    its slot is free, so no item passes N. A second submission changes nothing.
    """
    kind = kind_of(task.kind)
    task = copy.copy(task)  # the caller's task (and its rater) stay as they were read
    task.rater = copy.copy(task.rater)
    with transaction.atomic():
        # The locks every write of a rater's tasks takes (rater, then task), reading back what may have
        # changed since the caller read the task with its rater and study: exclusion and the task's state.
        locked = task_lock_state(task)
        task.status, task.holds_slot, task.shown_at = locked.status, locked.holds_slot, locked.shown_at
        task.rater.excluded = excluded = locked.excluded
        if task.status == TaskStatus.SUBMITTED:
            task.refresh_from_db(fields=["submitted_at", "listening", "check_passed"])
            return SubmitResult(task, already_submitted=True)
        if excluded:
            raise RaterExcluded("You can no longer take part in this study, so this answer was not saved.")
        if task.status == TaskStatus.WITHDRAWN:
            raise SubmissionRejected(
                "This item was withdrawn by the researchers; carry on with the next one."
            )
        if task.status == TaskStatus.EXPIRED:
            _late_slot_take(task)  # refused at once when taken; given back by the rollback if refused below
        labelled = kind.clips_in_order(task)
        now = timezone.now()
        heard = selectors.task_heard_problems(task, labelled, now, locked.served)
        if heard:
            # The lock statement read the audio requests as they were when it began: one kept while it
            # waited on the locks (an audio request's insert holds the task's key) is read now, before
            # an answer is refused for it (a statement more, on refusals only).
            heard = selectors.task_heard_problems(task, labelled, now)
        problems = (
            kind.problems(labelled, submission) + listening_problems(labelled, submission.listening) + heard
        )
        if problems:
            raise SubmissionRejected(problems[0], problems)
        task.status = TaskStatus.SUBMITTED
        task.submitted_at = now
        task.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        # The answer's rows and the task's new state: two writes that read nothing of each other, in one
        # round trip where the database allows (plain_sql.run_writes).
        plain_sql.run_writes(
            [
                kind.store(task, labelled, submission, now),
                plain_sql.update_statement(task, ["status", "submitted_at", "listening", "holds_slot"]),
            ]
        )
        if task.check_item_id is not None:
            check_recorded(task, kind.check_passed(task))
    return SubmitResult(task, already_submitted=False)


# The rater's row and the task's, locked by one statement in that order: PostgreSQL locks the rows of a
# FOR UPDATE in the order its FROM clause names their tables (its locking clause lists them so), and
# re-reads both if it waited on either. The same statement reads the task's served audio requests (a
# row each, joined on; none locked), which the listening rule needs: one round trip for what took three.
# Those rows are read as they were when the statement began, not re-read after a wait (task_submit
# reads them again before it refuses an answer for them).
_RATER_LOCKED = ("excluded",)
_TASK_LOCKED = ("status", "holds_slot", "shown_at")


@dataclass(frozen=True)
class LockState:
    """What a submission may find changed since the request read its task, read under the locks."""

    excluded: bool
    status: str
    holds_slot: bool
    shown_at: datetime | None
    served: dict[str, float]  # label → share of its file served (selectors.served_shares)


def task_lock_state(task: Task) -> LockState:
    """Lock the task's rater, then the task (the order every write of a rater's tasks takes), and read
    what a submission may find changed since the request read them: whether the rater is excluded, the
    task's status, whether it holds its slot, when its page was first shown, and the share of each
    clip the server has served to it. One plain statement (ratings/plain_sql.py); Task.DoesNotExist when
    the task is gone."""
    served = selectors.SERVED_COLUMNS
    found = plain_sql.values(
        f"SELECT {plain_sql.some_columns(Rater, 'r', _RATER_LOCKED)}, {plain_sql.some_columns(Task, 't', _TASK_LOCKED)}, "
        f"{plain_sql.some_columns(AudioRequest, 'a', served)} "
        f"FROM {plain_sql.table(Rater)} r JOIN {plain_sql.table(Task)} t ON t.rater_id = r.id "
        f"LEFT JOIN {plain_sql.table(AudioRequest)} a ON a.task_id = t.id AND a.served_start IS NOT NULL "
        f"WHERE r.id = %s AND t.id = %s{plain_sql.for_update(of='r, t')}",
        [task.rater_id, task.pk],
        plain_sql.named_fields(Rater, _RATER_LOCKED)
        + plain_sql.named_fields(Task, _TASK_LOCKED)
        + plain_sql.named_fields(AudioRequest, served),
    )
    if not found:
        raise Task.DoesNotExist(f"task {task.pk} is gone")
    excluded, status, holds_slot, shown_at = found[0][:4]
    requests = [row[4:] for row in found if row[4] is not None]
    return LockState(excluded, status, holds_slot, shown_at, selectors.served_shares(requests))


LATE_AND_TAKEN = (
    "This item expired, as it was not answered within {minutes} minutes, and its place went to another "
    "rater, so this answer was not saved; carry on with the next item."
)


def _late_slot_take(task: Task) -> None:
    """An expired task answered late takes its slot back if one is still free, else is refused."""
    slot = kind_of(task.kind).slot(task)
    study = task.rater.study
    if slot is None:  # a check holds no slot
        return
    if not slot.take_if_free(study.raters_per_prompt):
        raise SubmissionRejected(LATE_AND_TAKEN.format(minutes=study.claim_timeout_minutes))
    task.holds_slot = True
