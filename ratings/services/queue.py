"""The claim queue: the next task for a rater, an ordinary item or a check, claimed atomically."""

import dataclasses
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from .. import plain_sql, selectors
from ..kinds import KINDS, TaskKind, kind_of
from ..models import Rater, Study, Task, TaskStatus
from .quality_control import lock_rater, lock_rater_excluded


@dataclass(frozen=True)
class Claim:
    task: Task | None
    # The rater's latest item had expired unanswered (or was past its timeout and expired now): what
    # they are told, once, with the new work. Read under the claim's lock, so it costs no query.
    lapsed: bool = False
    # task_claim_by_token: the rater as read under the claim's lock, and why nothing was claimed for
    # them, if it was refused before any claim: "excluded", or the onboarding step they must take first.
    rater: Rater | None = None
    refused: str = ""


def task_next(*, rater: Rater, kinds: tuple[str, ...] | None = None) -> Task | None:
    """The rater's open task, or a new one, or None when nothing is left for them (task_claim)."""
    return task_claim(rater=rater, kinds=kinds).task


def task_claim(*, rater: Rater, kinds: tuple[str, ...] | None = None) -> Claim:
    """The rater's open task, or a new one, or None when nothing is left for them; and whether their
    previous item lapsed.

    A new item is a check (attention or gold item) when one is due at the study's attention rate,
    otherwise a claim on the least-covered item (a prompt, a comparison) of a kind the rater has not
    had, taking first the kind the rater has done less of. Safe under concurrency: slots are claimed
    with a conditional UPDATE, so nothing passes the study's N raters, and a partial unique index keeps
    one open task per rater, whatever its kind.

    The rater's study is read as given (a request reads it with the rater, just before); under the
    rater's lock only whether they were excluded meanwhile is read again.
    """
    kinds = selectors.study_task_kinds(rater.study) if kinds is None else kinds
    # Claims left unanswered past the study's timeout go back to the pool first (the beat task does the
    # same every minute), the rater's own included: they get new work.
    _claims_expire_due(rater.study)
    return _retried(lambda: _task_claim(rater, kinds), lambda: Claim(selectors.rater_open_task(rater)))


# A claim that PostgreSQL chose as a deadlock's victim is tried again once (its transaction was rolled
# back whole, nothing of it kept) rather than answered with an error page. Our writers take their locks
# in one order (rater, task, counter: quality_control.lock_rater), so none of them makes such a cycle
# with a claim; a claim also waits on rows that other sessions may hold in another order (a statement
# run by hand, a data migration), and the rater should not pay for it.
CLAIM_ATTEMPTS = 2


def _retried(claim, after_duplicate):
    """``claim()``, tried again once if PostgreSQL chose it as a deadlock's victim; ``after_duplicate()``
    when the same rater asked twice at once and the other request's task was made first (the one open
    task per rater's unique index: IntegrityError)."""
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            return claim()
        except IntegrityError:
            return after_duplicate()
        except OperationalError as error:
            if not _deadlock(error) or attempt + 1 == CLAIM_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # (the loop returns or raises)


def task_claim_by_token(*, rater_token: str) -> Claim | None:
    """task_claim for the rater of a link's token, or None when no rater has it: the rater and their
    study read by the claim's own lock statement, a round trip fewer than reading the rater first (the
    claim is the rater's most frequent request, and each wait on the database costs a worker more CPU
    than the statement: benchmarks/request_cpu.py). An excluded rater, or one with an onboarding step
    still to take, claims nothing: Claim.refused says why.

    When a sweep of the study's stale claims is due (_claims_expire_due: about once per claim timeout,
    process and study), the lock is given back first, and the sweep and the claim run as task_claim runs
    them: a BEGIN, a lock and a COMMIT more. That claim reads again only whether the rater was excluded
    meanwhile (then they get no work, and the next page says why)."""

    def duplicate() -> Claim:
        rater = selectors.rater_by_token(rater_token)
        return Claim(selectors.rater_open_task(rater) if rater else None, rater=rater)

    claim = _retried(lambda: _task_claim_by_token(rater_token), duplicate)
    if isinstance(claim, _SweepFirst):
        return dataclasses.replace(task_claim(rater=claim.rater), rater=claim.rater)
    return claim


@dataclass(frozen=True)
class _SweepFirst:
    """_task_claim_by_token found a sweep of the rater's study due: claimed nothing, holds no lock."""

    rater: Rater


@transaction.atomic
def _task_claim_by_token(rater_token: str) -> Claim | _SweepFirst | None:
    rater = selectors.rater_by_token(rater_token, lock=True)
    if rater is None:
        return None
    refused = "excluded" if rater.excluded else selectors.rater_onboarding_step(rater) or ""
    if refused:
        return Claim(None, rater=rater, refused=refused)
    if _claims_sweep_due(rater.study):
        return _SweepFirst(rater)  # (the transaction ends, its lock with it, having written nothing)
    return dataclasses.replace(_claim_locked(rater, selectors.study_task_kinds(rater.study)), rater=rater)


def _deadlock(error: OperationalError) -> bool:
    """Whether the database broke a deadlock by failing this statement (SQLSTATE 40P01)."""
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


def tasks_expire(*, study: Study | None = None, now: datetime | None = None) -> int:
    """Give back the slots of open tasks not submitted within their study's claim timeout; how many.

    Each task is expired in its own transaction, under the locks every write of a rater's tasks takes
    (rater, task, counter), so a submission racing with it either lands first or finds the task expired
    (and is then stored only while its slot is free). An expired task is kept, never counted."""
    now = now or timezone.now()
    studies = (
        [study]
        if study is not None
        else Study.objects.filter(raters__tasks__status=TaskStatus.OPEN).distinct()
    )
    expired = 0
    for each in studies:
        deadline = now - timedelta(minutes=each.claim_timeout_minutes)
        for task_id, rater_id in _stale_tasks(each.pk, deadline):
            expired += _task_expire(task_id, rater_id, deadline, now)
    return expired


# When each study's next open task can first pass its claim timeout, as this process last found it:
# (study id, claim timeout in minutes) → that moment. See _claims_expire_due.
_next_stale: dict[tuple[int, int], datetime] = {}


def _claims_expire_due(study: Study, now: datetime | None = None) -> None:
    """tasks_expire(study=…), run only when a claim of the study may have passed its timeout.

    Every claim used to ask PostgreSQL for the study's stale tasks, nearly always to find none. A task's
    creation time is set when it is claimed and never changed, so after a sweep at time T the next task
    to go stale is the oldest one still open then (or one claimed later, by T + the timeout at the
    earliest): until that moment no claim of this process sweeps. A changed timeout is a new key. The
    beat task sweeps every study every minute whatever this process remembers (a creation time set by
    hand, as the tests do, is seen there; ``claims_expire_forget`` forgets at once)."""
    now = now or timezone.now()
    if not _claims_sweep_due(study, now):
        return
    tasks_expire(study=study, now=now)
    timeout = timedelta(minutes=study.claim_timeout_minutes)
    oldest = _oldest_open_since(study.pk, now - timeout)
    _next_stale[(study.pk, study.claim_timeout_minutes)] = (oldest or now) + timeout


def _claims_sweep_due(study: Study, now: datetime | None = None) -> bool:
    """Whether a claim of the study may have passed its timeout since this process last swept it."""
    due = _next_stale.get((study.pk, study.claim_timeout_minutes))
    return due is None or (now or timezone.now()) >= due


def claims_expire_forget() -> None:
    """Forget when each study's claims are next due to expire: the next claim sweeps."""
    _next_stale.clear()


def _oldest_open_since(study_id: int, since: datetime) -> datetime | None:
    """The creation time of the study's oldest open task created at or after `since`, if any."""
    ((oldest,),) = plain_sql.values(
        f"SELECT MIN(t.created_at) {_study_open_tasks('>=')}",
        _study_open_params(study_id, since),
        [Task._meta.get_field("created_at")],
    )
    return oldest


def _stale_tasks(study_id: int, deadline: datetime) -> list[tuple[int, int]]:
    """(task id, rater id) of the study's open tasks handed out before `deadline`, oldest first. A plain
    statement: claims run it when one may be due, and the ORM would spend more CPU building it than the
    database answering (benchmarks/request_cpu.py)."""
    return plain_sql.tuples(
        f"SELECT t.id, t.rater_id {_study_open_tasks('<')} ORDER BY t.created_at, t.id",
        _study_open_params(study_id, deadline),
    )


def _study_open_tasks(compared: str) -> str:
    """``FROM … WHERE`` of a study's open tasks (``t``, their raters ``r``) created `compared` (``<``,
    ``>=``) a moment; its parameters: _study_open_params."""
    return (
        f"FROM {plain_sql.table(Task)} t JOIN {plain_sql.table(Rater)} r ON r.id = t.rater_id "
        f"WHERE r.study_id = %s AND t.status = %s AND t.created_at {compared} %s"
    )


def _study_open_params(study_id: int, moment: datetime) -> list:
    return [study_id, TaskStatus.OPEN.value, connection.ops.adapt_datetimefield_value(moment)]


@transaction.atomic
def _task_expire(task_id: int, rater_id: int, deadline: datetime, now: datetime) -> bool:
    lock_rater(rater_id)
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.status != TaskStatus.OPEN or task.created_at >= deadline:
        return False  # submitted or expired meanwhile
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.EXPIRED, expired_at=now, holds_slot=False)
    slot = kind_of(task.kind).slot(task)
    if task.holds_slot and slot is not None:
        slot.give_back()
    return True


def quality_assignment_next(*, rater: Rater) -> Task | None:
    return task_next(rater=rater, kinds=("quality",))


def diversity_assignment_next(*, rater: Rater) -> Task | None:
    return task_next(rater=rater, kinds=("diversity",))


@transaction.atomic
def _task_claim(rater: Rater, kinds: tuple[str, ...]) -> Claim:
    # Lock the rater row alone (locking the study would serialise every rater), reading back whether
    # they were excluded since the request read them with their study; then read their tasks, in a
    # statement of its own: one that also locked would read them in the snapshot it took before waiting
    # for the lock, missing what the holder of the rater changed meanwhile (a late answer, an expiry,
    # another tab's claim: tests/ratings/test_concurrency_postgres.py).
    rater.excluded = lock_rater_excluded(rater.pk)
    return _claim_locked(rater, kinds)


def _claim_locked(rater: Rater, kinds: tuple[str, ...]) -> Claim:
    """The claim of a rater whose row this transaction holds, their exclusion read under the lock."""
    tasks = selectors.rater_task_briefs(rater)  # one query: the open task, the counts, the latest
    open_ids = [task.id for task in tasks if task.status == TaskStatus.OPEN]
    if open_ids:
        return Claim(Task.objects.get(pk=open_ids[0]))
    lapsed = bool(tasks) and tasks[-1].status == TaskStatus.EXPIRED  # (stale ones were expired above)
    task = _task_new(rater, kinds, tasks)
    return Claim(task, lapsed=lapsed and task is not None)


def _task_new(rater: Rater, kinds: tuple[str, ...], tasks: list[selectors.TaskBrief]) -> Task | None:
    study = rater.study
    if not study.is_open or rater.excluded or selectors.rater_onboarding_step(rater):
        return None
    session_items = selectors.study_session_items(study)
    counts = selectors.rater_counts(rater, tasks)
    if session_items is not None and counts.taken >= session_items:
        # This rater's session is done; the items left go to other raters.
        return None
    check_due = selectors.attention_check_due(rater, counts)
    regular = counts.regular
    order = list(KINDS)
    for name in sorted(kinds, key=lambda k: (regular.get(k, 0), order.index(k))):
        kind = KINDS[name]
        if check_due and kind.claimable(rater).exists():
            check = _check_task_create(rater, kind)
            if check is not None:
                return check
        claimed = kind.claim(rater)
        if claimed is not None:
            return claimed
    return None


def _check_task_create(rater: Rater, kind: TaskKind) -> Task | None:
    """Serve the rater a gold item they have not met, else a fresh attention item; None if neither fits."""
    rng = random.SystemRandom()
    gold = list(selectors.check_items_unseen_by(rater, kind.name))
    item = rng.choice(gold) if gold else kind.attention_item(rater, rng)
    return None if item is None else kind.check_task(rater, item, rng)
