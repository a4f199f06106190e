import hashlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import formats
from ratings import services
from ratings.models import Clip, Prompt, Study, Variant

from .factories import clip_rows, write_manifest, write_wav

pytestmark = pytest.mark.django_db


def test_import_creates_study_prompts_variants_and_clips_with_probed_audio(tmp_path):
    rows = clip_rows(tmp_path, prompts=2, variants=["base", "cfg"], samples=2, seconds=1.5)
    result = services.clips_import(study_slug="s1", manifest=write_manifest(tmp_path, rows))

    assert (result.clips_created, result.prompts_created, result.variants_created) == (8, 2, 2)
    clip = Clip.objects.get(prompt__external_id="p001", variant__name="cfg", sample_index=1)
    assert clip.duration_s == pytest.approx(1.5)
    assert clip.sample_rate == 16000
    assert clip.checksum == hashlib.sha256((tmp_path / "p1_cfg_1.wav").read_bytes()).hexdigest()
    # Stored under a random token: nothing of the source name (p1_cfg_1) reaches the file name.
    assert clip.audio.path.endswith(".wav") and "p1_cfg_1" not in clip.audio.name
    assert Prompt.objects.get(external_id="p001").text == "Prompt number 1"


def test_flac_is_accepted(tmp_path):
    write_wav(tmp_path / "a.flac", fmt="FLAC")
    manifest = write_manifest(
        tmp_path,
        [{"prompt_id": "x", "prompt_text": "t", "variant": "v", "sample_index": 0, "path": "a.flac"}],
    )
    services.clips_import(study_slug="s", manifest=manifest)
    assert Clip.objects.get().sample_rate == 16000


def test_existing_study_gains_new_clips(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    services.clips_import(study_slug="s", manifest=write_manifest(first, clip_rows(first, 2, ["base"])))
    second = tmp_path / "second"
    second.mkdir()
    services.clips_import(study_slug="s", manifest=write_manifest(second, clip_rows(second, 2, ["cfg"])))
    assert Study.objects.count() == 1
    assert Clip.objects.count() == 4
    assert set(Variant.objects.values_list("name", flat=True)) == {"base", "cfg"}


def _assert_nothing_written(settings):
    assert not Study.objects.exists() and not Clip.objects.exists() and not Prompt.objects.exists()
    media = list(settings.MEDIA_ROOT.rglob("*.*")) if settings.MEDIA_ROOT.exists() else []
    assert media == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows, folder: rows.append(dict(rows[0])), r"duplicate \(prompt_id, variant, sample_index\)"),
        (lambda rows, folder: rows[-1].update(path="missing.wav"), "path 'missing.wav': no such file"),
        (lambda rows, folder: (folder / rows[-1]["path"]).write_text("not audio"), "not readable audio"),
        (lambda rows, folder: rows[-1].update(sample_index="two"), "is not a whole number"),
        (lambda rows, folder: rows[-1].update(sample_index="-1"), "between 0 and 2147483647, not -1"),
        (lambda rows, folder: rows[-1].update(prompt_text="other"), "two different texts"),
        (lambda rows, folder: rows[-1].update(variant=""), "variant is empty"),
        (lambda rows, folder: rows[-1].update(path="/etc/passwd"), "must be relative"),
    ],
)
def test_bad_manifest_is_refused_and_nothing_is_written(tmp_path, settings, mutate, message):
    rows = clip_rows(tmp_path, prompts=2, variants=["base", "cfg"])
    mutate(rows, tmp_path)
    with pytest.raises(services.ImportFailed, match=message):
        services.clips_import(study_slug="s", manifest=write_manifest(tmp_path, rows))
    _assert_nothing_written(settings)


def test_unknown_and_missing_columns_are_refused(tmp_path, settings):
    rows = clip_rows(tmp_path, 1, ["base"])
    for row in rows:
        row["seed"] = 1
    with pytest.raises(services.ImportFailed, match="unknown column.*seed"):
        services.clips_import(
            study_slug="s",
            manifest=write_manifest(tmp_path, rows, header=(*formats.MANIFEST_COLUMNS, "seed")),
        )
    rows = [{k: v for k, v in row.items() if k not in ("sample_index", "seed")} for row in rows]
    header = tuple(c for c in formats.MANIFEST_COLUMNS if c != "sample_index")
    with pytest.raises(services.ImportFailed, match="missing column.*sample_index"):
        services.clips_import(study_slug="s", manifest=write_manifest(tmp_path, rows, header=header))
    _assert_nothing_written(settings)


def test_a_changed_file_under_a_key_already_imported_is_refused_and_the_new_files_are_removed(
    tmp_path, settings
):
    services.clips_import(study_slug="s", manifest=write_manifest(tmp_path, clip_rows(tmp_path, 1, ["base"])))
    files_before = sorted(settings.MEDIA_ROOT.rglob("*.wav"))
    second = tmp_path / "again"
    second.mkdir()
    rows = clip_rows(second, 2, ["base"], seconds=1.5)  # p000/base/0 exists with other audio; p001 is new
    with pytest.raises(
        services.ImportFailed, match=r"line 2: study s already has another file for \(p000, base, 0\)"
    ):
        services.clips_import(study_slug="s", manifest=write_manifest(second, rows), fit="trim")
    assert Clip.objects.count() == 1 and Prompt.objects.count() == 1
    assert sorted(settings.MEDIA_ROOT.rglob("*.wav")) == files_before


def test_command_exits_nonzero_with_a_one_line_reason(tmp_path):
    rows = clip_rows(tmp_path, 1, ["base"])
    rows[0]["path"] = "nope.wav"
    with pytest.raises(CommandError) as failure:
        call_command("import_clips", "--study", "s", str(write_manifest(tmp_path, rows)))
    assert "\n" not in str(failure.value) and "nope.wav" in str(failure.value)


@pytest.mark.parametrize("slug", ["my study", "../escape", "x" * 51])
def test_a_study_slug_that_cannot_name_a_url_or_a_folder_is_refused(tmp_path, settings, slug):
    manifest = write_manifest(tmp_path, clip_rows(tmp_path, 1, ["base"]))
    with pytest.raises(CommandError, match="must be 1–50 letters, digits, '-' or '_'"):
        call_command("import_clips", "--study", slug, str(manifest))
    with pytest.raises(CommandError, match="must be 1–50 letters, digits, '-' or '_'"):
        call_command("enqueue_job", "pregenerate", "--study", slug, "--variant", "v")
    assert not Study.objects.exists()
    _assert_nothing_written(settings)


def test_command_reports_what_it_imported(tmp_path, capsys):
    call_command(
        "import_clips", "--study", "s", str(write_manifest(tmp_path, clip_rows(tmp_path, 3, ["a", "b"])))
    )
    assert "6 clips, 3 new prompts, 2 new variants" in capsys.readouterr().out


def test_importing_a_grown_manifest_again_adds_the_new_rows_and_skips_the_old_ones(tmp_path, capsys):
    manifest = write_manifest(tmp_path, clip_rows(tmp_path, 2, ["base"]))
    services.clips_import(study_slug="s", manifest=manifest)
    manifest = write_manifest(tmp_path, clip_rows(tmp_path, 3, ["base", "cfg"]))  # the old rows, and more
    call_command("import_clips", "--study", "s", str(manifest))
    out = capsys.readouterr().out
    assert "4 clips, 1 new prompts, 1 new variants; 2 already imported from the same files, skipped" in out
    assert Clip.objects.count() == 6 and Prompt.objects.count() == 3
    result = services.clips_import(study_slug="s", manifest=manifest)  # a third time: nothing new
    assert (result.clips_created, result.clips_skipped) == (0, 6) and Clip.objects.count() == 6
