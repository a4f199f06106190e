"""Claims expiring while raters claim and submit, against the real PostgreSQL server (issue 12)."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ratings import services
from ratings.models import QualityRating, Study, Task, TaskStatus

from .factories import full_submission, make_raters, make_study
from .test_concurrency_postgres import _all_at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (make test sets it)"
    ),
]


def test_sweeping_expiry_while_raters_claim_and_submit_never_passes_n_nor_loses_an_acknowledged_answer(
    tmp_path,
):
    study = make_study(tmp_path, prompts=4, raters_per_prompt=2)
    Study.objects.filter(pk=study.pk).update(claim_timeout_minutes=1)
    raters = make_raters(study, 12)
    acknowledged: list[int] = []
    refused_late: list[int] = []
    done = threading.Event()
    raters_done = threading.Barrier(12, action=done.set)  # the sweeper stops once every rater is done

    def work(i: int) -> None:
        if i == 0:  # the sweeper: every open claim is stale to it, so expiry races with every submission
            while not done.is_set():
                services.tasks_expire(now=timezone.now() + timedelta(minutes=5))
            return
        try:
            while (task := services.task_next(rater=raters[i - 1])) is not None:
                try:
                    result = services.task_submit(task=task, submission=full_submission(task))
                except services.SubmissionRejected:
                    refused_late.append(task.pk)
                else:
                    acknowledged.append(result.task.pk)
        finally:
            raters_done.wait(timeout=120)

    assert _all_at_once(13, work) == []
    assert acknowledged  # raters did get answers in
    assert Task.objects.filter(expired_at__isnull=False).exists()  # and the sweeper did expire claims
    tasks = Task.objects.filter(kind="quality", check_item__isnull=True)
    # No acknowledged answer is lost: each is submitted, counted, with its 9 scores.
    for task in tasks.filter(pk__in=acknowledged):
        assert task.status == TaskStatus.SUBMITTED and task.holds_slot
    assert QualityRating.objects.filter(task__in=acknowledged).count() == 9 * len(acknowledged)
    assert set(acknowledged).isdisjoint(refused_late)
    # No prompt passes N valid answers, and each counter is exactly what holds it.
    submitted = Counter(tasks.filter(status=TaskStatus.SUBMITTED).values_list("prompt_id", flat=True))
    assert max(submitted.values()) <= 2
    for prompt in study.prompts.all():
        holding = tasks.filter(prompt=prompt, holds_slot=True).exclude(status=TaskStatus.EXPIRED).count()
        assert prompt.quality_slots_taken == holding <= 2
    assert not tasks.filter(status=TaskStatus.EXPIRED, holds_slot=True).exists()
