"""Crowd platforms: anonymous raters arriving from Prolific, a cap on items, a completion code and redirect."""

import pytest
from django.urls import reverse

import formats
from ratings import selectors, services
from ratings.models import Rater

from .factories import answer, heard, make_raters, make_study

pytestmark = pytest.mark.django_db

COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path, slug="crowd", prompts=4, raters_per_prompt=3)
    study.accepts_prolific = True
    study.prolific_study_id = "STUDY42"
    study.max_items_per_rater = 2
    study.completion_code = "C0DE1234"
    study.completion_url = COMPLETION_URL
    study.save()
    return study


def _enter(client, **params):
    return client.get(reverse("ratings:prolific_entry", args=["crowd"]), params)


def test_a_prolific_participant_gets_a_rater_record_and_the_same_pid_resumes(client, study):
    first = _enter(client, PROLIFIC_PID="5f3a9c", STUDY_ID="STUDY42", SESSION_ID="s-1")
    rater = Rater.objects.get(external_id="5f3a9c")
    assert rater.source == Rater.Source.PROLIFIC and rater.platform_session_id == "s-1"
    assert first.status_code == 302 and first.url == reverse("ratings:rater_home", args=[rater.token])
    again = _enter(client, PROLIFIC_PID="5f3a9c", STUDY_ID="STUDY42", SESSION_ID="s-2")
    assert again.url == first.url and Rater.objects.count() == 1
    assert Rater.objects.get().platform_session_id == "s-2"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"STUDY_ID": "STUDY42", "SESSION_ID": "s"}, "missing your Prolific ID (PROLIFIC_PID)"),
        ({"PROLIFIC_PID": "", "STUDY_ID": "STUDY42"}, "missing your Prolific ID"),
        ({"PROLIFIC_PID": "<script>", "STUDY_ID": "STUDY42"}, "malformed"),
        ({"PROLIFIC_PID": "abc", "STUDY_ID": "OTHER"}, "belongs to another Prolific study"),
    ],
)
def test_a_bad_prolific_link_is_refused_with_a_clear_message_and_creates_nothing(
    client, study, params, message
):
    response = _enter(client, **params)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Rater.objects.exists()


def test_a_study_that_does_not_take_prolific_participants_refuses_them(client, study):
    study.accepts_prolific = False
    study.save()
    response = _enter(client, PROLIFIC_PID="abc", STUDY_ID="STUDY42")
    assert (
        response.status_code == 400
        and "does not take participants from Prolific" in response.content.decode()
    )
    assert (
        client.get(reverse("ratings:prolific_entry", args=["nope"]), {"PROLIFIC_PID": "x"}).status_code == 404
    )


def test_a_pid_cannot_take_over_an_invited_rater(client, study):
    (invited,) = make_raters(study, 1)
    response = _enter(client, PROLIFIC_PID=invited.external_id, STUDY_ID="STUDY42")
    assert response.status_code == 400 and "already taken" in response.content.decode()


def test_items_per_rater_are_capped_and_the_end_shows_the_code_and_redirects(client, study):
    _enter(client, PROLIFIC_PID="p1", STUDY_ID="STUDY42")
    rater = Rater.objects.get(external_id="p1")
    assert selectors.rater_progress(rater).total == 2
    for _ in range(2):
        answer(services.task_next(rater=rater))
    assert services.task_next(rater=rater) is None
    response = client.get(reverse("ratings:rater_next", args=[rater.token]), follow=True)
    page = response.content.decode()
    assert "Thank you" in page and "rated 2 of 2" in page and "C0DE1234" in page
    redirect_to = COMPLETION_URL.format(code="C0DE1234")
    assert f'<meta http-equiv="refresh" content="8;url={redirect_to}">' in page
    assert f'href="{redirect_to}"' in page
    rater.refresh_from_db()
    assert rater.finished_at is not None
    assert {row["rater_id"] for row in selectors.study_quality_rows(study)} == {"p1"}


def test_no_completion_code_before_the_rater_has_finished(client, study):
    _enter(client, PROLIFIC_PID="p2", STUDY_ID="STUDY42")
    rater = Rater.objects.get(external_id="p2")
    page = client.get(reverse("ratings:rater_done", args=[rater.token])).content.decode()
    assert "C0DE1234" not in page and "refresh" not in page


def test_the_cap_counts_attention_items_too(client, study):
    study.attention_rate = 1.0
    study.save()
    _enter(client, PROLIFIC_PID="p3", STUDY_ID="STUDY42")
    rater = Rater.objects.get(external_id="p3")
    kinds = []
    while (assignment := services.task_next(rater=rater)) is not None:
        kinds.append(bool(assignment.check_item_id))
        heard(assignment)
        services.task_submit(
            task=assignment,
            submission=services.QualitySubmission(
                scores={
                    (label, c): 1
                    for label, _ in selectors.task_clips_in_order(assignment)
                    for c in formats.CRITERIA
                },
                listening={
                    label: services.ClipListening(1, clip.duration_s, True)
                    for label, clip in selectors.task_clips_in_order(assignment)
                },
            ),
        )
    assert kinds == [True, False]
