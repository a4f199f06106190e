"""Exports that a spreadsheet or a Markdown viewer opens safely: ids and names from outside run no
formula and carry no markup."""

import csv

import pytest
from django.core.management import call_command

import formats
from ratings import services
from tests.ratings.factories import clip_rows, write_manifest

pytestmark = pytest.mark.django_db

FORMULA_VARIANT = "=1+2"
MARKUP_VARIANT = "<img src=x onerror=alert(1)>"
PROMPT = "+p0"
RATER = "@rater"


@pytest.fixture
def exported(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = clip_rows(folder, prompts=3, variants=["a", "b", "c"])
    names = {"a": FORMULA_VARIANT, "b": MARKUP_VARIANT, "c": "base"}
    for row in rows:
        row["variant"] = names[row["variant"]]
        row["prompt_id"] = row["prompt_id"].replace("p000", PROMPT)
    study = services.clips_import(study_slug="esc", manifest=write_manifest(folder, rows)).study
    ratings = tmp_path / "in-ratings.csv"
    with ratings.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=formats.RATINGS_COLUMNS)
        writer.writeheader()
        for r, rater in enumerate([RATER, "-r2", "r3"]):
            for p, prompt in enumerate([PROMPT, "p001", "p002"]):
                for v, variant in enumerate(names.values()):
                    for c, criterion in enumerate(formats.CRITERIA):
                        score = 1 + (r + p + 2 * v + c) % 5
                        writer.writerow(
                            dict(
                                zip(
                                    formats.RATINGS_COLUMNS,
                                    [rater, prompt, variant, criterion, score, "2026-01-01T00:00:00+00:00"],
                                    strict=True,
                                )
                            )
                        )
    services.ratings_import(study=study, path=ratings)
    out = tmp_path / "out"
    call_command("export_results", "--study", "esc", "--out", str(out))
    return out


def _cells(path):
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_no_exported_csv_has_a_cell_a_spreadsheet_would_run(exported):
    files = sorted(exported.glob("*.csv"))
    assert {"ratings.csv", "quality_means.csv", "quality_pairs.csv"} <= {f.name for f in files}
    for path in files:
        for cell in _cells(path):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
            if cell.startswith("-"):
                float(cell)  # a negative number, not a formula
    ratings = _cells(exported / "ratings.csv")
    assert {"'=1+2", "'+p0", "'@rater", "'-r2"} <= set(ratings)
    assert "'=1+2" in _cells(exported / "quality_means.csv")


def test_the_exported_ratings_import_back_with_their_ids_unchanged(exported, tmp_path):
    study = services.study_get_or_create(slug="esc2")
    services.clips_import(study_slug="esc2", manifest=tmp_path / "clips" / "manifest.csv")
    services.ratings_import(study=study, path=exported / "ratings.csv")
    assert set(study.raters.values_list("external_id", flat=True)) == {RATER, "-r2", "r3"}


def test_markdown_reports_show_variant_names_as_text(exported):
    for path in [exported / "report.md", exported / "quality_means.md", exported / "quality_pairs.md"]:
        text = path.read_text()
        assert MARKUP_VARIANT not in text and "<img" not in text, path.name
        assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_the_staff_report_page_shows_variant_names_as_text(
    exported, client, django_capture_on_commit_callbacks
):
    from django.contrib.auth import get_user_model

    from evalsite.celery import app

    client.force_login(get_user_model().objects.create_superuser("staff", "s@example.org", "pw-123456"))
    app.conf.task_always_eager = True  # the report's task runs in the request that queues it
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.get("/staff/analysis/esc/")
        page = client.get("/staff/analysis/esc/")
    finally:
        app.conf.task_always_eager = False
    text = page.content.decode()
    assert page.status_code == 200 and "Quality (MOS" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and MARKUP_VARIANT not in text
