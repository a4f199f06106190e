"""Raters: exclusion and the onboarding step they are at."""

from ..models import Rater, Study, Task, TaskStatus
from ..plain_sql import columns, for_update, one_row, table
from .queue import TaskBrief, rater_task_briefs

# After a missed check, the reminder to listen carefully comes on this many-th item taken later, so
# that it points at no item in particular (the one just before it may be any kind of item).
REMINDER_AFTER = 2


def rater_by_token(token: str, *, lock: bool = False) -> Rater | None:
    """The rater of a link's token with their study, as ``select_related("study")`` would give them:
    the first read of every rater request, a plain statement (ratings/plain_sql.py). ``lock``: the
    rater's row locked as lock_rater locks it (the rater alone, not the study that every rater of it
    reads), for the transaction of a service that writes the rater's tasks (task_claim_by_token)."""
    sql = (
        f"SELECT {columns(Rater, 'r')}, {columns(Study, 's')} FROM {table(Rater)} r "
        f"JOIN {table(Study)} s ON s.id = r.study_id WHERE r.token = %s{for_update(of='r') if lock else ''}"
    )
    found = one_row(sql, [token], [Rater, Study])
    if found is None:
        return None
    rater, study = found
    rater.study = study
    return rater


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


def rater_reminder_due(rater: Rater, task: Task, tasks: list[TaskBrief] | None = None) -> bool:
    """Whether this task's page reminds the rater to listen carefully: it is the REMINDER_AFTER-th item
    they took after their latest missed check (the reminder never says which item was a check).
    `tasks`: the rater's rater_task_briefs (oldest first), when the caller has them already."""
    tasks = rater_task_briefs(rater) if tasks is None else tasks
    missed = [t.submitted_at for t in tasks if t.check_passed is False and t.submitted_at is not None]
    if not missed:
        return False
    missed_at = max(missed)
    later = [
        t.id
        for t in tasks
        if t.created_at > missed_at and t.status not in (TaskStatus.WITHDRAWN, TaskStatus.EXPIRED)
    ][:REMINDER_AFTER]
    return len(later) == REMINDER_AFTER and later[-1] == task.pk
