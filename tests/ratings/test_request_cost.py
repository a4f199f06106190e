"""What a rater's requests cost the server: queries per claim, task page, audio request and submit,
and the audio requests kept per task (benchmarks/request_cpu.py measures their CPU)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import formats
from ratings import selectors, services
from ratings.models import AudioRequest, Rater, Study, Task, TaskStatus

from .factories import make_raters, make_study

pytestmark = pytest.mark.django_db

# Queries each request may make, at most (BEGIN/COMMIT counted where the backend logs them), with
# the study's clip stats not yet remembered by the process (one query less in the claim and the task
# page once they are: selectors.study_clip_stats).
# The audio and the submit come after the task page, which read the task's clips for this process
# (ratings/clip_rows.py): one query more each in a process that has not read them.
CLAIM_QUERIES = 13
# A study's first claim in a process finds, under its lock, that a sweep of the study's stale claims is
# due: it gives the lock back, sweeps, finds when the next claim can go stale, and claims as
# services.task_claim does (the rater read again with the lock). Later claims skip all of that until
# then (services.queue._claims_expire_due) and read the rater with the claim's lock.
CLAIM_SWEEP_QUERIES = 5
TASK_PAGE_QUERIES = 5  # 4 on PostgreSQL: the read marks the page shown (services.task_page_open)
AUDIO_QUERIES = 2
SUBMIT_QUERIES = 6


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path, prompts=3, seconds=0.2)
    study.min_task_seconds = 0
    study.save(update_fields=["min_task_seconds"])
    return study


def _queries(call, *args, **kwargs):
    selectors.study_clip_stats_forget()  # counted cold: as the first request of a study in a process
    with CaptureQueriesContext(connection) as captured:
        response = call(*args, **kwargs)
    return response, len(captured)


def _answer(page: str) -> dict[str, str]:
    answer = {}
    for label, duration in re.findall(r'data-label="([A-Z0-9]+)" data-duration="([0-9.]+)"', page):
        answer.update({f"plays_{label}": "1", f"seconds_{label}": duration, f"ended_{label}": "True"})
        for criterion in formats.CRITERIA:
            answer[f"score_{label}_{criterion}"] = "4"
    return answer


def test_a_rating_cycle_stays_within_its_query_budget_per_request(client, study):
    (rater,) = make_raters(study, 1)
    claim, claim_queries = _queries(client.get, reverse("ratings:rater_next", args=[rater.token]))
    assert claim.status_code == 302 and claim_queries <= CLAIM_QUERIES, claim_queries

    page, page_queries = _queries(client.get, claim.url)
    assert page.status_code == 200 and page_queries <= TASK_PAGE_QUERIES, page_queries

    sources = re.findall(r'<audio[^>]* src="([^"]+)"', page.content.decode())
    assert sources
    for source in sources:
        audio, audio_queries = _queries(client.get, source, HTTP_RANGE="bytes=0-")
        b"".join(getattr(audio, "streaming_content", [audio.content]))
        assert audio.status_code == 206 and audio_queries <= AUDIO_QUERIES

    submit, submit_queries = _queries(client.post, claim.url, _answer(page.content.decode()))
    assert submit.status_code == 302, submit.content.decode()[:2000]
    assert submit_queries <= SUBMIT_QUERIES, submit_queries
    assert Task.objects.get(rater=rater).status == TaskStatus.SUBMITTED

    again, again_queries = _queries(client.get, reverse("ratings:rater_next", args=[rater.token]))
    assert again.status_code == 302 and again.url != claim.url, again_queries
    assert again_queries <= CLAIM_QUERIES - CLAIM_SWEEP_QUERIES


def test_repeated_audio_requests_keep_one_row_per_position_and_range_and_the_evidence_stays_whole(
    client, study
):
    (rater,) = make_raters(study, 1)
    task = services.quality_assignment_next(rater=rater)
    labels = [label for label, _ in selectors.task_clips_in_order(task)]
    for _replay in range(5):
        for label in labels:
            url = reverse("ratings:task_audio", args=[rater.token, task.token, label])
            assert client.get(url, HTTP_RANGE="bytes=0-").status_code == 206
    assert AudioRequest.objects.filter(task=task).count() == len(labels)
    assert selectors.task_served(task) == dict.fromkeys(labels, 1.0)

    url = reverse("ratings:task_audio", args=[rater.token, task.token, labels[0]])
    for _replay in range(3):
        assert client.get(url, HTTP_RANGE="bytes=0-99").status_code == 206
        client.head(url)
    assert AudioRequest.objects.filter(task=task).count() == len(labels) + 2  # one more range, one HEAD


def test_a_headphone_sound_is_made_once_per_process():
    from ratings.headphones import trial_wav

    first = trial_wav(quiet=2, antiphase=0)
    assert trial_wav(2, 0) is first and trial_wav(quiet=2, antiphase=0) is first
    assert trial_wav(0, 2) is not first and trial_wav(0, 2) != first


def test_a_positions_file_appears_only_whole(study, monkeypatch):
    """The position's file is written under another name and renamed into place: a request that arrives
    while the first one writes finds no file (and writes its own), never a part of one."""
    import os

    from django.core.files.storage import default_storage

    from ratings.services import listening

    (rater,) = make_raters(study, 1)
    task = services.quality_assignment_next(rater=rater)
    label = selectors.task_clips_in_order(task)[0][0]
    final = default_storage.path(listening.task_audio_name(task, label))
    seen, real_replace = [], os.replace

    def replace(src, dst):
        # the moment before the file appears: all of it is written elsewhere, nothing under its name
        seen.append((os.path.exists(dst), os.path.getsize(src)))
        real_replace(src, dst)

    monkeypatch.setattr(listening.os, "replace", replace)
    listening.task_audio_prepare(task=task, only=label)
    assert seen == [(False, os.path.getsize(final))]
    listening.task_audio_prepare(task=task, only=label)  # written: nothing written again
    assert len(seen) == 1
    assert [p for p in os.listdir(os.path.dirname(final)) if p.endswith(".tmp")] == []


def test_a_range_header_longer_than_the_evidence_keeps_is_refused(client, study):
    from ratings.http import MAX_RANGE_HEADER, requested_range

    padded = "bytes=" + "0" * (MAX_RANGE_HEADER - 8) + "1-"
    assert len(padded) == MAX_RANGE_HEADER and requested_range(padded, 1000) is not None
    assert requested_range("bytes=" + "0" * MAX_RANGE_HEADER + "1-", 1000) is None
    (rater,) = make_raters(study, 1)
    task = services.quality_assignment_next(rater=rater)
    label = selectors.task_clips_in_order(task)[0][0]
    url = reverse("ratings:task_audio", args=[rater.token, task.token, label])
    assert client.get(url, HTTP_RANGE="bytes=" + "0" * MAX_RANGE_HEADER + "1-").status_code == 416


# Onboarding: every rater of a launch takes these steps in its first minute, the server's busiest.
# Statements, not counting the transactions' own (a test's savepoints; a server's BEGIN and COMMIT, which
# Django does not log).
ONBOARDING_QUERIES = {
    "home page": 3,  # the rater; their tasks with the items left to claim; the study's clip stats (cold)
    "consent page": 1,
    "consent": 2,  # the rater; the time recorded
    "instructions page": 1,
    "instructions": 2,
    "headphones page": 3,  # the rater; the check's state locked; the trials drawn
    "headphones": 4,  # the rater; locked (its trials); locked again; the verdict
}


def _statements(call, *args):
    with CaptureQueriesContext(connection) as captured:
        response = call(*args)
    return response, sum(
        not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for query in captured
    )


def test_the_onboarding_steps_stay_within_their_query_budget(client, study):
    Study.objects.filter(pk=study.pk).update(onboarding_required=True)
    (rater,) = make_raters(study, 1)

    def url(name):
        return reverse(f"ratings:rater_{name}", args=[rater.token])

    spent = {}
    for name, call, args in [
        ("home page", client.get, (reverse("ratings:rater_home", args=[rater.token]),)),
        ("consent page", client.get, (url("consent"),)),
        ("consent", client.post, (url("consent"), {"agree": "on"})),
        ("instructions page", client.get, (url("instructions"),)),
        ("instructions", client.post, (url("instructions"),)),
        ("headphones page", client.get, (url("headphones"),)),
    ]:
        selectors.study_clip_stats_forget()  # (as in the first request of a study in a process)
        response, spent[name] = _statements(call, *args)
        assert response.status_code in (200, 302), name
    trials = Rater.objects.get(pk=rater.pk).headphone_trials
    answers = {f"trial_{number}": str(trial["quiet"]) for number, trial in enumerate(trials)}
    response, spent["headphones"] = _statements(client.post, url("headphones"), answers)
    assert response.url == url("next")
    assert Rater.objects.get(pk=rater.pk).headphone_passed is True
    assert spent == ONBOARDING_QUERIES


@pytest.mark.postgres
def test_on_postgresql_a_claim_takes_its_slot_reads_its_clips_and_makes_its_task_in_one_statement(study):
    """The slot's UPDATE and the read of the taken prompt's clips stand in a WITH clause that the task's
    INSERT reads (QualityKind._claim_first_unheld): no separate read of the prompt's clips nor INSERT
    of the task, and the task shows the clips that read would have chosen, in some order."""
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://… (make test sets it)")
    from ratings.kinds.quality import prompt_quality_clip_ids

    (rater,) = make_raters(study, 1)
    with CaptureQueriesContext(connection) as captured:
        task = services.task_next(rater=rater)
    statements = [query["sql"] for query in captured]
    assert [
        sql for sql in statements if sql.startswith(("SELECT variant_id", 'INSERT INTO "ratings_task"'))
    ] == []
    (claim,) = [sql for sql in statements if sql.startswith("WITH taken AS")]
    assert 'INSERT INTO "ratings_task"' in claim and "SKIP LOCKED" in claim
    assert sorted(task.clips) == prompt_quality_clip_ids(task.prompt_id) and len(task.clips) == 3
    assert Task.objects.get(pk=task.pk).clips == task.clips and task.status == TaskStatus.OPEN


@pytest.mark.postgres
def test_on_postgresql_a_submit_locks_and_reads_its_evidence_in_one_statement_and_writes_in_one(
    client, study
):
    """The submit's lock statement also reads the task's served audio (services.submissions.
    task_lock_state): no statement of its own reads the audio requests; the answer's rows and the task's
    new state go as one statement (plain_sql.run_writes), and both are stored."""
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://… (make test sets it)")
    (rater,) = make_raters(study, 1)
    claim = client.get(reverse("ratings:rater_next", args=[rater.token]))
    page = client.get(claim.url).content.decode()
    for source in re.findall(r'<audio[^>]* src="([^"]+)"', page):
        assert client.get(source, HTTP_RANGE="bytes=0-").status_code == 206
    with CaptureQueriesContext(connection) as captured:
        assert client.post(claim.url, _answer(page)).status_code == 302
    statements = [query["sql"] for query in captured if query["sql"] not in ("BEGIN", "COMMIT")]
    assert not [sql for sql in statements if sql.startswith("SELECT label")]
    (lock,) = [sql for sql in statements if "FOR UPDATE" in sql]
    assert "LEFT JOIN" in lock and "ratings_audiorequest" in lock
    (write,) = [sql for sql in statements if "INSERT" in sql or sql.startswith("UPDATE")]
    assert write.startswith("WITH w0 AS (INSERT INTO") and "UPDATE" in write
    task = Task.objects.get(rater=rater)
    assert task.status == TaskStatus.SUBMITTED and task.ratings.count() == 3 * len(task.clips)


@pytest.mark.postgres
def test_the_task_page_is_read_and_marked_shown_in_one_statement_only_when_it_is_shown(client, study):
    """services.task_page_open: the page's read and the mark of its first showing are one statement on
    PostgreSQL (the read, then its own UPDATE elsewhere); only an open task of the page's kind, whose
    rater is not excluded, is marked, once."""
    (rater,) = make_raters(study, 1)
    url = client.get(reverse("ratings:rater_next", args=[rater.token])).url
    task = Task.objects.get(rater=rater)
    wrong_kind = url.replace("/quality/", "/diversity/")
    assert client.get(wrong_kind).status_code == 404
    assert Task.objects.get(pk=task.pk).shown_at is None  # not the page of that kind: not shown
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    first = Task.objects.get(pk=task.pk).shown_at
    assert first is not None
    if connection.vendor == "postgresql":
        assert [query["sql"] for query in captured if query["sql"].startswith("UPDATE")] == []
        assert any(query["sql"].startswith("WITH shown AS (UPDATE") for query in captured)
    assert client.get(url).status_code == 200
    assert Task.objects.get(pk=task.pk).shown_at == first  # the first showing is kept

    (other,) = make_raters(study, 1)
    other_url = client.get(reverse("ratings:rater_next", args=[other.token])).url
    Rater.objects.filter(pk=other.pk).update(excluded=True)
    assert client.get(other_url).status_code == 403
    assert Task.objects.get(rater=other).shown_at is None  # an excluded rater's page is not shown
