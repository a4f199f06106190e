"""What the server saw of a task's listening: the bytes it served per position, and the time since the
page was first shown. The rule a submission must meet besides the page's own evidence (listening.py)."""

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from formats import HEARD_FRACTION

from .. import plain_sql
from ..models import AudioRequest, Clip, Task


def served_fraction(ranges: list[tuple[int, int]], size: int) -> float:
    """The share of a file of `size` bytes covered by the union of served (first, last) byte ranges."""
    covered, reach = 0, -1
    for start, end in sorted(ranges):
        if end > reach:
            covered += end - max(start, reach + 1) + 1
            reach = end
    return covered / size if size else 0.0


# The columns of a task's served audio requests that the listening rule reads: (label, size, first byte
# served, last byte served).
SERVED_COLUMNS = ("label", "size", "served_start", "served_end")


def task_served(task: Task) -> dict[str, float]:
    """Label → the share of its file the server served to this task (one query)."""
    rows = plain_sql.tuples(  # a plain statement (ratings/plain_sql.py)
        f"SELECT {', '.join(SERVED_COLUMNS)} FROM {plain_sql.table(AudioRequest)} "
        "WHERE task_id = %s AND served_start IS NOT NULL",
        [task.pk],
    )
    return served_shares(rows)


def served_shares(rows: Iterable[Sequence]) -> dict[str, float]:
    """Label → the share of its file served, from a task's served audio requests (SERVED_COLUMNS)."""
    by_label: dict[str, tuple[int, list[tuple[int, int]]]] = {}
    for label, size, start, end in rows:
        known_size, ranges = by_label.setdefault(label, (size, []))
        if size == known_size:
            ranges.append((start, end))
    return {label: served_fraction(ranges, size) for label, (size, ranges) in by_label.items()}


def task_min_seconds(task: Task, labelled: list[tuple[str, Clip]]) -> float:
    """Least wall time between the page first shown and the answer: the study's setting, or the clips'
    total duration × HEARD_FRACTION."""
    setting = task.rater.study.min_task_seconds
    return setting if setting is not None else HEARD_FRACTION * sum(clip.duration_s for _, clip in labelled)


def task_heard_problems(
    task: Task, labelled: list[tuple[str, Clip]], now: datetime, served: dict[str, float] | None = None
) -> list[str]:
    """What the server misses to believe the clips were heard: a clip not fetched in full, or an
    answer sooner after the page was first shown than its clips take to play. ``served``: the task's
    served_shares where the caller read them already (the submit reads them with its locks), else
    task_served reads them."""
    if task.shown_at is None:
        return ["Open this item's page and listen to every clip before answering."]
    problems = []
    if served is None:
        served = task_served(task)
    for label, _clip in labelled:
        share = served.get(label, 0.0)
        if share < 1.0:
            problems.append(
                f"Clip {label}: only {math.floor(share * 100)} % of its audio was loaded; play it to the end "
                "before rating."
            )
    needed = task_min_seconds(task, labelled)
    elapsed = (now - task.shown_at).total_seconds()
    if elapsed < needed:
        problems.append(
            f"This answer came {elapsed:.0f} s after the item was shown, but its clips take {needed:.0f} s to "
            f"hear: listen to every clip, then submit again (in {math.ceil(needed - elapsed)} s at the earliest)."
        )
    return problems
