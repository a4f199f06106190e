"""What a rater sees of a task: its clips in order, by position label."""

from ..kinds import kind_of
from ..models import Clip, Prompt, Rater, Study, Task
from ..plain_sql import columns, one_row, partial, some_columns, table, tuples


def task_clips_in_order(task: Task) -> list[tuple[str, Clip]]:
    """(label, clip) pairs in the order fixed for this task, labelled by its kind (A, B… or A1…B2)."""
    return kind_of(task.kind).clips_in_order(task)


def rater_task(rater_token: str, task_token: str) -> Task | None:
    """A task by its token, if the rater of that token holds it, with its rater, their study and the
    prompt, as ``select_related`` would give them: the one read a submission starts from (the page's
    GET reads the same with services.task_page_open), a plain statement (ratings/plain_sql.py). The
    audio reads less (rater_task_at)."""
    return rater_task_linked(one_row(rater_task_sql(), [task_token, rater_token], RATER_TASK_MODELS))


# The models rater_task reads, in the order of its columns.
RATER_TASK_MODELS = (Task, Rater, Study, Prompt)


def rater_task_sql(also: str = "", joined: str = "") -> str:
    """rater_task's SELECT (parameters: the task's token, the rater's), with ``also`` columns after its
    models' and ``joined`` tables joined after theirs (services.task_page_open)."""
    return (
        f"SELECT {columns(Task, 't')}, {columns(Rater, 'r')}, {columns(Study, 's')}, {columns(Prompt, 'p')}{also} "
        f"FROM {table(Task)} t JOIN {table(Rater)} r ON r.id = t.rater_id "
        f"JOIN {table(Study)} s ON s.id = r.study_id JOIN {table(Prompt)} p ON p.id = t.prompt_id{joined} "
        "WHERE t.token = %s AND r.token = %s"
    )


def rater_task_linked(found: list | None) -> Task | None:
    """The task of rater_task's instances (one_row's), linked to its rater, their study and the prompt."""
    if found is None:
        return None
    task, rater, study, prompt = found
    rater.study, task.rater, task.prompt = study, rater, prompt
    return task


# What the audio view reads of a task and its rater (rater_task_at): three audio requests follow each
# task page, and reading the 60 columns of a task with its rater, study and prompt cost each a fifth of
# its CPU (benchmarks/request_cpu.py).
AUDIO_TASK_FIELDS = ("id", "rater", "kind", "token", "clips")
AUDIO_RATER_FIELDS = ("id", "token", "excluded")


def rater_task_at(rater_token: str, task_token: str, label: str) -> Task | None:
    """One of this rater's tasks, if it has a clip at that position (A, B… or A1, A2, B1, B2), or None:
    the task's id, kind, token and clips and its rater's id, token and exclusion, every other field
    deferred (read on use, a query each).

    Audio is reached by position, never by clip: a clip met in two items (an attention item reuses
    another prompt's clips, an identical pair plays one clip twice) must not look alike to the rater.
    """
    sql = (
        f"SELECT {some_columns(Task, 't', AUDIO_TASK_FIELDS)}, {some_columns(Rater, 'r', AUDIO_RATER_FIELDS)} "
        f"FROM {table(Task)} t JOIN {table(Rater)} r ON r.id = t.rater_id WHERE t.token = %s AND r.token = %s"
    )
    found = tuples(sql, [task_token, rater_token])
    if not found:
        return None
    width = len(AUDIO_TASK_FIELDS)
    task = partial(Task, AUDIO_TASK_FIELDS, found[0][:width])
    task.rater = partial(Rater, AUDIO_RATER_FIELDS, found[0][width:])
    if not task.clips:  # an imported answer has no clips to play
        return None
    return task if label in kind_of(task.kind).labels(task) else None
