"""Storing a rater's answer to a task of any kind, exactly once."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..errors import RaterExcluded, SubmissionRejected
from ..kinds import Submission, kind_of
from ..listening import listening_problems
from ..models import Task, TaskStatus
from .quality_control import check_recorded, lock_rater


@dataclass
class SubmitResult:
    task: Task
    already_submitted: bool


def task_submit(*, task: Task, submission: Submission) -> SubmitResult:
    """Store the answer of one task, exactly once.

    Refused, with nothing saved, when the kind finds the answer incomplete or out of its scale, a clip
    was not played to the end, the item was withdrawn or the rater is excluded. A second submission
    changes nothing.
    """
    kind = kind_of(task.kind)
    with transaction.atomic():
        rater = lock_rater(task.rater_id)
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.rater = rater
        if task.status == TaskStatus.SUBMITTED:
            return SubmitResult(task, already_submitted=True)
        if rater.excluded:
            raise RaterExcluded("You can no longer take part in this study, so this answer was not saved.")
        if task.status == TaskStatus.WITHDRAWN:
            raise SubmissionRejected(
                "This item was withdrawn by the researchers; carry on with the next one."
            )
        labelled = kind.clips_in_order(task)
        problems = kind.problems(labelled, submission) + listening_problems(labelled, submission.listening)
        if problems:
            raise SubmissionRejected(problems[0], problems)
        now = timezone.now()
        kind.store(task, labelled, submission, now)
        task.status = TaskStatus.SUBMITTED
        task.submitted_at = now
        task.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        task.save(update_fields=["status", "submitted_at", "listening"])
        if task.check_item_id is not None:
            check_recorded(task, kind.check_passed(task))
    return SubmitResult(task, already_submitted=False)
