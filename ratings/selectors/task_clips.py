"""What a rater sees of a task: its clips in order, by position label."""

from ..kinds import kind_of
from ..models import Clip, Rater, Task


def task_clips_in_order(task: Task) -> list[tuple[str, Clip]]:
    """(label, clip) pairs in the order fixed for this task, labelled by its kind (A, B… or A1…B2)."""
    return kind_of(task.kind).clips_in_order(task)


def rater_task_at(rater: Rater, task_token: str, label: str) -> Task | None:
    """One of this rater's tasks, if it has a clip at that position (A, B… or A1, A2, B1, B2), or None.

    Audio is reached by position, never by clip: a clip met in two items (an attention item reuses
    another prompt's clips, an identical pair plays one clip twice) must not look alike to the rater.
    """
    task = rater.tasks.filter(token=task_token).first()
    if task is None or not task.clips:  # an imported answer has no clips to play
        return None
    return task if label in kind_of(task.kind).labels(task) else None
