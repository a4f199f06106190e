"""Crowd entry and the rater's pages against someone trying them as an attacker would."""

import html

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import formats
from ratings import selectors, services
from ratings.models import QualityRating, Rater

from .factories import heard, make_raters, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path, slug="crowd", prompts=3)
    study.accepts_prolific = True
    study.completion_code = "FINISHED1"
    study.screened_out_code = "SCREENED9"
    study.completion_url = "https://app.prolific.com/submissions/complete?cc={code}"
    study.save()
    return study


def _enter(client, **params):
    return client.get(reverse("ratings:prolific_entry", args=["crowd"]), params)


# --- entry parameters: a 400 with a reason, never a 500 (PostgreSQL used to answer 500) ---------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"SESSION_ID": "s" * 150}, "SESSION_ID is 150 characters long; at most 100 are allowed"),
        ({"SESSION_ID": "s\x00"}, "SESSION_ID contains the control character NUL"),
        ({"STUDY_ID": "x" * 150}, "STUDY_ID is 150 characters long; at most 100 are allowed"),
        ({"STUDY_ID": "x\x00"}, "STUDY_ID contains the control character NUL"),
        ({"SESSION_ID": "a b"}, "SESSION_ID must be letters, digits, '-' or '_'"),
        ({"PROLIFIC_PID": "p" * 150}, "PROLIFIC_PID is 150 characters long"),
    ],
)
def test_an_overlong_or_nul_entry_parameter_is_a_400_with_its_reason_and_creates_nothing(
    client, study, params, reason
):
    response = _enter(client, **{"PROLIFIC_PID": "5f1e2d", **params})
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert f"is malformed ({reason}" in page
    assert not Rater.objects.exists()


def test_a_study_id_other_than_the_configured_one_is_refused(client, study):
    study.prolific_study_id = "STUDY42"
    study.save()
    assert _enter(client, PROLIFIC_PID="5f1e2d", STUDY_ID="OTHER").status_code == 400
    assert _enter(client, PROLIFIC_PID="5f1e2d").status_code == 400
    assert not Rater.objects.exists()
    assert _enter(client, PROLIFIC_PID="5f1e2d", STUDY_ID="STUDY42").status_code == 302


# --- a rater's secret link is not handed to whoever knows slug and PID ---------------------------


def test_a_returning_pid_in_its_first_browser_is_resumed(client, study):
    first = _enter(client, PROLIFIC_PID="5f1e2d", SESSION_ID="sess-1")
    again = _enter(client, PROLIFIC_PID="5f1e2d")
    assert first.status_code == again.status_code == 302 and again.url == first.url


def test_a_returning_pid_with_its_prolific_session_id_is_resumed_in_another_browser(client, study):
    first = _enter(client, PROLIFIC_PID="5f1e2d", SESSION_ID="sess-1")
    elsewhere = _enter(Client(), PROLIFIC_PID="5f1e2d", SESSION_ID="sess-1")
    assert elsewhere.status_code == 302 and elsewhere.url == first.url


def test_someone_who_knows_only_slug_and_pid_does_not_get_the_raters_link(client, study):
    _enter(client, PROLIFIC_PID="5f1e2d", SESSION_ID="sess-1")
    rater = Rater.objects.get()
    for params in ({}, {"SESSION_ID": "guess"}, {"SESSION_ID": ""}):
        attempt = _enter(Client(), PROLIFIC_PID="5f1e2d", **params)
        assert attempt.status_code == 403
        assert rater.token not in attempt.content.decode() and "Location" not in attempt.headers
        assert "already started the study in another browser" in attempt.content.decode()
    assert Rater.objects.get().platform_session_id == "sess-1"


def test_entries_are_limited_per_client_address(client, study, settings):
    settings.COUNTERPOINT = {**settings.COUNTERPOINT, "ENTRIES_PER_MINUTE": 3}
    for number in range(3):
        assert _enter(client, PROLIFIC_PID=f"p{number}").status_code == 302
    refused = _enter(client, PROLIFIC_PID="p9")
    assert refused.status_code == 429 and "wait a minute" in refused.content.decode()
    assert not Rater.objects.filter(external_id="p9").exists()
    # Another address still gets in; a forged X-Forwarded-For does not, without a trusted proxy.
    assert _enter(Client(REMOTE_ADDR="198.51.100.7"), PROLIFIC_PID="p9").status_code == 302
    forged = Client(HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert _enter(forged, PROLIFIC_PID="p10").status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(study, settings):
    settings.COUNTERPOINT = {**settings.COUNTERPOINT, "ENTRIES_PER_MINUTE": 1}
    settings.TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"  # every request arrives from the proxy
    one = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    two = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.2")
    assert _enter(one, PROLIFIC_PID="a").status_code == 302
    assert _enter(two, PROLIFIC_PID="b").status_code == 302
    assert _enter(one, PROLIFIC_PID="c").status_code == 429


def test_the_default_limit_lets_a_prolific_launch_through_from_one_address(study, settings):
    assert settings.COUNTERPOINT["ENTRIES_PER_MINUTE"] >= 500
    launch = Client()
    statuses = {_enter(launch, PROLIFIC_PID=f"launch{n}").status_code for n in range(300)}
    assert statuses == {302}


# --- screened out: their own completion code, and no more audio ---------------------------------


def test_an_excluded_rater_gets_the_screened_out_code_not_the_completion_code(client, study):
    (rater,) = make_raters(study, 1)
    Rater.objects.filter(pk=rater.pk).update(excluded=True)
    page = client.get(reverse("ratings:rater_home", args=[rater.token]))
    text = page.content.decode()
    assert page.status_code == 403 and "SCREENED9" in text and "FINISHED1" not in text
    assert "cc=SCREENED9" in text


def test_a_rater_who_failed_the_headphone_check_gets_the_screened_out_code(client, study):
    study.onboarding_required = True
    study.save()
    (rater,) = make_raters(study, 1)
    now = timezone.now()
    Rater.objects.filter(pk=rater.pk).update(
        consented_at=now, instructions_read_at=now, headphone_passed=False
    )
    page = client.get(reverse("ratings:rater_headphones", args=[rater.token]))
    assert page.status_code == 403 and "SCREENED9" in page.content.decode()


def test_an_excluded_rater_fetches_no_audio(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    audio = reverse("ratings:task_audio", args=[rater.token, assignment.token, "A"])
    assert client.get(audio).status_code == 200
    services.headphone_check_start(rater=rater)
    Rater.objects.filter(pk=rater.pk).update(excluded=True)
    assert client.get(audio).status_code == 403
    assert client.get(reverse("ratings:headphone_audio", args=[rater.token, 0])).status_code == 403


# --- the task forms --------------------------------------------------------------------------------


def _complete_post(assignment):
    heard(assignment)
    data = {}
    for label, clip in selectors.task_clips_in_order(assignment):
        data |= {f"score_{label}_{criterion}": "4" for criterion in formats.CRITERIA}
        data |= {f"plays_{label}": "1", f"seconds_{label}": str(clip.duration_s), f"ended_{label}": "True"}
    return data


@pytest.fixture
def task(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    return reverse("ratings:task", args=[rater.token, "quality", assignment.token]), assignment


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ({"score_Z_musicality": "3"}, "Clip(s) Z are not part of this task."),
        ({"plays_Z": "1", "seconds_Z": "1.0", "ended_Z": "True"}, "Clip(s) Z are not part of this task."),
        ({"seconds_A": "1e308"}, "less than or equal to 86400"),
        ({"plays_A": str(10**12)}, "less than or equal to 1000"),
        ({"seconds_A": "inf"}, "Enter a number"),
    ],
)
def test_a_quality_post_with_an_unknown_label_or_absurd_evidence_is_refused_and_nothing_saved(
    client, task, spoil, message
):
    url, assignment = task
    response = client.post(url, _complete_post(assignment) | spoil)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not QualityRating.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["/r/%00/", "/r/abc%00/next/", "/r/abc/audio/def/%00/", "/r/a%01b/done/"])
def test_a_rater_url_with_a_nul_or_control_character_is_a_404_not_a_500(study, path):
    assert Client(raise_request_exception=False).get(path).status_code == 404
