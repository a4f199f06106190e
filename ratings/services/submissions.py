"""What every submission shares: the answer's outcome, the listening evidence, the locking."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from formats import HEARD_FRACTION

from ..models import (
    Assignment,
    AssignmentStatus,
    Clip,
)
from .errors import RaterExcluded, SubmissionRejected
from .quality_control import lock_rater


@dataclass
class SubmitResult:
    assignment: Assignment
    already_submitted: bool


@dataclass
class ClipListening:
    """What the page saw of one clip: plays started, seconds heard, whether it reached the end."""

    plays: int = 0
    seconds: float = 0.0
    ended: bool = False
    # The player's events in order, as [event, position in seconds]: play, pause, seeked, ended.
    events: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "plays": self.plays,
            "seconds": round(self.seconds, 2),
            "ended": self.ended,
            "events": self.events,
        }


def locked_for_submission(model, assignment: Assignment) -> Assignment | SubmitResult:
    """The assignment locked for update, or the answer when it cannot take a submission."""
    rater = lock_rater(assignment.rater_id)
    locked = model.objects.select_for_update().get(pk=assignment.pk)
    locked.rater = rater
    if locked.status == AssignmentStatus.SUBMITTED:
        return SubmitResult(locked, already_submitted=True)
    if rater.excluded:
        raise RaterExcluded("You can no longer take part in this study, so this answer was not saved.")
    if locked.status == AssignmentStatus.WITHDRAWN:
        raise SubmissionRejected("This item was withdrawn by the researchers; carry on with the next one.")
    return locked


def listening_problems(labelled: list[tuple[str, Clip]], listening: Mapping[str, ClipListening]) -> list[str]:
    problems = []
    unknown = sorted(set(listening) - {label for label, _ in labelled})
    if unknown:
        problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
    for label, clip in labelled:
        heard = listening.get(label)
        heard_enough = heard is not None and heard.seconds >= HEARD_FRACTION * clip.duration_s
        if heard is None or not heard.ended or not heard_enough:
            problems.append(f"Clip {label}: play it to the end before rating.")
    return problems
