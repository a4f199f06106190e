"""Many raters asking for work at the same moment, against the real PostgreSQL server.

Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/counterpoint (``make test`` does).
"""

import contextlib
import threading
from collections import Counter

import pytest
from django.db import OperationalError, connection, connections, transaction

from ratings import services
from ratings.models import Task, TaskStatus
from ratings.services import quality_control

from .factories import full_submission, make_raters, make_study

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (make test sets it)"
    ),
]


def _all_at_once(workers: int, work) -> list[BaseException]:
    """Run work(i) in `workers` threads released by one barrier; return what they raised."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            connection.ensure_connection()  # connect first, so the barrier releases ready requests
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _own_connection():
    """A psycopg connection of its own to the test database (outside Django's), in a transaction."""
    import psycopg

    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )


def _recorded(call, outcome: list):
    """call, for a thread of its own: what it returns or raises is appended to outcome, and the thread's
    database connection is closed after it."""

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - reported by the test
            outcome.append(error)
        finally:
            connections.close_all()

    return run


def _started_and_waiting(target, holder, what: str) -> threading.Thread:
    """Start target in a thread and return once some session waits on a lock the holder's session holds
    (pg_locks and pg_blocking_pids are read live, where pg_stat_activity would show the holder's
    transaction its first snapshot again)."""
    import time

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 10
    blocked = "SELECT 1 FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    while not holder.execute(blocked).fetchall():
        assert time.monotonic() < deadline, f"{what} never waited"
        time.sleep(0.02)
    return thread


def test_24_raters_asking_at_once_never_push_a_prompt_past_n(tmp_path):
    study = make_study(tmp_path, prompts=5, raters_per_prompt=3)
    raters = make_raters(study, 24)

    def rate_until_done(i: int) -> None:
        while (assignment := services.quality_assignment_next(rater=raters[i])) is not None:
            services.task_submit(task=assignment, submission=full_submission(assignment))

    assert _all_at_once(24, rate_until_done) == []
    coverage = Counter(Task.objects.filter(kind="quality").values_list("prompt__external_id", flat=True))
    assert coverage == {f"p{p:03d}": 3 for p in range(5)}
    pairs = list(Task.objects.filter(kind="quality").values_list("rater_id", "prompt_id"))
    assert len(pairs) == len(set(pairs))
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {3}


def test_one_rater_asking_from_many_tabs_at_once_gets_one_open_assignment(tmp_path):
    study = make_study(tmp_path, prompts=10, raters_per_prompt=3)
    (rater,) = make_raters(study, 1)
    handed_out = []

    assert (
        _all_at_once(20, lambda i: handed_out.append(services.quality_assignment_next(rater=rater).pk)) == []
    )
    assert len(set(handed_out)) == 1
    assert Task.objects.filter(kind="quality").filter(rater=rater, status=TaskStatus.OPEN).count() == 1
    assert sum(study.prompts.values_list("quality_slots_taken", flat=True)) == 1


def test_30_raters_asking_once_at_the_same_moment_get_30_different_prompts(tmp_path):
    study = make_study(tmp_path, prompts=30, variants=("base",), raters_per_prompt=1)
    raters = make_raters(study, 30)

    assert _all_at_once(30, lambda i: services.quality_assignment_next(rater=raters[i])) == []
    coverage = Counter(Task.objects.filter(kind="quality").values_list("prompt_id", flat=True))
    assert len(coverage) == 30 and set(coverage.values()) == {1}
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {1}


def test_two_raters_excluded_at_once_release_their_shared_prompts_without_deadlock(tmp_path, monkeypatch):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=3)
    first, second = make_raters(study, 2)
    prompts = list(study.prompts.order_by("id"))
    # The two raters met the two prompts in opposite orders.
    for rater, order in ((first, prompts), (second, prompts[::-1])):
        for prompt in order:
            Task.objects.create(
                rater=rater, kind="quality", prompt=prompt, clips=[], status=TaskStatus.SUBMITTED
            )
    study.prompts.update(quality_slots_taken=2)

    # Each release holds its first counter, then waits (a moment at most) for the other to hold one too.
    barrier = threading.Barrier(2)
    release = quality_control.release_slot
    released = Counter()

    def release_in_step(assignment):
        release(assignment)
        released[threading.get_ident()] += 1
        if released[threading.get_ident()] == 1:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=3)

    monkeypatch.setattr(quality_control, "release_slot", release_in_step)
    raters = (first, second)
    errors = _all_at_once(2, lambda i: services.rater_flag(rater=raters[i], reason="manual", detail="test"))
    assert errors == []
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {0}


@pytest.mark.parametrize("filled_meanwhile", [False, True], ids=["released as it was", "filled meanwhile"])
def test_a_claim_with_every_prompt_held_waits_for_one_and_never_passes_n(tmp_path, filled_meanwhile):
    """Every claimable prompt held by another transaction: the one-statement pick (SKIP LOCKED) finds
    none, so the claim waits on them in order; it takes the first once released, or the next one when
    the first was filled meanwhile."""
    import time

    from ratings.models import Prompt

    study = make_study(tmp_path, prompts=2, raters_per_prompt=2)
    (rater,) = make_raters(study, 1)
    first, second = study.prompts.order_by("id").values_list("id", flat=True)
    holder = _own_connection()
    claimed: list = []
    try:
        holder.execute(f"SELECT id FROM {Prompt._meta.db_table} FOR UPDATE")  # every prompt held
        waiting = threading.Thread(
            target=lambda: (
                claimed.append(services.quality_assignment_next(rater=rater)),
                connections.close_all(),
            )
        )
        waiting.start()
        time.sleep(1.0)
        assert waiting.is_alive()  # the claim waits on the held prompts rather than giving up
        if filled_meanwhile:
            holder.execute(
                f"UPDATE {Prompt._meta.db_table} SET quality_slots_taken = 2 WHERE id = %s", [first]
            )
        holder.commit()
        waiting.join(timeout=30)
    finally:
        holder.close()
    assert not waiting.is_alive() and claimed and claimed[0] is not None
    assert claimed[0].prompt_id == (second if filled_meanwhile else first)
    slots = dict(study.prompts.values_list("id", "quality_slots_taken"))
    assert slots == ({first: 2, second: 1} if filled_meanwhile else {first: 1, second: 0})


@pytest.mark.parametrize("attempts", [2, 1], ids=["tried again", "not tried again"])
def test_a_claim_chosen_as_a_deadlocks_victim_is_tried_again(tmp_path, monkeypatch, attempts):
    """A real deadlock: another transaction holds the only prompt, the claim (holding its rater) waits on
    it, then the other asks for the rater. PostgreSQL fails the claim's statement: its deadlock_timeout
    (1 s, set per session, as the tests' superuser may) is the shorter, so it looks first, once the other
    waits too; the claim, rolled back, runs again once the other is gone."""

    from ratings.models import Prompt, Rater
    from ratings.services import queue

    monkeypatch.setattr(queue, "CLAIM_ATTEMPTS", attempts)
    study = make_study(tmp_path, prompts=1, raters_per_prompt=2)
    (rater,) = make_raters(study, 1)
    (prompt_id,) = study.prompts.values_list("id", flat=True)
    other = _own_connection()
    outcome: list = []

    def claim_first_to_look() -> object:
        with connection.cursor() as cursor:
            cursor.execute("SET deadlock_timeout = '1s'")
        return services.quality_assignment_next(rater=rater)

    claim = _recorded(claim_first_to_look, outcome)

    try:
        other.execute("SET deadlock_timeout = '60s'")
        other.execute(f"SELECT id FROM {Prompt._meta.db_table} WHERE id = %s FOR UPDATE", [prompt_id])
        claiming = _started_and_waiting(claim, other, "the claim")  # holding its rater, on the prompt
        other.execute(f"SELECT id FROM {Rater._meta.db_table} WHERE id = %s FOR UPDATE", [rater.pk])
        other.rollback()  # the claim was the victim: the rater was free; let the claim's retry go on
        claiming.join(timeout=30)
    finally:
        other.close()
    assert not claiming.is_alive() and len(outcome) == 1
    if attempts == 2:
        assert outcome[0] is not None and not isinstance(outcome[0], BaseException)
        assert outcome[0].prompt_id == prompt_id
        assert dict(study.prompts.values_list("id", "quality_slots_taken")) == {prompt_id: 1}
    else:
        assert isinstance(outcome[0], OperationalError) and queue._deadlock(outcome[0])
        assert not Task.objects.filter(rater=rater).exists()  # nothing of the failed claim kept
        assert dict(study.prompts.values_list("id", "quality_slots_taken")) == {prompt_id: 0}


@pytest.mark.parametrize("held", ["task", "rater"])
def test_a_submit_locks_the_rater_then_the_task_with_one_statement(tmp_path, held):
    """While the submit's lock statement waits on the task, it holds the rater already; while it waits on
    the rater, it holds no task: the order every write of a rater's tasks takes (no deadlock with them)."""

    from psycopg.errors import LockNotAvailable

    from ratings.models import Rater
    from ratings.services.submissions import task_lock_state

    study = make_study(tmp_path, prompts=1, raters_per_prompt=2)
    (rater,) = make_raters(study, 1)
    task = services.quality_assignment_next(rater=rater)
    holder, prober = _own_connection(), _own_connection()
    read: list = []

    def lock_state() -> None:
        try:
            with transaction.atomic():
                locked = task_lock_state(task)
                read.append((locked.excluded, locked.status, locked.holds_slot, locked.shown_at))
        finally:
            connections.close_all()

    tables = {"task": (Task._meta.db_table, task.pk), "rater": (Rater._meta.db_table, rater.pk)}
    try:
        holder.execute(
            "SELECT id FROM {} WHERE id = %s FOR UPDATE".format(*tables[held][:1]), [tables[held][1]]
        )
        locking = _started_and_waiting(lock_state, holder, "the lock statement")
        other = "rater" if held == "task" else "task"
        table, row_id = tables[other]
        if held == "task":  # waiting on the task: the rater is held already
            with pytest.raises(LockNotAvailable):
                prober.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [row_id])
        else:  # waiting on the rater: the task is not held yet
            assert prober.execute(
                f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [row_id]
            ).fetchall()
        prober.rollback()
        holder.commit()
        locking.join(timeout=30)
    finally:
        holder.close()
        prober.close()
    assert not locking.is_alive() and read == [(False, TaskStatus.OPEN, True, None)]


def _claimed_while_the_rater_was_held(rater, claim, changes: list[tuple[str, list]]):
    """Hold the rater's row in another connection, start ``claim`` (it waits for the row), make the
    holder's ``changes`` (statements with their parameters) and commit: what the claim returned."""
    from ratings.models import Rater

    holder = _own_connection()
    outcome: list = []
    try:
        holder.execute(f"SELECT id FROM {Rater._meta.db_table} WHERE id = %s FOR UPDATE", [rater.pk])
        claiming = _started_and_waiting(_recorded(claim, outcome), holder, "the claim")
        for sql, params in changes:
            holder.execute(sql, params)
        holder.commit()
        claiming.join(timeout=30)
    finally:
        holder.close()
    assert not claiming.is_alive() and len(outcome) == 1
    (claimed,) = outcome
    assert not isinstance(claimed, BaseException), claimed
    return claimed


@pytest.mark.parametrize("entry", ["rater", "token"])
def test_a_claim_that_waited_for_its_rater_sees_the_item_the_holder_expired(tmp_path, entry):
    """The claim reads the rater's tasks after it holds the rater, in a statement of its own: one that
    also locked would read them in the snapshot it took before waiting for the lock. Here the holder of
    the rater expires the rater's open item and commits while the claim waits: the claim must not hand
    back the expired item, but give new work and say the last one lapsed. Both for a claim given the
    rater read before (task_claim) and one whose lock statement reads the rater (task_claim_by_token)."""
    from ratings.models import Prompt

    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    first = services.quality_assignment_next(rater=rater)
    claimed = _claimed_while_the_rater_was_held(
        rater,
        (lambda: services.task_claim(rater=rater))
        if entry == "rater"
        else (lambda: services.task_claim_by_token(rater_token=rater.token)),
        [
            (
                f"UPDATE {Task._meta.db_table} SET status = 'expired', expired_at = now(), holds_slot = false "
                "WHERE id = %s",
                [first.pk],
            ),
            (
                f"UPDATE {Prompt._meta.db_table} SET quality_slots_taken = quality_slots_taken - 1 WHERE id = %s",
                [first.prompt_id],
            ),
        ],
    )
    assert claimed.lapsed and claimed.task is not None and claimed.task.pk != first.pk
    assert Task.objects.get(pk=claimed.task.pk).status == TaskStatus.OPEN
    assert Task.objects.get(pk=first.pk).status == TaskStatus.EXPIRED


def test_a_claim_by_token_that_waited_for_its_rater_sees_the_exclusion_the_holder_made(tmp_path):
    """task_claim_by_token reads the rater with its lock statement: after waiting for the holder of the
    rater, it reads the row as the holder left it (PostgreSQL reads a locked row again once it has it),
    so a rater excluded meanwhile claims nothing."""
    from ratings.models import Rater

    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    services.quality_assignment_next(rater=rater)  # (this process has swept the study: no sweep is due)
    claimed = _claimed_while_the_rater_was_held(
        rater,
        lambda: services.task_claim_by_token(rater_token=rater.token),
        [(f"UPDATE {Rater._meta.db_table} SET excluded = true WHERE id = %s", [rater.pk])],
    )
    assert claimed.refused == "excluded" and claimed.task is None and claimed.rater.excluded
