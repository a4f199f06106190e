"""The server's side of listening: each position's own audio file, the audio requests it served, and
when a task's page was first shown (docs/ratings-qc.md, "Listening the server can verify")."""

import hashlib
import os
import threading
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from .. import plain_sql, selectors
from ..audio import dithered
from ..clip_rows import clips_by_id
from ..http import MAX_RANGE_HEADER, ByteRange, requested_range
from ..kinds import kind_of
from ..models import AudioRequest, Rater, Task, TaskStatus


def task_audio_name(task: Task, label: str) -> str:
    """The storage name of the file played at one position of one task. Task tokens are secret and
    unique, so no two positions anywhere share a file."""
    return f"positions/{task.token}/{label}.wav"


def task_audio_prepare(*, task: Task, only: str | None = None) -> dict[str, str]:
    """Write the task's per-position files that are not written yet (idempotent), or only the one at
    position `only`: each position plays its clip with its own dither, seeded by the task and position,
    so that no two addresses a rater can reach serve the same bytes (a check item's borrowed or twinned
    clips included). Label → storage name. The audio view writes a position's file on its first
    request, so a claim writes nothing; a file already written costs no query."""
    wanted = [
        (label, clip_id)
        for label, clip_id in zip(kind_of(task.kind).labels(task), task.clips, strict=True)
        if only is None or label == only
    ]
    names = {label: task_audio_name(task, label) for label, _ in wanted}
    missing = [(label, clip_id) for label, clip_id in wanted if not default_storage.exists(names[label])]
    if not missing:
        return names
    sources = clips_by_id(clip_id for _, clip_id in missing)  # read once per process
    for label, clip_id in missing:
        with default_storage.open(sources[clip_id].audio.name, "rb") as handle:
            source = handle.read()
        seed = hashlib.sha256(f"{task.token}:{label}".encode()).digest()
        _save_whole(names[label], dithered(source, seed))
    return names


def _save_whole(name: str, data: bytes) -> None:
    """Store ``data`` under ``name`` so that no reader ever sees part of it: on the local file system
    written beside and renamed into place (a second request racing the first sees no file, writes the
    same bytes and renames them over); object storage shows an object only once its upload is whole."""
    try:
        path = Path(default_storage.path(name))
    except NotImplementedError:  # object storage (S3): a PUT appears whole
        written = default_storage.save(name, ContentFile(data))
        if written != name:  # another request stored it first, with the same bytes
            default_storage.delete(written)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def task_audio_request(*, task: Task, label: str, method: str, range_header: str) -> tuple[str, int]:
    """One audio request of the task's rater at one position: the position's file written if it is not
    yet, the request recorded with what the server will send (nothing for a HEAD, or for a Range it
    refuses: ratings.http.requested_range), and the file's storage name and size returned for the
    response (the size found once: a stat, or a request to object storage)."""
    name = task_audio_prepare(task=task, only=label)[label]
    size = default_storage.size(name)
    audio_request_record(
        task=task,
        label=label,
        method=method,
        range_header=range_header,
        size=size,
        served=requested_range(range_header, size) if method == "GET" else None,
    )
    return name, size


def audio_request_record(
    *, task: Task, label: str, method: str, range_header: str, size: int, served: ByteRange | None
) -> None:
    """Keep one audio request of a rater: the range asked for, and what was served (None for a HEAD or
    a range past the end). A repeat of a request already kept adds nothing (one INSERT … ON CONFLICT DO
    NOTHING): the evidence is the union of the served ranges, which a repeat does not change."""
    # One plain statement, outside any transaction (the ORM's bulk_create would add BEGIN and COMMIT
    # around it, and build it for more CPU than the rest of the request): on every audio request.
    plain_sql.insert(
        AudioRequest,
        ["task", "label", "method", "range_header", "size", "served_start", "served_end", "at"],
        [
            (
                task.pk,
                label,
                method,
                range_header[:MAX_RANGE_HEADER],
                size,
                None if served is None else served.start,
                None if served is None else served.end,
                timezone.now(),
            )
        ],
        suffix=" ON CONFLICT DO NOTHING",
    )


def _task_shown(task: Task) -> None:
    """Remember when the task's page was first shown: the wall-time rule counts from there. One
    conditional UPDATE, atomic by itself: no transaction around it (BEGIN and COMMIT would be two
    round trips more). task_page_open's, where the database cannot write in a WITH clause."""
    if task.shown_at is None:
        plain_sql.execute(  # a plain statement, as audio_request_record's
            f"UPDATE {plain_sql.table(Task)} SET shown_at = %s WHERE id = %s AND shown_at IS NULL",
            [connection.ops.adapt_datetimefield_value(timezone.now()), task.pk],
        )


def task_page_open(*, rater_token: str, task_token: str, kind: str) -> Task | None:
    """The task of a page, read as selectors.rater_task reads it, and marked first shown (_task_shown) if
    it is an open task of this kind whose rater is not excluded: the page that shows it follows.

    On PostgreSQL in one statement, the UPDATE in a WITH clause whose rows the read joins (a round trip
    fewer on every task page); elsewhere the read, then _task_shown. The one case where the page is then
    marked shown but not shown: a rater who holds an open task and still has an onboarding step to take
    (onboarding switched on after they claimed it), sent to that step; the wall-time rule then counts
    from that visit, for that item."""
    if not plain_sql.writes_in_with():
        task = selectors.rater_task(rater_token, task_token)
        if (
            task is not None
            and task.kind == kind
            and task.status == TaskStatus.OPEN
            and not task.rater.excluded
        ):
            _task_shown(task)
        return task
    now = timezone.now()
    mark = (
        f"UPDATE {plain_sql.table(Task)} SET shown_at = %s WHERE token = %s AND kind = %s AND status = %s "
        f"AND shown_at IS NULL AND rater_id = (SELECT id FROM {plain_sql.table(Rater)} "
        "WHERE token = %s AND NOT excluded) RETURNING id, shown_at"
    )
    read = selectors.rater_task_sql(", shown.shown_at", " LEFT JOIN shown ON shown.id = t.id")
    rows = plain_sql.tuples(
        f"WITH shown AS ({mark}) {read}",
        [
            connection.ops.adapt_datetimefield_value(now),
            task_token,
            kind,
            TaskStatus.OPEN.value,
            rater_token,
            task_token,
            rater_token,
        ],
    )
    if not rows:
        return None
    *found, shown_at = rows[0]
    task = selectors.rater_task_linked(plain_sql.instances(found, selectors.RATER_TASK_MODELS))
    if shown_at is not None:
        task.shown_at = now  # (what the UPDATE wrote; the read saw the row as it was before)
    return task
