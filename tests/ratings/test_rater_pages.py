import re

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

import formats
from ratings import selectors, services
from ratings.models import QualityRating, TaskStatus

from .factories import heard, make_raters, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path, prompts=3, variants=("secret-base", "secret-cfg", "secret-distilled"))


def _task_url(rater, assignment):
    return reverse("ratings:task", args=[rater.token, "quality", assignment.token])


def _complete_post(assignment, score="4"):
    heard(assignment)
    data = {}
    for label, clip in selectors.task_clips_in_order(assignment):
        for criterion in formats.CRITERIA:
            data[f"score_{label}_{criterion}"] = score
        data.update(
            {f"plays_{label}": "1", f"seconds_{label}": str(clip.duration_s), f"ended_{label}": "True"}
        )
    return data


def test_invite_link_shows_instructions_progress_and_start(client, study):
    (rater,) = make_raters(study, 1)
    page = client.get(reverse("ratings:rater_home", args=[rater.token])).content.decode()
    assert "rated 0 of 3 items" in page and "Start" in page


def test_unknown_invite_token_is_404(client, study):
    assert client.get(reverse("ratings:rater_home", args=["forged-token"])).status_code == 404
    # the claim reads the rater with its own lock statement (services.task_claim_by_token)
    assert client.get(reverse("ratings:rater_next", args=["forged-token"])).status_code == 404


def test_task_page_shows_prompt_and_labels_but_never_variant_or_file_names(client, study):
    (rater,) = make_raters(study, 1)
    response = client.post(reverse("ratings:rater_next", args=[rater.token]))
    assignment = selectors.rater_open_task(rater)
    assert response.url == _task_url(rater, assignment)
    page = client.get(response.url).content.decode()
    assert assignment.prompt.text in page
    assert "Clip A" in page and "Clip B" in page and "Clip C" in page
    assert "Item 1 of 3" in page and "5 Excellent" in page and "1 Bad" in page
    assert "secret" not in page and ".wav" not in page and "p000" not in page
    sources = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    labelled = selectors.task_clips_in_order(assignment)
    assert sources == [
        reverse("ratings:task_audio", args=[rater.token, assignment.token, label]) for label, _ in labelled
    ]
    assert not any(
        clip.audio.name in page or clip.token in page or f"/{clip.pk}/" in page for _, clip in labelled
    )


def test_submitting_moves_on_and_progress_advances(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    response = client.post(_task_url(rater, assignment), _complete_post(assignment))
    assert response.status_code == 302 and response.url == reverse("ratings:rater_next", args=[rater.token])
    page = client.get(response.url, follow=True).content.decode()
    assert "Item 2 of 3" in page
    assert QualityRating.objects.count() == 9


def test_incomplete_submission_is_refused_with_a_message_and_keeps_what_was_entered(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    data = _complete_post(assignment, score="2")
    del data["score_B_musicality"]
    response = client.post(_task_url(rater, assignment), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Clip B: choose a score for musicality" in page
    checked = re.findall(r'<input type="radio" name="(score_[^"]+)" value="(\d)"[^>]*checked', page)
    assert len(checked) == 8 and {value for _, value in checked} == {"2"}
    assert "score_B_musicality" not in {name for name, _ in checked}
    assert not QualityRating.objects.exists()


def test_an_incomplete_submission_marks_each_unrated_scale_where_it_is(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    data = _complete_post(assignment, score="3")
    del data["score_B_musicality"], data["score_A_text_adherence"]
    page = client.post(_task_url(rater, assignment), data).content.decode()
    invalid = re.findall(r'<fieldset class="scale"[^>]*id="scale-([\w-]+)"[^>]*aria-invalid="true"', page)
    assert invalid == ["A-text_adherence", "B-musicality"]
    # The list at the top says how many, and does not repeat the 2 messages shown beside the scales.
    assert "2 answers are still missing: each is marked where it is." in page
    assert page.count("Clip B: choose a score for musicality.") == 1
    assert re.search(r'<p class="missing" id="missing-B-musicality">Clip B: choose', page)
    assert re.search(r'<p class="missing" id="missing-A-musicality" hidden>', page)


def test_out_of_range_score_is_refused_with_a_clear_message(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    data = _complete_post(assignment)
    data["score_A_text_adherence"] = "7"
    response = client.post(_task_url(rater, assignment), data)
    assert (
        response.status_code == 400
        and "Choose a score from 1 (Bad) to 5 (Excellent)" in response.content.decode()
    )
    assert not QualityRating.objects.exists()


def test_unplayed_clip_is_refused_by_the_server(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    data = _complete_post(assignment)
    data["ended_C"] = ""
    response = client.post(_task_url(rater, assignment), data)
    assert response.status_code == 400 and "Clip C: play it to the end" in response.content.decode()


def test_another_raters_task_is_404_to_read_and_to_submit(client, study):
    owner, intruder = make_raters(study, 2)
    assignment = services.quality_assignment_next(rater=owner)
    foreign_url = reverse("ratings:task", args=[intruder.token, "quality", assignment.token])
    assert client.get(foreign_url).status_code == 404
    assert client.post(foreign_url, _complete_post(assignment)).status_code == 404
    assert not QualityRating.objects.exists()


def test_second_submission_of_a_task_is_idempotent(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    client.post(_task_url(rater, assignment), _complete_post(assignment, score="4"))
    again = client.post(_task_url(rater, assignment), _complete_post(assignment, score="1"))
    assert again.status_code == 302
    assert set(QualityRating.objects.values_list("score", flat=True)) == {4}


def test_csrf_protection_is_on(study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(_task_url(rater, assignment), _complete_post(assignment)).status_code == 403
    assert not QualityRating.objects.exists()


def test_resuming_returns_to_the_open_task(client, study):
    (rater,) = make_raters(study, 1)
    first = client.post(reverse("ratings:rater_next", args=[rater.token])).url
    home = client.get(reverse("ratings:rater_home", args=[rater.token])).content.decode()
    assert "Continue" in home
    assert client.post(reverse("ratings:rater_next", args=[rater.token])).url == first


def test_finished_rater_lands_on_the_thank_you_page(client, tmp_path):
    study = make_study(tmp_path, slug="small", prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    client.post(_task_url(rater, assignment), _complete_post(assignment))
    page = client.get(reverse("ratings:rater_next", args=[rater.token]), follow=True).content.decode()
    assert "Thank you" in page and "rated 1 of 1" in page
    assert assignment.__class__.objects.get(pk=assignment.pk).status == TaskStatus.SUBMITTED


def test_audio_is_served_whole_and_by_byte_range(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    label, clip = selectors.task_clips_in_order(assignment)[0]
    url = reverse("ratings:task_audio", args=[rater.token, assignment.token, label])
    whole = client.get(url)
    with default_storage.open(services.task_audio_name(assignment, label)) as played:
        data = played.read()  # the position's own copy of the clip, written by its first request

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/wav"

    part = client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part.content == data[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert client.get(url, HTTP_RANGE="bytes=-10").content == data[-10:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(data) - 5}-").content == data[-5:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(data)}-").status_code == 416


def test_a_claim_writes_no_audio_and_a_positions_first_request_writes_its_file_alone(client, study):
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    labels = [label for label, _ in selectors.task_clips_in_order(assignment)]
    assert len(labels) > 1
    assert not any(default_storage.exists(services.task_audio_name(assignment, label)) for label in labels)

    first = labels[0]
    url = reverse("ratings:task_audio", args=[rater.token, assignment.token, first])
    assert client.get(url, HTTP_RANGE="bytes=0-99").status_code == 206
    assert [default_storage.exists(services.task_audio_name(assignment, label)) for label in labels] == [
        label == first for label in labels
    ]


def test_audio_of_clips_outside_the_raters_tasks_is_404(client, study):
    owner, other = make_raters(study, 2)
    assignment = services.quality_assignment_next(rater=owner)
    audio = lambda rater, token, label: reverse("ratings:task_audio", args=[rater.token, token, label])  # noqa: E731
    assert client.get(audio(owner, assignment.token, "A")).status_code == 200
    assert client.get(audio(other, assignment.token, "A")).status_code == 404
    assert client.get(audio(owner, assignment.token, "Z")).status_code == 404
    assert client.get(audio(owner, "forged", "A")).status_code == 404
