"""make demo's study: recipes/demo.yaml launched through the pipeline by a real worker (through Redis)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from launches.models import LaunchStatus, StudyLaunch
from ratings.models import Clip, DiversityComparison, Rater, Study, Variant
from tests.jobs.conftest import running_worker


@pytest.mark.django_db(transaction=True)
def test_demo_study_is_launched_from_its_recipe_reusing_the_committed_finetunes(redis_broker, capsys):
    with running_worker(redis_broker):
        call_command("demo_study", "--raters", "2", "--wait", "400", "--base-url", "http://127.0.0.1:8011")
    study = Study.objects.get(slug="demo")
    assert study.is_open and study.onboarding_required and study.attention_rate == 0.1
    variants = {v.name: v for v in Variant.objects.filter(study=study)}
    assert {name: v.kind for name, v in variants.items()} == {
        "base": "base",
        "cfg": "cfg",
        "distilled": "distilled",
        "diverse": "diversity",
        "lerp-50": "merged",
    }
    launch = StudyLaunch.objects.get(study_slug="demo")
    reused = {s.result.get("reused") for s in launch.steps.filter(kind="finetune")}
    assert reused == {"demo-distilled.pt", "demo-diverse.pt"}  # nothing trained: the committed ones match
    assert all(
        set(v.provenance["metrics"]) >= {"text_adherence", "diversity_heldout"} for v in variants.values()
    )
    assert Clip.objects.filter(prompt__study=study).count() == 12 * 2 * len(variants)
    assert DiversityComparison.objects.filter(study=study).count() == 12 * 10  # all pairs of 5 variants
    out = capsys.readouterr().out
    links = [line for line in out.splitlines() if "/r/" in line]
    assert len(links) == 2 == Rater.objects.filter(study=study).count()
    assert all("http://127.0.0.1:8011/r/" in line for line in links)
    assert "http://127.0.0.1:8011/dashboard/demo/" in out

    # Running it again launches nothing and only adds invite links.
    call_command("demo_study", "--raters", "1", "--wait", "1")
    assert (
        StudyLaunch.objects.count() == 1 and launch.steps.count() == StudyLaunch.objects.get().steps.count()
    )
    assert Rater.objects.filter(study=study).count() == 3


@pytest.mark.django_db(transaction=True)
def test_demo_study_without_a_worker_says_what_to_start(redis_broker):
    with pytest.raises(CommandError, match="is a worker running"):
        call_command("demo_study", "--wait", "0.5")
    assert StudyLaunch.objects.get().status == LaunchStatus.RUNNING
