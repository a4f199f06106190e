import csv

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import formats
from ratings import services
from ratings.models import QualityRating, Rater, Task

from .factories import full_submission, make_raters, make_study

pytestmark = pytest.mark.django_db


def _write(path, rows, header=formats.RATINGS_COLUMNS):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(raters=("ext-1", "ext-2"), prompts=("p000", "p001"), variants=("base", "cfg", "distilled")):
    return [
        {
            "rater_id": rater,
            "prompt_id": prompt,
            "variant": variant,
            "criterion": criterion,
            "score": 1 + (r + p + v + c) % 5,
            "created_at": "2026-11-01T10:00:00+00:00",
        }
        for r, rater in enumerate(raters)
        for p, prompt in enumerate(prompts)
        for v, variant in enumerate(variants)
        for c, criterion in enumerate(formats.CRITERIA)
    ]


def _read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_imported_ratings_keep_their_rater_ids_and_export_unchanged(tmp_path):
    study = make_study(tmp_path, prompts=3)
    rows = _rows()
    call_command("import_ratings", "--study", study.slug, str(_write(tmp_path / "ratings.csv", rows)))

    assert set(Rater.objects.values_list("external_id", flat=True)) == {"ext-1", "ext-2"}
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    exported = _read(tmp_path / "out" / "ratings.csv")
    assert list(exported[0]) == list(formats.RATINGS_COLUMNS)
    key = lambda r: (r["rater_id"], r["prompt_id"], r["variant"], r["criterion"])  # noqa: E731
    assert sorted((key(r), int(r["score"])) for r in exported) == sorted((key(r), r["score"]) for r in rows)
    assert {r["created_at"] for r in exported} == {"2026-11-01T10:00:00+00:00"}


def test_imported_ratings_count_toward_coverage(tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=2)
    services.ratings_import(study=study, path=_write(tmp_path / "r.csv", _rows()))
    (newcomer,) = make_raters(study, 1)
    assert services.quality_assignment_next(rater=newcomer) is None


def test_export_of_platform_ratings_lists_every_score(tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    while (assignment := services.quality_assignment_next(rater=rater)) is not None:
        services.task_submit(task=assignment, submission=full_submission(assignment, score=3))
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    exported = _read(tmp_path / "out" / "ratings.csv")
    assert len(exported) == 2 * 3 * 3
    assert {r["rater_id"] for r in exported} == {rater.external_id} and {r["score"] for r in exported} == {
        "3"
    }


def test_export_has_the_prompt_texts_and_the_listening_evidence_of_every_clip(tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    while (task := services.task_next(rater=rater)) is not None:
        services.task_submit(task=task, submission=full_submission(task, score=3))
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    prompts = _read(tmp_path / "out" / "prompts.csv")
    assert {(r["prompt_id"], r["prompt_text"]) for r in prompts} == set(
        study.prompts.values_list("external_id", "text")
    )
    listening = _read(tmp_path / "out" / "listening.csv")
    clips_per_item = study.variants.count()
    assert len(listening) == 2 * clips_per_item  # every clip of both submitted items
    assert {r["rater_id"] for r in listening} == {rater.external_id}
    assert all(r["ended"] == "True" and float(r["seconds"]) > 0 and int(r["plays"]) >= 1 for r in listening)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda rows: rows[-1].update(score="6"), "score 6 is outside 1..5"),
        (lambda rows: rows[-1].update(score="0"), "score 0 is outside 1..5"),
        (lambda rows: rows[-1].update(score="good"), "is not a whole number"),
        (lambda rows: rows[-1].update(criterion="loudness"), "criterion 'loudness' is not one of"),
        (lambda rows: rows[-1].update(prompt_id="p999"), "prompt 'p999' is not in study"),
        (lambda rows: rows[-1].update(variant="mystery"), "variant 'mystery' is not in study"),
        (lambda rows: rows[-1].update(created_at="yesterday"), "is not an ISO 8601"),
        (lambda rows: rows.append(dict(rows[0])), "duplicate rating"),
    ],
)
def test_bad_ratings_file_is_refused_and_nothing_is_written(tmp_path, spoil, message):
    study = make_study(tmp_path, prompts=2)
    rows = _rows()
    spoil(rows)
    with pytest.raises(services.ImportFailed, match=message):
        services.ratings_import(study=study, path=_write(tmp_path / "r.csv", rows))
    assert not QualityRating.objects.exists() and not Rater.objects.exists()
    assert not Task.objects.filter(kind="quality").exists()
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {0}


def test_importing_the_same_ratings_twice_is_refused(tmp_path):
    study = make_study(tmp_path, prompts=2)
    path = _write(tmp_path / "r.csv", _rows())
    services.ratings_import(study=study, path=path)
    with pytest.raises(services.ImportFailed, match="already has the rating"):
        services.ratings_import(study=study, path=path)
    assert QualityRating.objects.count() == len(_rows())


def test_ratings_for_a_prompt_a_rater_holds_open_are_refused_and_their_own_submission_still_works(tmp_path):
    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    rows = _rows(raters=(rater.external_id,), prompts=(assignment.prompt.external_id,))
    with pytest.raises(services.ImportFailed, match="holds prompt p000 open on the platform"):
        services.ratings_import(study=study, path=_write(tmp_path / "r.csv", rows))
    assert not QualityRating.objects.exists()
    services.task_submit(task=assignment, submission=full_submission(assignment))
    assert QualityRating.objects.count() == 3 * len(formats.CRITERIA)


def test_unrecognised_header_and_unknown_study_are_one_line_command_errors(tmp_path):
    study = make_study(tmp_path, prompts=1)
    path = _write(tmp_path / "odd.csv", [{"a": 1, "b": 2}], header=("a", "b"))
    with pytest.raises(CommandError, match="is not a ratings file"):
        call_command("import_ratings", "--study", study.slug, str(path))
    with pytest.raises(CommandError, match="no study 'nope'"):
        call_command("import_ratings", "--study", "nope", str(path))
    with pytest.raises(CommandError, match="no study 'nope'"):
        call_command("export_results", "--study", "nope", "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_create_invites_prints_one_secret_link_per_rater(tmp_path, capsys):
    study = make_study(tmp_path, prompts=1)
    call_command(
        "create_invites", "--study", study.slug, "--count", "4", "--base-url", "https://rate.example"
    )
    lines = capsys.readouterr().out.strip().splitlines()
    tokens = set(Rater.objects.values_list("token", flat=True))
    assert len(lines) == 4 and len(tokens) == 4
    for line in lines:
        external_id, url = line.split("\t")
        assert url.startswith("https://rate.example/r/") and url.rstrip("/").rsplit("/", 1)[1] in tokens


def test_export_writes_the_analysis_beside_the_csv_files(tmp_path):
    import json

    study = make_study(tmp_path, prompts=3)
    services.ratings_import(
        study=study, path=_write(tmp_path / "r.csv", _rows(prompts=("p000", "p001", "p002")))
    )
    out = tmp_path / "out"
    call_command("export_results", "--study", study.slug, "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["quality"]["variants"]) == {"base", "cfg", "distilled"}
    means = summary["quality"]["variants"]["base"]["musicality"]
    assert means["n_prompts"] == 3 and means["ci_low"] <= means["mean"] <= means["ci_high"]
    assert len(summary["quality"]["pairs"]) == 3 * 3  # 3 unordered pairs × 3 criteria
    assert {"ratings.csv", "diversity.csv", "summary.json"} <= {p.name for p in out.iterdir()}
    assert any(p.suffix == ".png" for p in out.rglob("*")) and any(p.suffix == ".tex" for p in out.rglob("*"))
    assert not [p for p in out.iterdir() if p.name.startswith("tmp")]
