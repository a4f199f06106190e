"""The Django layer: `manage.py analyze` and the staff report page, on a study imported through the real services."""

import json

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from analysis.simulate import simulate_diversity, simulate_quality
from ratings import services
from ratings.models import Rater
from tests.ratings.factories import make_study

pytestmark = pytest.mark.django_db
VARIANTS = ("base", "cfg", "distilled")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path, slug="pilot", prompts=6, variants=VARIANTS)
    ratings = simulate_quality(
        n_prompts=6, n_raters=5, variants=VARIANTS, effects={"cfg": {"text_adherence": 1.0}}
    )
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    diversity = simulate_diversity(
        n_prompts=6,
        n_raters=5,
        strengths={"base": 0.0, "cfg": -1.0, "distilled": -0.5},
        pairs=[("base", "cfg"), ("cfg", "distilled")],
    )
    diversity.assign(prompt_id=diversity["prompt_id"].str.replace("d", "p")).to_csv(
        tmp_path / "diversity.csv", index=False
    )
    services.ratings_import(study=study, path=tmp_path / "ratings.csv")
    services.ratings_import(study=study, path=tmp_path / "diversity.csv")
    services.rater_flag(
        rater=Rater.objects.get(study=study, external_id="r000"), reason="manual", detail="test"
    )
    return study


def test_analyze_writes_the_report_leaving_out_flagged_raters(study, tmp_path, capsys):
    call_command("analyze", study="pilot", out=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["meta"]["study"] == "pilot"
    assert summary["meta"]["excluded_raters"]["rater_ids"] == ["r000"]
    assert set(summary["quality"]["variants"]) == set(VARIANTS)
    assert len(summary["diversity"]["pairs"]) == 2
    assert {"mos.png", "win_rates.png", "quality_means.tex"} <= set(summary["files"])
    assert "1 excluded rater(s) left out" in capsys.readouterr().out


def test_analyze_includes_flagged_raters_on_request(study, tmp_path):
    call_command("analyze", study="pilot", out=tmp_path / "all", include_excluded=True)
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())
    excluded = summary["meta"]["excluded_raters"]
    assert excluded["left_out"] == 0 and excluded["flagged"] == 1 and excluded["included_on_request"]


def test_analyze_on_an_unknown_study_fails_in_one_line_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(CommandError, match="no study 'nope'"):
        call_command("analyze", study="nope", out=tmp_path / "out")
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "analyze", "--study", "nope", "--out", str(tmp_path / "out")])
    assert exit_info.value.code != 0
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["analyze", "export_results"])
def test_an_out_path_that_is_a_file_is_a_one_line_error(study, tmp_path, command):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    with pytest.raises(CommandError, match="is a file; give a folder"):
        call_command(command, study=study.slug, out=taken)
    with pytest.raises(CommandError, match="cannot write into"):
        call_command(command, study=study.slug, out=taken / "inside")
    assert taken.read_text() == "keep me"


def test_analyze_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "analyze", "--help"])
    assert exit_info.value.code == 0 and "--include-excluded" in capsys.readouterr().out


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    return client


@pytest.fixture
def eager_celery():
    """Tasks run in the request that commits them (the worker's code, without the worker)."""
    from evalsite.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_the_report_is_computed_by_a_task_on_the_default_queue_then_shown_with_its_plots(
    study, staff, eager_celery, django_capture_on_commit_callbacks
):
    from evalsite.celery import app

    assert app.amqp.router.route({}, "reports.compute_report")["queue"].name == "default"
    assert b"pilot" in staff.get("/staff/analysis/").content
    with django_capture_on_commit_callbacks(execute=True) as queued:
        first = staff.get("/staff/analysis/pilot/").content.decode()
    assert len(queued) == 1 and "The report is being computed" in first and "data:image/png" not in first
    assert staff.get("/staff/analysis/pilot/summary.json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True) as queued:
        html = staff.get("/staff/analysis/pilot/").content.decode()
    assert queued == []  # nothing changed: the stored report is shown, nothing is computed
    assert html.count('src="data:image/png;base64,') == 3 and "Computed 20" in html
    assert "Quality (MOS, 1–5)" in html and "<strong>" in html and "1 excluded rater(s) left out" in html
    summary = staff.get("/staff/analysis/pilot/summary.json").json()
    assert summary["meta"]["excluded_raters"]["left_out"] == 1


def test_a_report_whose_ratings_changed_is_shown_while_a_new_one_is_computed_once(
    study, staff, eager_celery, django_capture_on_commit_callbacks
):
    from reports.models import StoredReport

    with django_capture_on_commit_callbacks(execute=True):
        staff.get("/staff/analysis/pilot/")
    computed = StoredReport.objects.get()
    services.rater_flag(
        rater=Rater.objects.get(study=study, external_id="r001"), reason="manual", detail="test"
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        stale = staff.get("/staff/analysis/pilot/").content.decode()
        staff.get("/staff/analysis/pilot/")
    assert len(queued) == 1  # asked once per change, however often the page is opened
    assert "The ratings or flags changed since: a new report is being computed" in stale
    assert "1 excluded rater(s) left out" in stale and 'http-equiv="refresh"' in stale
    for callback in queued:
        callback()
    fresh = staff.get("/staff/analysis/pilot/").content.decode()
    assert "2 excluded rater(s) left out" in fresh and "being computed" not in fresh
    assert StoredReport.objects.get().computed_at > computed.computed_at


def test_the_summary_is_refused_in_one_line_until_the_first_report_is_stored(study, staff):
    response = staff.get("/staff/analysis/pilot/summary.json")
    assert response.status_code == 503 and "being computed" in response.json()["error"]


def test_the_report_page_is_for_staff_only(study, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("rater", password="x"))
    assert client.get("/staff/analysis/pilot/").status_code == 302
    assert client.get("/staff/analysis/pilot/summary.json").status_code == 302


def test_a_report_asked_for_whose_message_was_lost_is_asked_for_again_after_ten_minutes(
    study, staff, django_capture_on_commit_callbacks
):
    from reports.models import StoredReport
    from reports.services import REQUEUE_AFTER

    with django_capture_on_commit_callbacks(execute=False) as queued:
        staff.get("/staff/analysis/pilot/")
    assert len(queued) == 1  # never run: the worker died with it
    with django_capture_on_commit_callbacks(execute=False) as queued:
        staff.get("/staff/analysis/pilot/")
    assert queued == []  # still within the time a computation takes
    StoredReport.objects.update(requested_at=F("requested_at") - REQUEUE_AFTER)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        page = staff.get("/staff/analysis/pilot/").content.decode()
    assert len(queued) == 1 and "being computed" in page
    assert timezone.now() - StoredReport.objects.get().requested_at < REQUEUE_AFTER
