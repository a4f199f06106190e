"""Clips by id, read once per process: a clip is a record fixed when its file is imported.

The task page, the submit and a position's first audio request each read the task's clips. A clip's row
never changes after its import: ``clips_import`` only adds rows, and the admin shows clips read-only
(changing the file or the variant under ratings already given would mislabel them). Ids are never
reused (PostgreSQL's sequences; SQLite's AUTOINCREMENT, which Django declares), so a clip read once may
be kept for the life of the process. Saving or deleting a clip in this process forgets them all (so a
test database that rolls back and numbers a new clip as an old one is read again).

The instances are shared between requests: read them, never change them.
"""

from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Clip, Prompt
from .plain_sql import columns, instance, placeholders, rows, table, tuples

# The most clips kept; past it the store starts again empty (a study of 100 prompts × 10 variants × 4
# samples has 4,000).
MOST_KEPT = 20_000
# A clip not yet read brings every clip of its study with it, up to this many (4,000 clips were read and
# made into instances in 40 ms of CPU here, once per worker and study: benchmarks/study_clips_read.py);
# past it, only those asked for.
STUDY_READ_MOST = 5_000

_kept: dict[int, Clip] = {}
# Studies found past STUDY_READ_MOST: their clips are read by id, without trying the whole study again.
_too_big: set[int] = set()


def clips_by_id(ids: Iterable[int]) -> dict[int, Clip]:
    """The clips of these ids, by id. An id with no clip is left out.

    Clips not yet read in this process are read with every other clip of their studies, in one plain
    statement (ratings/plain_sql.py): a study's raters meet its prompts in no particular order, and each
    worker process would otherwise read each prompt's clips on the first page that shows them. A study
    with more than STUDY_READ_MOST clips is remembered as such and has only the missing ones read."""
    wanted = set(ids)
    found = {clip_id: clip for clip_id in wanted if (clip := _kept.get(clip_id)) is not None}
    missing = sorted(wanted.difference(found))
    if missing:
        read = _studies_read(missing)
        rest = [clip_id for clip_id in missing if clip_id not in read]
        if rest and _too_big:  # (in a study too big to read whole, or with no clip at all)
            sql = (
                f"SELECT {columns(Clip, 'c')} FROM {table(Clip)} c WHERE c.id IN ({placeholders(len(rest))})"
            )
            read.update((clip.pk, clip) for clip in rows(sql, rest, Clip))
        if len(_kept) + len(read) > MOST_KEPT:
            _kept.clear()  # (what this call returns is its own: found above and read here)
        _kept.update(read)
        found.update((clip_id, read[clip_id]) for clip_id in missing if clip_id in read)
    return found


def _studies_read(clip_ids: list[int]) -> dict[int, Clip]:
    """Every clip of the studies these clips belong to, by id, those known to be too big left out; none
    when they are more than STUDY_READ_MOST (their studies are then remembered as too big)."""
    too_big = sorted(_too_big)
    skip = f" AND p.study_id NOT IN ({placeholders(len(too_big))})" if too_big else ""
    sql = (
        f"SELECT p.study_id, {columns(Clip, 'c')} FROM {table(Clip)} c JOIN {table(Prompt)} p "
        f"ON p.id = c.prompt_id WHERE p.study_id IN (SELECT q.study_id FROM {table(Clip)} k "
        f"JOIN {table(Prompt)} q ON q.id = k.prompt_id WHERE k.id IN ({placeholders(len(clip_ids))})){skip} "
        "ORDER BY c.id LIMIT %s"
    )
    found = tuples(sql, [*clip_ids, *too_big, STUDY_READ_MOST + 1])
    if len(found) > STUDY_READ_MOST:
        _too_big.update(row[0] for row in found)
        return {}
    return {clip.pk: clip for clip in (instance(Clip, row[1:]) for row in found)}


@receiver(post_save, sender=Clip, dispatch_uid="clip_rows_forget_on_save")
@receiver(post_delete, sender=Clip, dispatch_uid="clip_rows_forget_on_delete")
def clips_forget(**_) -> None:
    """Forget every clip read, and which studies were too big (a clip saved or deleted in this process)."""
    _kept.clear()
    _too_big.clear()
