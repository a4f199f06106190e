"""The listening evidence a task page sends with every answer, and the rule it must meet."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from formats import HEARD_FRACTION

from .models import Clip


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


def listening_problems(labelled: list[tuple[str, Clip]], listening: Mapping[str, ClipListening]) -> list[str]:
    """Every clip played to the end, having played HEARD_FRACTION of it; no evidence for other clips."""
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
