"""Imports that stay in their folder and refuse, on SQLite and PostgreSQL alike, the rows PostgreSQL
used to answer with a traceback (NUL, over-long ids, huge integers, impossible dates)."""

import csv
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ratings import services
from ratings.models import Clip, Prompt, Rater, Study

from .factories import clip_rows, make_study, write_manifest, write_wav

# Database-specific faults: these run on SQLite and again on PostgreSQL (make test's second pass).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _nothing_written(settings):
    assert not Study.objects.exists() and not Prompt.objects.exists() and not Clip.objects.exists()
    media = list(settings.MEDIA_ROOT.rglob("*")) if settings.MEDIA_ROOT.exists() else []
    assert [path for path in media if path.is_file()] == []


def _import_clips(manifest) -> str:
    """import_clips's one-line error."""
    with pytest.raises(CommandError) as failure:
        call_command("import_clips", "--study", "hard", str(manifest))
    message = str(failure.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("prompt_id", "p\x00001", "prompt_id contains the control character NUL"),
        ("variant", "base\x00", "variant contains the control character NUL"),
        ("prompt_text", "Rock\x00song", "prompt_text contains the control character NUL"),
        ("prompt_id", "p" * 300, "prompt_id is 300 characters long; at most 100 are allowed"),
        ("variant", "v" * 300, "variant is 300 characters long; at most 100 are allowed"),
        ("sample_index", str(10**12), "sample_index must be between 0 and 2147483647, not 1000000000000"),
        ("prompt_id", "p\x1b[31m", "prompt_id contains the control character U+001B"),
    ],
)
def test_a_manifest_row_postgresql_cannot_store_is_refused_with_the_same_reason_everywhere(
    tmp_path, settings, column, value, reason
):
    rows = clip_rows(tmp_path, prompts=2, variants=["base"])
    rows[-1][column] = value
    assert _import_clips(write_manifest(tmp_path, rows)) == f"manifest.csv line 3: {reason}"
    _nothing_written(settings)


@pytest.fixture
def secret_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    return write_wav(outside / "secret.wav")


def test_a_manifest_path_climbing_out_of_its_folder_is_refused_and_nothing_is_copied(
    tmp_path, settings, secret_outside
):
    folder = tmp_path / "manifest"
    folder.mkdir()
    rows = clip_rows(folder, prompts=1, variants=["base"])
    rows[0]["path"] = "../outside/secret.wav"
    message = _import_clips(write_manifest(folder, rows))
    assert message == "manifest.csv line 2: path '../outside/secret.wav' leads outside the manifest's folder"
    _nothing_written(settings)


def test_a_symlink_in_the_folder_to_a_file_outside_is_refused_and_nothing_is_copied(
    tmp_path, settings, secret_outside
):
    folder = tmp_path / "manifest"
    folder.mkdir()
    rows = clip_rows(folder, prompts=2, variants=["base"])
    os.symlink(secret_outside, folder / "innocent.wav")
    rows[-1]["path"] = "innocent.wav"
    message = _import_clips(write_manifest(folder, rows))
    assert message == "manifest.csv line 3: path 'innocent.wav' leads outside the manifest's folder"
    _nothing_written(settings)


def test_a_symlink_that_stays_inside_the_folder_is_imported(tmp_path):
    rows = clip_rows(tmp_path, prompts=1, variants=["base"])
    os.symlink(tmp_path / rows[0]["path"], tmp_path / "alias.wav")
    rows[0]["path"] = "alias.wav"
    services.clips_import(study_slug="hard", manifest=write_manifest(tmp_path, rows))
    assert Clip.objects.count() == 1


# --- import_ratings ------------------------------------------------------------------------------


RATING = {
    "rater_id": "ext-1",
    "prompt_id": "p000",
    "variant": "base",
    "criterion": "musicality",
    "score": "4",
    "created_at": "2026-02-01T10:00:00+00:00",
}


def _ratings_file(folder, rows):
    path = folder / "ratings.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RATING))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (
            "created_at",
            "2026-02-30T10:00:00",
            "created_at '2026-02-30T10:00:00' is not a valid date and time",
        ),
        ("created_at", "2026-02-30 10:00:00+00:00", "is not a valid date and time"),
        ("rater_id", "r\x00", "rater_id contains the control character NUL"),
        ("rater_id", "r" * 300, "rater_id is 300 characters long; at most 100 are allowed"),
    ],
)
def test_a_ratings_row_with_an_impossible_date_or_a_bad_rater_id_is_refused_in_one_line(
    tmp_path, column, value, reason
):
    study = make_study(tmp_path, slug="hard", prompts=1, variants=("base",))
    path = _ratings_file(
        tmp_path, [RATING, {**RATING, "variant": "base", column: value, "criterion": "text_adherence"}]
    )
    with pytest.raises(CommandError) as failure:
        call_command("import_ratings", "--study", "hard", str(path))
    message = str(failure.value)
    assert message.startswith("ratings.csv line 3: ") and reason in message and "\n" not in message
    assert not Rater.objects.filter(study=study).exists()


def test_an_exported_ratings_file_with_neutralised_cells_imports_back_as_it_was(tmp_path):
    study = make_study(tmp_path, slug="hard", prompts=1, variants=("base",))
    path = _ratings_file(tmp_path, [{**RATING, "rater_id": "'=cmd"}])
    services.ratings_import(study=study, path=path)
    assert Rater.objects.get(study=study).external_id == "=cmd"
