"""The diversity comparison page: what a rater sees, hears and may send."""

import re

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from ratings import selectors, services
from ratings.models import DiversityJudgement, Task, TaskStatus

from .factories import heard, make_diversity_study, make_raters

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    return make_diversity_study(
        tmp_path, prompts=2, variants=("secret-base", "secret-cfg"), quality_part=False
    )


def _url(rater, assignment):
    return reverse("ratings:task", args=[rater.token, "diversity", assignment.token])


def _post(assignment, choice="1"):
    heard(assignment)
    data = {"choice": choice}
    for label, clip in selectors.task_clips_in_order(assignment):
        data.update(
            {f"plays_{label}": "1", f"seconds_{label}": str(clip.duration_s), f"ended_{label}": "True"}
        )
    return data


def test_next_leads_to_the_comparison_page_with_two_pairs_and_the_five_point_scale(client, study):
    (rater,) = make_raters(study, 1)
    response = client.post(reverse("ratings:rater_next", args=[rater.token]))
    assignment = selectors.rater_open_task(rater)
    assert response.url == _url(rater, assignment)
    page = client.get(response.url).content.decode()
    assert assignment.prompt.text in page and "Item 1 of 2" in page
    assert "Pair A" in page and "Pair B" in page
    assert re.findall(r'data-label="(\w+)"', page) == ["A1", "A2", "B1", "B2"]
    for label in ("A much more diverse", "A somewhat more diverse", "About the same", "B much more diverse"):
        assert label in page
    assert [int(v) for v in re.findall(r'name="choice" value="(-?\d)"', page)] == [-2, -1, 0, 1, 2]


def test_the_page_never_names_a_variant_a_file_or_a_clip(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    page = client.get(_url(rater, assignment)).content.decode()
    assert "secret" not in page and ".wav" not in page and "p000" not in page and "p001" not in page
    sources = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    assert sources == [
        reverse("ratings:task_audio", args=[rater.token, assignment.token, label])
        for label in ("A1", "A2", "B1", "B2")
    ]
    for _, clip in selectors.task_clips_in_order(assignment):
        assert clip.token not in page


def test_audio_is_served_by_position_and_positions_outside_the_comparison_are_404(client, study):
    owner, other = make_raters(study, 2)
    assignment = services.diversity_assignment_next(rater=owner)
    url = reverse("ratings:task_audio", args=[owner.token, assignment.token, "B2"])
    response = client.get(url, HTTP_RANGE="bytes=0-99")  # (its first request writes the position's file)
    with default_storage.open(services.task_audio_name(assignment, "B2")) as played:
        assert response.status_code == 206 and response.content == played.read()[:100]
    for label in ("C1", "A3", "B"):
        bad = reverse("ratings:task_audio", args=[owner.token, assignment.token, label])
        assert client.get(bad).status_code == 404
    foreign = reverse("ratings:task_audio", args=[other.token, assignment.token, "A1"])
    assert client.get(foreign).status_code == 404


def test_audio_responses_name_no_file_so_two_positions_cannot_be_matched(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    for label, clip in selectors.task_clips_in_order(assignment):
        url = reverse("ratings:task_audio", args=[rater.token, assignment.token, label])
        for response in (client.get(url), client.get(url, HTTP_RANGE="bytes=0-9")):
            assert "Content-Disposition" not in response
            assert not any(clip.token in value or ".wav" in value for value in response.headers.values())


def test_submitting_stores_the_answer_and_moves_on(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    response = client.post(_url(rater, assignment), _post(assignment, "-1"))
    assert response.status_code == 302 and response.url == reverse("ratings:rater_next", args=[rater.token])
    assert "Item 2 of 2" in client.get(response.url, follow=True).content.decode()
    assignment.refresh_from_db()
    assert assignment.judgement.choice == -1
    assert assignment.listening["A1"] == {"plays": 1, "seconds": 1.0, "ended": True, "events": []}


def test_the_players_event_log_is_stored_and_anything_malformed_in_it_dropped(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    data = _post(assignment)
    data["events_A1"] = '[["play", 0], ["pause", 0.41], ["seeked", 0.2], ["play", 0.2], ["ended", 1.0]]'
    data["events_A2"] = '[["play", 0], ["hack", 1], ["ended", "x"], ["ended", 1.004]]'
    data["events_B1"] = "not json"
    huge = "1" + "0" * 400  # too large for a float
    data["events_B2"] = f'[["play", Infinity], ["pause", NaN], ["seeked", {huge}], ["ended", -Infinity]]'
    client.post(_url(rater, assignment), data)
    listening = Task.objects.filter(kind="diversity").get().listening
    assert listening["A1"]["events"] == [
        ["play", 0],
        ["pause", 0.41],
        ["seeked", 0.2],
        ["play", 0.2],
        ["ended", 1.0],
    ]
    assert listening["A2"]["events"] == [["play", 0], ["ended", 1.0]]
    assert listening["B1"]["events"] == [] and listening["B2"]["events"] == []


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            lambda d: d.update(choice="3"),
            "Choose an answer from -2 (A much more diverse) to +2 (B much more).",
        ),
        (lambda d: d.update(choice="-3"), "Choose an answer from -2"),
        (lambda d: d.pop("choice"), "Choose which pair is more diverse."),
        (lambda d: d.update(ended_B2=""), "Clip B2: play it to the end before rating."),
        (
            lambda d: d.update(plays_C1="1", seconds_C1="1.0", ended_C1="True"),
            "Clip(s) C1 are not part of this task.",
        ),
    ],
)
def test_a_bad_answer_comes_back_with_a_message_and_nothing_is_saved(client, study, spoil, message):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    data = _post(assignment)
    spoil(data)
    response = client.post(_url(rater, assignment), data)
    assert response.status_code == 400 and message in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == TaskStatus.OPEN and not hasattr(assignment, "judgement")


def test_a_refused_answer_keeps_the_choice_that_was_made(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    data = _post(assignment, "2")
    data["ended_A1"] = ""
    page = client.post(_url(rater, assignment), data).content.decode()
    assert re.search(r'name="choice" value="2"[^>]*checked', page)


def test_resubmitting_a_comparison_changes_nothing(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    client.post(_url(rater, assignment), _post(assignment, "1"))
    again = client.post(_url(rater, assignment), _post(assignment, "-2"))
    assert again.status_code == 302
    assert list(Task.objects.filter(kind="diversity").values_list("judgement__choice", flat=True)) == [1]


def test_another_raters_comparison_is_404_to_read_and_to_submit(client, study):
    owner, intruder = make_raters(study, 2)
    assignment = services.diversity_assignment_next(rater=owner)
    foreign = reverse("ratings:task", args=[intruder.token, "diversity", assignment.token])
    assert client.get(foreign).status_code == 404
    assert client.post(foreign, _post(assignment)).status_code == 404
    assert not DiversityJudgement.objects.exists()


def test_csrf_protection_is_on_for_the_comparison_page(study):
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    assert (
        Client(enforce_csrf_checks=True).post(_url(rater, assignment), _post(assignment)).status_code == 403
    )
    assert Task.objects.filter(kind="diversity").get().status == TaskStatus.OPEN
