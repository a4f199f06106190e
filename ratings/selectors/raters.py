"""Raters: exclusion and the onboarding step they are at."""

from ..models import (
    Rater,
    Task,
    TaskStatus,
)

# After a missed check, the reminder to listen carefully comes on this many-th item taken later, so
# that it points at no item in particular (the one just before it may be any kind of item).
REMINDER_AFTER = 2


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


def rater_reminder_due(rater: Rater, task: Task) -> bool:
    """Whether this task's page reminds the rater to listen carefully: it is the REMINDER_AFTER-th item
    they took after their latest missed check (the reminder never says which item was a check)."""
    missed_at = (
        rater.tasks.filter(check_passed=False, submitted_at__isnull=False)
        .order_by("-submitted_at")
        .values_list("submitted_at", flat=True)
        .first()
    )
    if missed_at is None:
        return False
    later = list(
        rater.tasks.filter(created_at__gt=missed_at)
        .exclude(status__in=(TaskStatus.WITHDRAWN, TaskStatus.EXPIRED))
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:REMINDER_AFTER]
    )
    return len(later) == REMINDER_AFTER and later[-1] == task.pk
