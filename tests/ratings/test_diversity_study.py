"""The diversity study: planning, handing out comparisons, answers, and diversity.csv in and out."""

import csv
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.urls import reverse

import formats
from ratings import selectors, services
from ratings.models import DiversityComparison, DiversityJudgement, Rater, Task, TaskStatus

from .factories import (
    answer,
    clip_rows,
    full_judgement,
    make_diversity_study,
    make_raters,
    make_study,
    write_manifest,
)

pytestmark = pytest.mark.django_db


def _judge_everything(rater, choice=1):
    taken = []
    while (assignment := services.diversity_assignment_next(rater=rater)) is not None:
        answer(assignment, choice=choice)
        taken.append(assignment.comparison_id)
    return taken


def _read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# --- planning ------------------------------------------------------------------------------------------


def test_plan_of_all_pairs_covers_every_pair_of_the_selected_variants_on_every_prompt(tmp_path):
    make_diversity_study(tmp_path, prompts=3, variants=("base", "cfg", "merged"))
    pairs = Counter(
        tuple(sorted((c.variant_x.name, c.variant_y.name))) for c in DiversityComparison.objects.all()
    )
    assert pairs == {("base", "cfg"): 3, ("base", "merged"): 3, ("cfg", "merged"): 3}


def test_plan_against_a_baseline_compares_each_variant_with_it_only(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg", "merged"), baseline="base")
    names = {frozenset((c.variant_x.name, c.variant_y.name)) for c in study.diversity_comparisons.all()}
    assert names == {frozenset(("base", "cfg")), frozenset(("base", "merged"))}
    assert study.diversity_comparisons.count() == 4


def test_plan_takes_50_prompts_by_default_and_planning_again_adds_nothing(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = clip_rows(folder, prompts=55, variants=["a", "b"], samples=2, seconds=0.05)
    study = services.clips_import(study_slug="big", manifest=write_manifest(folder, rows)).study
    result = services.diversity_plan(study=study, variants=["a", "b"])
    assert result.prompts == 50 and result.comparisons_created == 50
    assert services.diversity_plan(study=study, variants=["a", "b"]).comparisons_created == 0
    assert study.diversity_comparisons.count() == 50


def test_a_variant_with_one_sample_per_prompt_cannot_enter_a_diversity_study(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = clip_rows(folder, 2, ["two"], samples=2) + clip_rows(folder, 2, ["one"], samples=1)
    study = services.clips_import(study_slug="s", manifest=write_manifest(folder, rows)).study
    with pytest.raises(services.ServiceError, match="variant one has fewer than 2 samples"):
        services.diversity_plan(study=study, variants=["two", "one"])
    with pytest.raises(CommandError, match="variant one has fewer than 2 samples"):
        call_command("plan_diversity", "--study", "s", "--variants", "two,one")
    assert not DiversityComparison.objects.exists()


@pytest.mark.parametrize(
    ("variants", "message"),
    [(["base"], "at least two variants"), (["base", "nope"], "variant(s) nope not in study")],
)
def test_plan_with_bad_variants_is_refused(tmp_path, variants, message):
    study = make_diversity_study(tmp_path, prompts=1, variants=("base", "cfg"))
    with pytest.raises(services.ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        services.diversity_plan(study=study, variants=variants)


def test_plan_diversity_command_reports_the_plan(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = clip_rows(folder, 4, ["base", "cfg", "merged"], samples=2)
    services.clips_import(study_slug="s", manifest=write_manifest(folder, rows))
    call_command(
        "plan_diversity", "--study", "s", "--variants", "cfg,merged", "--baseline", "base", "--prompts", "3"
    )
    out = capsys.readouterr().out
    assert "3 prompts × 2 pairs (base vs cfg, base vs merged): 6 new comparisons" in out


# --- handing out comparisons --------------------------------------------------------------------


def test_a_comparison_shows_two_samples_of_one_variant_as_a_and_two_of_the_other_as_b(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=1, variants=("base", "cfg"), samples=3, raters_per_prompt=40
    )
    sides = Counter()
    for rater in make_raters(study, 40):
        assignment = services.diversity_assignment_next(rater=rater)
        labelled = dict(selectors.task_clips_in_order(assignment))
        pair_a = [labelled["A1"], labelled["A2"]]
        pair_b = [labelled["B1"], labelled["B2"]]
        assert len({c.variant for c in pair_a}) == 1 and len({c.variant for c in pair_b}) == 1
        assert pair_a[0].variant != pair_b[0].variant
        assert {pair_a[0].variant, pair_b[0].variant} == {
            assignment.comparison.variant_x,
            assignment.comparison.variant_y,
        }
        assert pair_a[0] != pair_a[1] and pair_b[0] != pair_b[1]
        assert {c.prompt for c in pair_a + pair_b} == {assignment.comparison.prompt}
        sides[pair_a[0].variant.name] += 1
    assert sides["base"] >= 8 and sides["cfg"] >= 8  # sides are random, not fixed


def test_each_comparison_reaches_exactly_n_distinct_raters(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=2, variants=("base", "cfg", "distilled"), raters_per_prompt=3
    )
    taken_by = {rater.pk: _judge_everything(rater) for rater in make_raters(study, 5)}
    coverage = Counter(c for taken in taken_by.values() for c in taken)
    assert len(coverage) == 6 and set(coverage.values()) == {3}
    for taken in taken_by.values():
        assert len(taken) == len(set(taken))
    assert {row["submitted"] for row in selectors.study_diversity_coverage(study)} == {3}
    assert set(study.diversity_comparisons.values_list("slots_taken", flat=True)) == {3}


def test_a_rater_holds_one_open_comparison_and_asking_again_returns_it(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2)
    (rater,) = make_raters(study, 1)
    first = services.diversity_assignment_next(rater=rater)
    assert services.diversity_assignment_next(rater=rater) == first
    assert Task.objects.filter(kind="diversity").filter(rater=rater, status=TaskStatus.OPEN).count() == 1


def test_a_study_with_both_parts_alternates_quality_and_diversity(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg"), raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    kinds = []
    while (assignment := services.task_next(rater=rater)) is not None:
        kinds.append(assignment.kind)
        answer(assignment)
    assert kinds == ["quality", "diversity", "quality", "diversity"]
    assert selectors.rater_progress(rater) == selectors.RaterProgress(done=4, total=4)


def test_a_diversity_only_study_hands_out_no_quality_items(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg"), quality_part=False)
    (rater,) = make_raters(study, 1)
    assert selectors.rater_progress(rater).total == 2
    assert services.task_next(rater=rater).kind == "diversity"


# --- answers -----------------------------------------------------------------------------------------


def test_an_answer_is_stored_once_with_its_listening_evidence(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    result = services.task_submit(task=assignment, submission=full_judgement(assignment, -2))
    assert not result.already_submitted
    assignment.refresh_from_db()
    assert assignment.status == TaskStatus.SUBMITTED and assignment.judgement.choice == -2
    assert set(assignment.listening) == {"A1", "A2", "B1", "B2"} and assignment.listening["B2"]["ended"]


def test_resubmitting_an_answer_changes_nothing(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    answer(assignment, choice=1)
    again = services.task_submit(task=assignment, submission=full_judgement(assignment, -2))
    assert again.already_submitted
    assert list(Task.objects.filter(kind="diversity").values_list("judgement__choice", flat=True)) == [1]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda s: setattr(s, "choice", 3), "between -2 and +2, not 3"),
        (lambda s: setattr(s, "choice", -5), "between -2 and +2, not -5"),
        (lambda s: setattr(s, "choice", None), "Choose which pair is more diverse"),
        (lambda s: s.listening["B1"].__setattr__("ended", False), "Clip B1: play it to the end"),
        (lambda s: s.listening["A2"].__setattr__("seconds", 0.1), "Clip A2: play it to the end"),
        (lambda s: s.listening.pop("A1"), "Clip A1: play it to the end"),
        (
            lambda s: s.listening.update({"C1": services.ClipListening(1, 1.0, True)}),
            "C1 are not part of this task",
        ),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_saved(tmp_path, spoil, message):
    study = make_diversity_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    submission = full_judgement(assignment)
    spoil(submission)
    with pytest.raises(services.SubmissionRejected) as rejected:
        services.task_submit(task=assignment, submission=submission)
    assert any(message in problem for problem in rejected.value.problems)
    assignment.refresh_from_db()
    assert assignment.status == TaskStatus.OPEN and not hasattr(assignment, "judgement")


def test_an_answer_outside_the_scale_is_refused_by_the_database_too(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    variants = {"variant_a": assignment.comparison.variant_x, "variant_b": assignment.comparison.variant_y}
    with pytest.raises(IntegrityError), transaction.atomic():
        DiversityJudgement.objects.create(task=assignment, choice=3, **variants)
    with pytest.raises(IntegrityError), transaction.atomic():
        DiversityJudgement.objects.create(task=assignment, choice=None, **variants)


def test_a_second_assignment_of_one_comparison_to_one_rater_is_refused_by_the_database(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    first = services.diversity_assignment_next(rater=rater)
    answer(first)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(
            rater=rater, kind="diversity", comparison=first.comparison, prompt=first.prompt, clips=first.clips
        )


# --- diversity.csv -------------------------------------------------------------------------------------


def test_export_writes_diversity_csv_with_the_pairs_as_heard_and_the_answer_as_given(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=2, variants=("base", "cfg"), raters_per_prompt=1, quality_part=False
    )
    (rater,) = make_raters(study, 1)
    _judge_everything(rater, choice=-1)
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    rows = _read(tmp_path / "out" / "diversity.csv")
    assert list(rows[0]) == list(formats.DIVERSITY_COLUMNS)
    heard = {
        (a.prompt.external_id, a.judgement.variant_a.name, a.judgement.variant_b.name)
        for a in Task.objects.filter(kind="diversity").all()
    }
    assert {(r["prompt_id"], r["variant_a"], r["variant_b"]) for r in rows} == heard
    assert {r["choice"] for r in rows} == {"-1"} and {r["rater_id"] for r in rows} == {rater.external_id}
    assert _read(tmp_path / "out" / "ratings.csv") == []  # header only
    assert (tmp_path / "out" / "ratings.csv").read_text().startswith("rater_id,prompt_id,variant,criterion")


def test_export_of_a_study_without_judgements_writes_a_header_only_diversity_csv(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1)
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "diversity.csv").read_text().strip() == ",".join(formats.DIVERSITY_COLUMNS)


def _diversity_rows():
    return [
        {"rater_id": "ext-1", "prompt_id": "p000", "variant_a": "base", "variant_b": "cfg", "choice": -2, "created_at": "2026-11-01T10:00:00+00:00"},
        {"rater_id": "ext-1", "prompt_id": "p001", "variant_a": "cfg", "variant_b": "base", "choice": 1, "created_at": "2026-11-01T10:01:00+00:00"},
        {"rater_id": "ext-2", "prompt_id": "p000", "variant_a": "cfg", "variant_b": "base", "choice": 0, "created_at": "2026-11-01T10:02:00+00:00"},
    ]  # fmt: skip


def _write(path, rows, header=formats.DIVERSITY_COLUMNS):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_imported_diversity_csv_keeps_rater_ids_and_exports_unchanged(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg"))
    call_command(
        "import_ratings", "--study", study.slug, str(_write(tmp_path / "diversity.csv", _diversity_rows()))
    )
    assert set(Rater.objects.values_list("external_id", flat=True)) == {"ext-1", "ext-2"}
    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    exported = _read(tmp_path / "out" / "diversity.csv")
    expected = [{k: str(v) for k, v in row.items()} for row in _diversity_rows()]
    assert sorted(exported, key=lambda r: r["created_at"]) == expected
    assert study.diversity_comparisons.get(prompt__external_id="p000").slots_taken == 2


def test_judgements_imported_for_variants_with_one_sample_per_prompt_are_never_handed_to_raters(
    client, tmp_path
):
    study = make_study(tmp_path, prompts=2, variants=("base", "cfg"))  # one sample each
    services.ratings_import(study=study, path=_write(tmp_path / "diversity.csv", _diversity_rows()))
    (rater,) = make_raters(study, 1)
    kinds = []
    while True:
        response = client.post(reverse("ratings:rater_next", args=[rater.token]))
        assert response.status_code == 302
        if response.url.endswith("/done/"):
            break
        kinds.append(answer(services.task_next(rater=rater)))
    assert len(kinds) == 2 and not Task.objects.filter(kind="diversity").filter(rater=rater).exists()
    assert selectors.rater_progress(rater).total == 2
    row = next(row for row in selectors.study_dashboard(study).raters if row.rater == rater)
    assert row.progress == selectors.rater_progress(rater)


def test_the_diversity_file_is_recognised_by_its_header_in_any_column_order(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg"))
    header = tuple(reversed(formats.DIVERSITY_COLUMNS))
    result = services.ratings_import(study=study, path=_write(tmp_path / "d.csv", _diversity_rows(), header))
    assert result.kind == "diversity judgements" and result.ratings_created == 3


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda rows: rows[-1].update(choice="3"), "choice 3 is outside -2..+2"),
        (lambda rows: rows[-1].update(choice="-3"), "choice -3 is outside -2..+2"),
        (lambda rows: rows[-1].update(choice="B"), "is not a whole number"),
        (lambda rows: rows[-1].update(variant_b="mystery"), "variant_b 'mystery' is not in study"),
        (lambda rows: rows[-1].update(variant_b="cfg"), "variant_a and variant_b are both 'cfg'"),
        (lambda rows: rows[-1].update(prompt_id="p999"), "prompt 'p999' is not in study"),
        (lambda rows: rows[-1].update(created_at="soon"), "is not an ISO 8601"),
        (
            lambda rows: rows.append({**rows[0], "variant_a": "cfg", "variant_b": "base"}),
            "duplicate judgement",
        ),
    ],
)
def test_a_bad_diversity_file_is_refused_and_nothing_is_written(tmp_path, spoil, message):
    study = make_diversity_study(tmp_path, prompts=2, variants=("base", "cfg"))
    rows = _diversity_rows()
    spoil(rows)
    with pytest.raises(services.ImportFailed, match=message):
        services.ratings_import(study=study, path=_write(tmp_path / "d.csv", rows))
    assert not Task.objects.filter(kind="diversity").exists() and not Rater.objects.exists()
    assert set(study.diversity_comparisons.values_list("slots_taken", flat=True)) == {0}


def test_study_diversity_rows_is_the_selector_the_analysis_reads(tmp_path):
    study = make_diversity_study(tmp_path, prompts=1, variants=("base", "cfg"), raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    assignment = services.diversity_assignment_next(rater=rater)
    answer(assignment, choice=2)
    (row,) = selectors.study_diversity_rows(study)
    assert row == {
        "rater_id": rater.external_id,
        "prompt_id": "p000",
        "variant_a": assignment.judgement.variant_a.name,
        "variant_b": assignment.judgement.variant_b.name,
        "choice": 2,
        "created_at": Task.objects.filter(kind="diversity").get().submitted_at.isoformat(),
    }
