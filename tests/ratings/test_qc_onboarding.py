"""Before the first task: consent, instructions and a headphone check, each editable or switchable per study."""

import io
import re

import numpy as np
import pytest
import soundfile
from django.urls import reverse

from ratings import services
from ratings.headphones import HEADPHONE_TRIALS
from ratings.models import Rater, Task

from .factories import make_raters, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path, prompts=2)
    study.onboarding_required = True
    study.consent_text = "We study music. Consent text of this study."
    study.instructions = "Instructions written for this study."
    study.save()
    return study


def _url(name, rater, *args):
    return reverse(f"ratings:{name}", args=[rater.token, *args])


def _pass_headphones(client, rater, wrong=0):
    client.get(_url("rater_headphones", rater))
    trials = Rater.objects.get(pk=rater.pk).headphone_trials
    answers = {f"trial_{n}": str(t["quiet"]) for n, t in enumerate(trials)}
    for n in range(wrong):
        answers[f"trial_{n}"] = str((trials[n]["quiet"] + 1) % 3)
    return client.post(_url("rater_headphones", rater), answers)


def test_by_default_an_invite_leads_straight_to_the_tasks(client, tmp_path):
    plain = make_study(tmp_path, slug="plain", prompts=1)
    (rater,) = make_raters(plain, 1)
    response = client.post(_url("rater_next", rater))
    assert "/quality/" in response.url


def test_a_rater_goes_through_consent_instructions_and_headphone_check_before_the_first_task(client, study):
    (rater,) = make_raters(study, 1)
    response = client.post(_url("rater_next", rater))
    assert response.url == _url("rater_consent", rater)
    page = client.get(response.url).content.decode()
    assert "Consent text of this study." in page

    refused = client.post(_url("rater_consent", rater), {})
    assert refused.status_code == 400 and "Tick the box to agree" in refused.content.decode()
    # each step leads straight to the next, and /next/ sends a rater who comes back to the one due
    assert client.post(_url("rater_consent", rater), {"agree": "on"}).url == _url("rater_instructions", rater)
    assert client.get(_url("rater_next", rater)).url == _url("rater_instructions", rater)
    page = client.get(_url("rater_instructions", rater)).content.decode()
    assert "Instructions written for this study." in page and "Rating clips" in page
    assert client.post(_url("rater_instructions", rater)).url == _url("rater_headphones", rater)
    assert client.get(_url("rater_next", rater)).url == _url("rater_headphones", rater)

    page = client.get(_url("rater_headphones", rater)).content.decode()
    assert len(re.findall(r"<audio", page)) == HEADPHONE_TRIALS
    assert _pass_headphones(client, rater, wrong=1).url == _url("rater_next", rater)
    assert Rater.objects.get(pk=rater.pk).headphone_passed is True
    assert "/quality/" in client.get(_url("rater_next", rater)).url


def test_tasks_cannot_be_reached_before_onboarding_is_done(client, study):
    (rater,) = make_raters(study, 1)
    assert services.task_next(rater=rater) is None
    Rater.objects.filter(pk=rater.pk).update(headphone_passed=True, consented_at="2026-11-01T10:00:00Z")
    rater.refresh_from_db()
    assignment = services.task_next(rater=rater)  # consented and checked, instructions not read yet
    assert assignment is None
    Rater.objects.filter(pk=rater.pk).update(instructions_read_at="2026-11-01T10:01:00Z")
    rater.refresh_from_db()
    assignment = services.task_next(rater=rater)
    Rater.objects.filter(pk=rater.pk).update(instructions_read_at=None)
    assert client.get(_url("task", rater, "quality", assignment.token)).url == _url(
        "rater_instructions", rater
    )
    assert client.get(_url("rater_headphones", rater)).url == _url("rater_instructions", rater)


def test_failing_the_headphone_check_keeps_the_rater_out_with_a_clear_message(client, study):
    (rater,) = make_raters(study, 1)
    client.post(_url("rater_consent", rater), {"agree": "on"})
    client.post(_url("rater_instructions", rater))
    _pass_headphones(client, rater, wrong=2)
    assert Rater.objects.get(pk=rater.pk).headphone_passed is False
    for url in (_url("rater_headphones", rater), _url("rater_next", rater)):
        response = client.get(url, follow=True)
        assert response.status_code == 403 and "This study needs headphones" in response.content.decode()
    again = _pass_headphones(client, rater)  # one attempt only
    assert again.status_code == 403 and Rater.objects.get(pk=rater.pk).headphone_passed is False
    assert not Task.objects.filter(kind="quality").exists()


def test_an_unanswered_headphone_question_is_asked_again(client, study):
    (rater,) = make_raters(study, 1)
    client.post(_url("rater_consent", rater), {"agree": "on"})
    client.post(_url("rater_instructions", rater))
    client.get(_url("rater_headphones", rater))
    response = client.post(_url("rater_headphones", rater), {"trial_0": "1"})
    assert response.status_code == 400 and "Sound 2: choose the quietest tone." in response.content.decode()
    assert Rater.objects.get(pk=rater.pk).headphone_passed is None


def test_a_headphone_sound_has_a_quiet_tone_and_an_antiphase_tone_where_the_trial_says(client, study):
    (rater,) = make_raters(study, 1)
    client.post(_url("rater_consent", rater), {"agree": "on"})
    client.post(_url("rater_instructions", rater))
    client.get(_url("rater_headphones", rater))
    trial = Rater.objects.get(pk=rater.pk).headphone_trials[0]
    response = client.get(_url("headphone_audio", rater, 0))
    assert response["Content-Type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(response.content))
    assert audio.shape[1] == 2
    tone = int(rate * 1.0)
    step = int(rate * 1.5)
    peaks, phases = [], []
    for position in range(3):
        left, right = audio[position * step : position * step + tone].T
        peaks.append(np.abs(left).max())
        phases.append(np.sign(np.dot(left, right)))
    assert int(np.argmin(peaks)) == trial["quiet"]
    assert peaks[trial["quiet"]] == pytest.approx(0.5 * max(peaks), rel=0.02)  # −6 dB
    assert [p < 0 for p in phases] == [position == trial["antiphase"] for position in range(3)]
    assert client.get(_url("headphone_audio", rater, HEADPHONE_TRIALS)).status_code == 404


def test_a_researcher_can_let_a_rater_try_the_headphone_check_again_with_new_sounds(client, study):
    (rater,) = make_raters(study, 1)
    client.post(_url("rater_consent", rater), {"agree": "on"})
    client.post(_url("rater_instructions", rater))
    _pass_headphones(client, rater, wrong=3)
    first_trials = Rater.objects.get(pk=rater.pk).headphone_trials
    Rater.objects.filter(pk=rater.pk).update(headphone_passed=None)  # what the admin does
    assert _pass_headphones(client, rater).status_code == 302
    rater.refresh_from_db()
    assert rater.headphone_passed is True and len(rater.headphone_trials) == len(first_trials)


def test_a_double_click_on_agree_or_continue_leads_both_requests_to_the_next_step(client, study):
    (rater,) = make_raters(study, 1)
    first, second = Rater.objects.get(pk=rater.pk), Rater.objects.get(pk=rater.pk)  # both read before
    services.rater_consent(rater=first)
    services.rater_consent(rater=second)  # found it done: its instance learns when
    assert second.consented_at == first.consented_at == Rater.objects.get(pk=rater.pk).consented_at
    first, second = Rater.objects.get(pk=rater.pk), Rater.objects.get(pk=rater.pk)
    services.rater_instructions_read(rater=first)
    services.rater_instructions_read(rater=second)
    assert second.instructions_read_at == first.instructions_read_at is not None
    # and the page answering the second click sends the rater on, not back
    assert client.post(_url("rater_consent", rater), {"agree": "on"}).url == _url("rater_headphones", rater)
