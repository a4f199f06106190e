"""Clips are read once per process (ratings/clip_rows.py): a clip's row is fixed at import, so the task
page, the submit and the audio read it once, and the admin shows it without a way to change it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import formats
from ratings import clip_rows, services
from ratings.models import Clip, Prompt

from .factories import answer, make_diversity_study, make_raters, make_study

pytestmark = pytest.mark.django_db


def _clip_reads(captured) -> int:
    """Statements that read clips as instances (clip_rows), not the counts and stats that name the table."""
    return sum('c."id", c."prompt_id"' in query["sql"].split(" FROM ", 1)[0] for query in captured)


def test_a_clip_not_yet_read_brings_its_studys_clips_and_an_unknown_id_is_left_out(tmp_path):
    study, other = make_study(tmp_path, prompts=2, seconds=0.2), make_study(tmp_path, slug="other", prompts=1)
    ids = sorted(Clip.objects.filter(prompt__study=study).values_list("id", flat=True))
    others = sorted(Clip.objects.filter(prompt__study=other).values_list("id", flat=True))
    with CaptureQueriesContext(connection) as cold:
        first = clip_rows.clips_by_id([ids[0], 10**9])
    with CaptureQueriesContext(connection) as warm:
        again = clip_rows.clips_by_id(ids)
    assert _clip_reads(cold) == len(cold) == 1 and len(warm) == 0
    assert sorted(first) == ids[:1]  # what was asked for: the id with no clip is left out
    assert sorted(again) == ids and sorted(clip_rows._kept) == ids  # the study's other clips came with it
    assert {clip.pk: clip.audio.name for clip in again.values()} == dict(
        Clip.objects.filter(pk__in=ids).values_list("pk", "audio")
    )
    with CaptureQueriesContext(connection) as another_study:
        assert sorted(clip_rows.clips_by_id(others)) == others
    assert len(another_study) == 1 and sorted(clip_rows._kept) == sorted(ids + others)


def test_a_study_past_the_bound_is_remembered_and_has_only_the_clips_asked_for_read(tmp_path, monkeypatch):
    study = make_study(tmp_path, prompts=2, seconds=0.2)
    ids = sorted(Clip.objects.filter(prompt__study=study).values_list("id", flat=True))
    monkeypatch.setattr(clip_rows, "STUDY_READ_MOST", len(ids) - 1)
    assert sorted(clip_rows.clips_by_id(ids[:2])) == ids[:2]
    assert sorted(clip_rows._kept) == ids[:2] and clip_rows._too_big == {study.pk}
    with CaptureQueriesContext(connection) as some_new:
        assert sorted(clip_rows.clips_by_id(ids)) == ids
    study_read, by_id = (query["sql"] for query in some_new)
    assert "NOT IN" in study_read  # the study known too big is left out, not read whole again
    (asked,) = re.findall(r"c\.id IN \(([0-9, ]+)\)", by_id)
    assert sorted(int(clip_id) for clip_id in asked.split(",")) == ids[2:]  # only those not yet read


def test_a_clip_saved_or_deleted_in_the_process_forgets_what_was_read_and_the_store_is_bounded(
    tmp_path, monkeypatch
):
    study = make_study(tmp_path, prompts=3, seconds=0.2)
    clips = list(Clip.objects.filter(prompt__study=study).order_by("id"))
    clip_rows.clips_by_id([clips[0].pk])
    clip = clips[1]
    clip.sample_index = 7
    clip.save()  # (clips_import's save, as a test database that numbers a new clip as an old one)
    assert clip_rows._kept == {}
    clip_rows.clips_by_id([clips[0].pk])
    Prompt.objects.get(pk=clips[-1].prompt_id).delete()  # its clips go with it (the last prompt's)
    assert clip_rows._kept == {}

    monkeypatch.setattr(clip_rows, "MOST_KEPT", 2)
    monkeypatch.setattr(clip_rows, "STUDY_READ_MOST", 1)  # (one at a time, past the bound)
    clip_rows.clips_by_id([clips[0].pk, clips[1].pk])
    asked = [clips[0].pk, clips[1].pk, clips[3].pk]  # two kept, one new: past the bound
    assert set(clip_rows.clips_by_id(asked)) == set(asked)  # every one asked for, though the store restarted
    assert set(clip_rows._kept) == {clips[3].pk}  # full: started again with what it read


def test_the_submit_reads_no_clip_that_the_task_page_read_in_the_same_process(client, tmp_path):
    study = make_study(tmp_path, prompts=2, seconds=0.2)
    study.min_task_seconds = 0
    study.save(update_fields=["min_task_seconds"])
    (rater,) = make_raters(study, 1)
    claim = client.get(reverse("ratings:rater_next", args=[rater.token]))
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get(claim.url).content.decode()
    posted = {}
    for source in re.findall(r'<audio[^>]* src="([^"]+)"', page):
        with CaptureQueriesContext(connection) as audio_queries:
            audio = client.get(source, HTTP_RANGE="bytes=0-")
        assert audio.status_code in (200, 206) and _clip_reads(audio_queries) == 0
    for label, duration in re.findall(r'data-label="([A-Z0-9]+)" data-duration="([0-9.]+)"', page):
        posted.update({f"plays_{label}": "1", f"seconds_{label}": duration, f"ended_{label}": "True"})
        posted.update({f"score_{label}_{criterion}": "4" for criterion in formats.CRITERIA})
    with CaptureQueriesContext(connection) as submit_queries:
        submitted = client.post(claim.url, posted)
    assert submitted.status_code == 302, submitted.content.decode()[:500]
    assert _clip_reads(page_queries) == 1 and _clip_reads(submit_queries) == 0


def test_the_admin_shows_a_clip_offers_no_way_to_add_or_change_one_and_still_deletes_a_study(
    client, tmp_path
):
    study = make_study(tmp_path, prompts=1, seconds=0.2)
    clip = Clip.objects.filter(prompt__study=study).first()
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.org", "pw"))
    page = client.get(reverse("admin:ratings_clip_change", args=[clip.pk]))
    assert page.status_code == 200 and clip.checksum in page.content.decode()
    for field in ("audio", "duration_s", "variant", "sample_index"):
        assert f'name="{field}"' not in page.content.decode()
    changed = client.post(reverse("admin:ratings_clip_change", args=[clip.pk]), {"duration_s": "9"})
    added = client.get(reverse("admin:ratings_clip_add"))
    assert (changed.status_code, added.status_code) == (403, 403)
    assert Clip.objects.get(pk=clip.pk).duration_s == clip.duration_s
    # a study is still deleted from the admin, its clips with it
    assert (
        client.post(reverse("admin:ratings_study_delete", args=[study.pk]), {"post": "yes"}).status_code
        == 302
    )
    assert not Clip.objects.filter(pk=clip.pk).exists()


def test_each_clips_audio_address_on_the_page_is_the_one_reverse_gives(client, tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, raters_per_prompt=2)
    (rater,) = make_raters(study, 1)
    for claim in (services.quality_assignment_next, services.diversity_assignment_next):
        task = claim(rater=rater)
        page = client.get(reverse("ratings:task", args=[rater.token, task.kind, task.token])).content.decode()
        labels = re.findall(r'data-label="([A-Z0-9]+)"', page)
        sources = re.findall(r'<audio[^>]* src="([^"]+)"', page)
        assert len(labels) == len(task.clips) and len(sources) == len(labels)
        assert sources == [
            reverse("ratings:task_audio", args=[rater.token, task.token, label]) for label in labels
        ]
        answer(task)  # (one open item at a time)
