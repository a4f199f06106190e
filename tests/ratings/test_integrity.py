"""Rater integrity (issue 12): listening the server can verify, check items that cannot be spotted, claims
that expire. The fault tests drive the platform as a bot would, through HTTP only, so they ran unchanged
against the code before this work (where each failed) and after it."""

import hashlib
import io
import math
import re
from datetime import timedelta

import numpy as np
import pytest
import soundfile
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import formats
from ratings import services
from ratings.kinds import kind_of
from ratings.models import Clip, QualityRating, Study, Task

from .factories import SAMPLE_RATE, make_raters, make_study, write_manifest

pytestmark = pytest.mark.django_db


def _claim(client, rater) -> Task:
    """What a browser does: ask for work, follow to the task page (shown from now on)."""
    response = client.get(reverse("ratings:rater_next", args=[rater.token]))
    assert response.status_code == 302, response.status_code
    task = Task.objects.get(rater=rater, status="open")
    assert client.get(response.url).status_code == 200
    return task


def _labels(task: Task) -> list[str]:
    return [chr(ord("A") + i) for i in range(len(task.clips))]


def _task_url(rater, task) -> str:
    return reverse("ratings:task", args=[rater.token, task.kind, task.token])


def _audio_url(rater, task, label) -> str:
    return reverse("ratings:task_audio", args=[rater.token, task.token, label])


def _bot_answer(task: Task) -> dict:
    """The issue's bot: every score, and evidence of every clip heard to the end, made up."""
    data = {}
    for label, clip_id in zip(_labels(task), task.clips, strict=True):
        duration = Clip.objects.get(pk=clip_id).duration_s
        data |= {f"plays_{label}": "0", f"seconds_{label}": str(duration), f"ended_{label}": "True"}
        data |= {f"score_{label}_{criterion}": "4" for criterion in formats.CRITERIA}
    return data


def _fetch_all(client, rater, task) -> None:
    for label in _labels(task):
        assert client.get(_audio_url(rater, task, label)).status_code == 200


# --- listening the server can verify -------------------------------------------------------------------


def test_a_bot_that_never_fetches_the_audio_is_refused_and_keeps_what_it_entered(client, tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    task = _claim(client, rater)
    response = client.post(_task_url(rater, task), _bot_answer(task))
    assert response.status_code == 400
    page = response.content.decode()
    for label in _labels(task):
        assert f"Clip {label}: only 0 % of its audio was loaded; play it to the end before rating." in page
    assert re.search(r'name="score_A_musicality" value="4"[^>]*checked', page)  # what was entered stays
    assert not QualityRating.objects.exists()
    task.refresh_from_db()
    assert task.status == "open"


def test_a_bot_that_fetches_the_audio_but_answers_early_is_refused_until_the_clips_could_have_played(
    client, tmp_path
):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1, seconds=2.0)
    (rater,) = make_raters(study, 1)
    task = _claim(client, rater)
    _fetch_all(client, rater, task)
    response = client.post(_task_url(rater, task), _bot_answer(task))
    assert response.status_code == 400
    # 3 clips of 2 s, of which 90 % must have played: 5.4 s, rounded to 5 in the message.
    assert (
        "but its clips take 5 s to hear: listen to every clip, then submit again" in response.content.decode()
    )
    assert not QualityRating.objects.exists()
    # The same answer once the clips' time has passed since the page was first shown is stored.
    Task.objects.filter(pk=task.pk).update(shown_at=timezone.now() - timedelta(seconds=5.5))
    assert client.post(_task_url(rater, task), _bot_answer(task)).status_code == 302
    assert QualityRating.objects.count() == 9


def test_a_clip_fetched_in_parts_counts_once_the_parts_cover_it_and_the_wait_is_a_study_setting(
    client, tmp_path
):
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1, variants=("base", "cfg"))
    Study.objects.filter(pk=study.pk).update(min_task_seconds=0)
    (rater,) = make_raters(study, 1)
    task = _claim(client, rater)
    client.get(_audio_url(rater, task, "A"))
    assert client.get(_audio_url(rater, task, "B"), HTTP_RANGE="bytes=0-999").status_code == 206
    client.head(_audio_url(rater, task, "B"))  # a HEAD serves nothing
    client.get(_audio_url(rater, task, "B"), HTTP_RANGE="bytes=999999-")  # past the end: 416, nothing served
    # Two tiny ranges: refused (416), never recorded as the whole file (nginx could send just those bytes).
    assert client.get(_audio_url(rater, task, "B"), HTTP_RANGE="bytes=0-0,2-2").status_code == 416
    response = client.post(_task_url(rater, task), _bot_answer(task))
    assert response.status_code == 400
    assert "Clip B: only 3 % of its audio was loaded" in response.content.decode()
    assert client.get(_audio_url(rater, task, "B"), HTTP_RANGE="bytes=500-").status_code == 206
    assert client.post(_task_url(rater, task), _bot_answer(task)).status_code == 302
    requests = list(
        task.audio_requests.filter(label="B").values_list("range_header", "served_start", "served_end")
    )
    size = task.audio_requests.get(label="A").size
    assert requests == [
        ("bytes=0-999", 0, 999),
        ("", None, None),
        ("bytes=999999-", None, None),
        ("bytes=0-0,2-2", None, None),
        ("bytes=500-", 500, size - 1),
    ]


def test_the_players_own_evidence_is_still_checked_and_stored(client, tmp_path):
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1, variants=("base", "cfg"))
    Study.objects.filter(pk=study.pk).update(min_task_seconds=0)
    (rater,) = make_raters(study, 1)
    task = _claim(client, rater)
    _fetch_all(client, rater, task)
    answer = _bot_answer(task) | {"ended_B": ""}
    response = client.post(_task_url(rater, task), answer)
    assert "Clip B: play it to the end before rating." in response.content.decode()
    assert client.post(_task_url(rater, task), _bot_answer(task)).status_code == 302
    task.refresh_from_db()
    assert task.listening["A"]["ended"] is True


# --- indistinguishable audio ---------------------------------------------------------------------------


def _tone(path, seconds, rate, amplitude, frequency, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * frequency * t)
    soundfile.write(path, np.column_stack([wave] * channels) if channels > 1 else wave, rate)


def _uneven_study(tmp_path, slug="mixed", prompts=3, samples=2):
    """Variants that differ in rate, channels and level, as files from different models do."""
    folder = tmp_path / slug
    folder.mkdir()
    looks = {"quiet": (16000, 0.05, 1), "loud": (22050, 0.8, 2), "mid": (16000, 0.3, 1)}
    rows = []
    for p in range(prompts):
        for v, (variant, (rate, amplitude, channels)) in enumerate(looks.items()):
            for s in range(samples):
                name = f"{variant}-{p}-{s}.wav"
                _tone(folder / name, 1.0, rate, amplitude, 200 + 50 * p + 20 * v + 7 * s, channels)
                rows.append(
                    {
                        "prompt_id": f"p{p}",
                        "prompt_text": ["Calm piano", "Rock song", "Opera singer"][p % 3] + f" {p}",
                        "variant": variant,
                        "sample_index": s,
                        "path": name,
                    }
                )
    return services.clips_import(study_slug=slug, manifest=write_manifest(folder, rows)).study


def _rms_db(samples: np.ndarray) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) / 32768)


def _stored(task: Task, label: str) -> bytes:
    with default_storage.open(services.task_audio_name(task, label)) as handle:
        return handle.read()


def test_no_two_audio_addresses_of_a_study_with_attention_items_serve_equal_bytes_or_differ_in_length_or_level(
    client, tmp_path
):
    study = _uneven_study(tmp_path)
    services.diversity_plan(study=study, variants=["quiet", "loud", "mid"], prompts=3)
    Study.objects.filter(pk=study.pk).update(attention_rate=0.5, attention_failures_allowed=100)
    study.refresh_from_db()  # (a claim reads the study its rater was read with, as a request does)
    responses = {}
    for rater in make_raters(study, 4):
        while (task := services.task_next(rater=rater)) is not None:
            for label in kind_of(task.kind).labels(task):
                responses[(task.pk, label)] = client.get(_audio_url(rater, task, label))
            Task.objects.filter(pk=task.pk).update(status="submitted")  # on to the next item
    checks = Task.objects.filter(check_item__isnull=False)
    assert "diversity" in {t.kind for t in checks}  # a twin pair is among them
    assert all(r.status_code == 200 for r in responses.values())
    hashes = {hashlib.sha256(b"".join(r.streaming_content)).hexdigest() for r in responses.values()}
    assert len(hashes) == len(responses) > 60
    bodies = [_stored(Task.objects.get(pk=task_id), label) for task_id, label in responses]
    assert {len(body) for body in bodies} == {len(bodies[0])}
    formats_seen = {
        (i.samplerate, i.channels, i.frames, i.subtype)
        for i in (soundfile.info(io.BytesIO(b)) for b in bodies)
    }
    assert formats_seen == {(22050, 2, 22050, "PCM_16")}
    levels = [_rms_db(soundfile.read(io.BytesIO(body), dtype="int16")[0]) for body in bodies]
    assert max(levels) - min(levels) < 0.05 and abs(levels[0] + 23) < 0.1
    headers = {tuple(sorted(r.headers.items())) for r in responses.values()}
    assert len(headers) == 1  # type, length, caching: the same for every address
    # The dither is inaudible: the twins differ by at most 2 steps of 16 bits (below -80 dBFS).
    twin = checks.filter(kind="diversity").first()
    pairs = twin.check_item.clips
    labels = ("A1", "A2") if pairs["A"][0] == pairs["A"][1] else ("B1", "B2")
    one, two = (
        soundfile.read(io.BytesIO(_stored(twin, label)), dtype="int16")[0].astype(int) for label in labels
    )
    assert 0 < np.abs(one - two).max() <= 2


def test_the_import_keeps_the_sha256_of_the_source_file(tmp_path):
    study = _uneven_study(tmp_path, prompts=1, samples=1)
    for clip in Clip.objects.filter(prompt__study=study):
        source = tmp_path / "mixed" / clip.source_path.rsplit("/", 1)[-1]
        assert clip.checksum == hashlib.sha256(source.read_bytes()).hexdigest()
        assert clip.sample_rate == 22050 and clip.duration_s == 1.0


def _lengths_manifest(folder, seconds: dict[str, float]):
    folder.mkdir(parents=True, exist_ok=True)
    for variant, length in seconds.items():
        _tone(folder / f"{variant}.wav", length, SAMPLE_RATE, 0.3, 440)
    rows = [
        {"prompt_id": "p0", "prompt_text": "Rock song", "variant": v, "sample_index": 0, "path": f"{v}.wav"}
        for v in seconds
    ]
    return write_manifest(folder, rows)


def test_clips_of_unequal_length_are_refused_unless_the_import_trims_or_pads_them(tmp_path):
    manifest = _lengths_manifest(tmp_path / "clips", {"base": 1.0, "cfg": 1.5})
    with pytest.raises(
        services.ImportFailed, match=r"lasts 1\.500 s but the study's clips last 1\.000 s.*--fit trim"
    ):
        services.clips_import(study_slug="uneven", manifest=manifest)
    assert not Study.objects.filter(slug="uneven").exists()
    trimmed = services.clips_import(study_slug="trimmed", manifest=manifest, fit="trim").study
    padded = services.clips_import(study_slug="padded", manifest=manifest, fit="pad").study
    assert set(Clip.objects.filter(prompt__study=trimmed).values_list("duration_s", flat=True)) == {1.0}
    assert set(Clip.objects.filter(prompt__study=padded).values_list("duration_s", flat=True)) == {1.5}
    # A later import into the study must match its length.
    longer = _lengths_manifest(tmp_path / "more", {"distilled": 2.0})
    with pytest.raises(services.ImportFailed, match="--fit trim"):
        services.clips_import(study_slug="trimmed", manifest=longer)


def test_a_clip_that_would_clip_at_the_studys_level_is_refused_by_name_and_nothing_is_imported(tmp_path):
    folder = tmp_path / "clicks"
    manifest = _lengths_manifest(folder, {"base": 1.0, "cfg": 1.0})
    clicks = np.zeros(SAMPLE_RATE)
    clicks[:: SAMPLE_RATE // 4] = 0.9  # four clicks in silence: peaks ~40 dB above the RMS level
    soundfile.write(folder / "cfg.wav", clicks, SAMPLE_RATE)
    with pytest.raises(services.ImportFailed, match=r"cfg\.wav: .* samples would clip"):
        services.clips_import(study_slug="clicks", manifest=manifest)
    assert not Study.objects.filter(slug="clicks").exists()


# --- claims expire -------------------------------------------------------------------------------------


def _age(task: Task, minutes: float) -> None:
    """Claimed `minutes` ago: a creation time set by hand, which the process's next-expiry memo cannot
    foresee (services.queue._claims_expire_due), so it is forgotten as well."""
    Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    services.claims_expire_forget()


def test_an_abandoned_claim_goes_back_to_the_pool_and_its_rater_gets_a_message_and_new_work(client, tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    first, second = make_raters(study, 2)
    abandoned = _claim(client, first)
    _age(abandoned, 31)
    other = client.get(reverse("ratings:rater_next", args=[second.token]), follow=True)
    assert "Item 1 of" in other.content.decode()
    taken = Task.objects.get(rater=second, status="open")
    assert taken.prompt_id == abandoned.prompt_id  # the least-covered prompt again
    back = client.get(reverse("ratings:rater_next", args=[first.token]), follow=True).content.decode()
    assert "Your previous item expired, as it was not answered within 30 minutes" in back
    assert "Item 1 of" in back  # expired work does not count as done
    assert Task.objects.get(rater=first, status="open").prompt_id != abandoned.prompt_id
    # Its old page says so too, and moves on.
    old = client.get(_task_url(first, abandoned), follow=True).content.decode()
    assert "Your previous item expired" in old


def test_a_late_answer_is_stored_while_its_slot_is_free_and_refused_once_another_rater_took_it(
    client, tmp_path
):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    Study.objects.filter(pk=study.pk).update(min_task_seconds=0)
    late, slow, taker = make_raters(study, 3)
    free = _claim(client, late)
    _fetch_all(client, late, free)
    _age(free, 45)
    assert services.tasks_expire() == 1
    assert client.post(_task_url(late, free), _bot_answer(free)).status_code == 302  # its slot was free
    free.refresh_from_db()
    assert free.status == "submitted" and free.holds_slot
    taken = _claim(client, slow)
    _fetch_all(client, slow, taken)
    _age(taken, 45)
    _claim(client, taker)  # expires `taken` lazily and takes its prompt, the last slot
    response = client.post(_task_url(slow, taken), _bot_answer(taken))
    assert response.status_code == 400
    assert "its place went to another rater, so this answer was not saved" in response.content.decode()
    taken.refresh_from_db()
    assert taken.status == "expired" and not QualityRating.objects.filter(task=taken).exists()
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {1}


def _sweeps(captured) -> int:
    """Statements that look for a study's stale claims (services.queue._stale_tasks)."""
    return sum('t."created_at" <' in query["sql"] or "t.created_at <" in query["sql"] for query in captured)


def test_claims_sweep_a_study_only_once_one_of_its_claims_may_have_gone_stale(tmp_path):
    study = make_study(tmp_path, prompts=3, raters_per_prompt=2)
    first, second, third = make_raters(study, 3)
    with CaptureQueriesContext(connection) as opening:
        services.task_next(rater=first)  # the study's first claim in this process: it sweeps
    with CaptureQueriesContext(connection) as later:
        taken = services.task_next(rater=second)
    assert (_sweeps(opening), _sweeps(later)) == (1, 0)

    from ratings.services.queue import _claims_expire_due

    claimed = Task.objects.get(rater=first).created_at
    with CaptureQueriesContext(connection) as early:
        _claims_expire_due(study, now=claimed + timedelta(minutes=29))
    assert len(early) == 0 and not Task.objects.filter(status="expired").exists()
    _claims_expire_due(study, now=taken.created_at + timedelta(minutes=30, seconds=1))
    assert set(Task.objects.values_list("status", flat=True)) == {"expired"}

    study.claim_timeout_minutes = 5  # a changed timeout is looked at anew
    with CaptureQueriesContext(connection) as changed:
        services.task_next(rater=third)
    assert _sweeps(changed) == 1


def test_expired_items_do_not_count_toward_a_raters_session(client, tmp_path):
    study = make_study(tmp_path, prompts=3, raters_per_prompt=1)
    Study.objects.filter(pk=study.pk).update(max_items_per_rater=2)
    (rater,) = make_raters(study, 1)
    _age(_claim(client, rater), 31)
    services.tasks_expire()
    home = client.get(reverse("ratings:rater_home", args=[rater.token])).content.decode()
    assert "rated 0 of 2 items" in home
    assert services.task_next(rater=rater) is not None


def test_the_beat_schedule_expires_claims_every_minute(tmp_path):
    from ratings.tasks import expire_claims

    schedule = django_settings.CELERY_BEAT_SCHEDULE["ratings-expire-claims"]
    assert schedule == {"task": "ratings.expire_claims", "schedule": 60.0}
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    task = services.task_next(rater=rater)
    assert expire_claims.apply().get() == "0 claim(s) expired"
    _age(task, 31)
    assert expire_claims.apply().get() == "1 claim(s) expired"
    task.refresh_from_db()
    assert task.status == "expired" and task.expired_at is not None and not task.holds_slot
    assert study.prompts.get().quality_slots_taken == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_the_dither_changes_samples_in_place_as_decoding_and_writing_again_would(channels):
    from ratings.audio import _wav_bytes, _with_dither, dithered

    samples = (np.random.default_rng(channels).normal(size=(4000, channels)) * 3000).astype(np.int16)
    samples[:3], samples[3:6] = 32767, -32768  # full scale stays in range
    wav = _wav_bytes(samples, SAMPLE_RATE)
    out = dithered(wav, b"token:A")
    decoded, rate = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
    assert out == _wav_bytes(_with_dither(decoded, b"token:A"), rate)  # the decode-and-write path's bytes
    assert len(out) == len(wav) and out[:44] == wav[:44] and out != wav != dithered(wav, b"token:B")
    # a file that is not 16-bit PCM (here 24-bit) is decoded and written again, not patched
    other = io.BytesIO()
    soundfile.write(other, samples, SAMPLE_RATE, format="WAV", subtype="PCM_24")
    patched = dithered(other.getvalue(), b"token:A")
    assert soundfile.info(io.BytesIO(patched)).subtype == "PCM_16"


def test_the_dither_is_triangular_one_step_at_most_and_seeded():
    from ratings.audio import _with_dither

    silence = np.zeros((100_000, 2), dtype=np.int16)
    noise = _with_dither(silence, b"token:A")
    shares = {step: float(np.mean(noise == step)) for step in (-1, 0, 1)}
    assert abs(shares[-1] - 0.25) < 0.01 and abs(shares[0] - 0.5) < 0.01 and abs(shares[1] - 0.25) < 0.01
    assert noise.shape == silence.shape and noise.dtype == np.int16
    assert np.array_equal(noise, _with_dither(silence, b"token:A"))
    assert not np.array_equal(noise, _with_dither(silence, b"token:B"))
    loud = np.full((1000, 1), 32767, dtype=np.int16)
    assert _with_dither(loud, b"x").max() == 32767  # full scale stays in range
