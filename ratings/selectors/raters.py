"""Raters: exclusion and the onboarding step they are at."""

from ..models import (
    Rater,
)


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
