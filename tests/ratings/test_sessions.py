"""Sessions a rater can finish, a steady "k of T", and a fair check policy (one miss forgiven, a
reminder later, an exclusion page that says what happens next)."""

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from ratings import selectors, services
from ratings.models import Study

from .factories import answer, full_submission, make_raters, make_study

pytestmark = pytest.mark.django_db


def _total(page: str) -> int:
    return int(re.search(r"Item \d+ of (\d+)", page).group(1))


def _answer_passing(task):
    """Answer any task; a check (a prompt the clips do not match) gets the low text adherence it expects."""
    if task.check_item_id is None:
        return answer(task, score=4)
    submission = full_submission(task, score=4)
    for label, criterion in list(submission.scores):
        if criterion == "text_adherence":
            submission.scores[(label, criterion)] = 1
    return services.task_submit(task=task, submission=submission)


def _miss(task):
    """Answer a check wrongly: the clips plainly do not match the text, rated as if they did."""
    return services.task_submit(task=task, submission=full_submission(task, score=5))


def test_a_new_study_gives_a_session_of_twenty_minutes_of_listening(tmp_path):
    study = make_study(tmp_path, prompts=2, seconds=10.0)  # 3 variants: 30 s of listening per item
    session = selectors.study_session(study)
    assert Study().session_minutes == 20
    assert session.item_seconds == pytest.approx(30.0)
    assert session.items == 40 and session.minutes_for(session.items) == 20


def test_max_items_per_rater_overrides_the_minutes_and_zero_minutes_means_no_limit(tmp_path):
    study = make_study(tmp_path, prompts=2, seconds=10.0)
    study.max_items_per_rater = 7
    assert selectors.study_session(study).items == 7
    study.max_items_per_rater, study.session_minutes = None, 0
    assert selectors.study_session(study).items is None


def test_the_session_items_need_no_query_when_the_researcher_set_them(tmp_path, django_assert_num_queries):
    study = make_study(tmp_path, prompts=2, seconds=10.0)
    assert selectors.study_session_items(study) == selectors.study_session(study).items == 40
    study.max_items_per_rater = 7
    with django_assert_num_queries(0):  # every claim and task page asks; the clips' average is not read
        assert selectors.study_session_items(study) == 7


def test_a_raters_total_is_steady_from_the_first_item_and_counts_the_checks(client, tmp_path):
    # 12 prompts, 30 s per item, 3-minute sessions: 6 items, one in two of them a check.
    study = make_study(tmp_path, prompts=12, raters_per_prompt=2, seconds=10.0)
    study.session_minutes, study.attention_rate, study.completion_code = 3, 0.5, "C0MPL3TE"
    study.save()
    rater, other = make_raters(study, 2)
    home = client.get(reverse("ratings:rater_home", args=[rater.token])).content.decode()
    assert "rated 0 of 6 items" in home and "This session has 6 items: about 3 minutes of listening" in home

    totals, checks = [], 0
    while (task := services.task_next(rater=rater)) is not None:
        page = client.get(reverse("ratings:task", args=[rater.token, task.kind, task.token])).content.decode()
        totals.append(_total(page))
        checks += task.check_item_id is not None
        _answer_passing(task)
    assert totals == [6] * 6 and checks >= 2
    assert selectors.rater_progress(rater).done == 6

    done = client.get(reverse("ratings:rater_done", args=[rater.token])).content.decode()
    assert "C0MPL3TE" in done
    # The prompts this rater did not reach go to the other rater.
    assert selectors.claimable_by(other, "quality").count() == 12


@pytest.mark.django_db(transaction=True)
def test_a_study_that_existed_before_sessions_keeps_no_limit():
    before = [("ratings", "0007_drop_assignments")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    executor.loader.project_state(before).apps.get_model("ratings", "Study").objects.create(slug="old")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Study.objects.get(slug="old").session_minutes == 0


def test_one_missed_check_is_forgiven_and_a_second_excludes(tmp_path):
    study = make_study(tmp_path, prompts=8, raters_per_prompt=1, seconds=1.0)
    study.attention_rate = 1.0
    study.save()
    (rater,) = make_raters(study, 1)
    first = services.task_next(rater=rater)
    assert first.check_item_id is not None
    _miss(first)
    assert not selectors.rater_is_excluded(rater)
    answer(services.task_next(rater=rater))
    second = services.task_next(rater=rater)
    assert second.check_item_id is not None
    _miss(second)
    assert selectors.rater_is_excluded(rater)


def test_after_a_miss_a_later_item_reminds_the_rater_without_naming_the_check(client, tmp_path):
    study = make_study(tmp_path, prompts=8, raters_per_prompt=1, seconds=1.0)
    study.attention_rate = 0.5
    study.save()
    (rater,) = make_raters(study, 1)

    def page_of(task):
        url = reverse("ratings:task", args=[rater.token, task.kind, task.token])
        return client.get(url).content.decode()

    reminded, missed_at = [], None
    for position in range(6):
        task = services.task_next(rater=rater)
        reminded.append("A reminder: play every clip" in page_of(task))
        if task.check_item_id is not None and missed_at is None:
            _miss(task)
            missed_at = position
        else:
            _answer_passing(task)
    # The reminder comes on the second item after the missed check, not on the one right after
    # (which would point at the check), and only once.
    assert missed_at is not None and missed_at + selectors.REMINDER_AFTER < len(reminded)
    assert [p for p, shown in enumerate(reminded) if shown] == [missed_at + selectors.REMINDER_AFTER]
    assert not selectors.rater_is_excluded(rater)


def test_the_exclusion_page_says_what_happens_next(client, tmp_path):
    study = make_study(tmp_path, prompts=4, raters_per_prompt=1, seconds=1.0)
    study.attention_rate, study.attention_failures_allowed = 1.0, 0
    study.save()
    (rater,) = make_raters(study, 1)
    _miss(services.task_next(rater=rater))
    page = client.get(reverse("ratings:rater_home", args=[rater.token]))
    text = page.content.decode()
    assert page.status_code == 403
    assert "What happens next" in text and "can reverse it" in text and "return the study there" in text
    assert "attention" not in text.lower() and "check item" not in text.lower()
