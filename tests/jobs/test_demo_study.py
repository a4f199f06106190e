import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import GenerationJob, JobStatus
from ratings.models import Clip, DiversityComparison, Rater, Study, Variant
from tests.jobs.conftest import running_worker


@pytest.mark.django_db(transaction=True)
def test_demo_study_is_made_of_built_in_model_clips_generated_by_the_worker(redis_broker, capsys):
    with running_worker(redis_broker):
        call_command("demo_study", "--prompts", "2", "--raters", "2", "--wait", "240")
    study = Study.objects.get(slug="demo")
    variants = dict(Variant.objects.filter(study=study).values_list("name", "kind"))
    assert variants == {
        "base": "base",
        "cfg": "cfg",
        "distilled": "distilled",
        "diverse": "diversity",
        "lerp-50": "merged",
    }
    merged = Variant.objects.get(study=study, name="lerp-50")
    assert merged.parameters["lam"] == 0.5 and merged.parameters["constrain"] is True
    assert Clip.objects.filter(prompt__study=study).count() == 2 * 2 * len(variants)
    assert set(study.prompts.values_list("text", flat=True)) == {"Rock song", "Opera singer"}
    assert DiversityComparison.objects.filter(study=study).exists()
    links = [line for line in capsys.readouterr().out.splitlines() if "/r/" in line]
    assert len(links) == 2 == Rater.objects.filter(study=study).count()

    # Running it again generates nothing new and only adds invite links.
    call_command("demo_study", "--raters", "1", "--wait", "1")
    assert GenerationJob.objects.count() == len(variants)
    assert Rater.objects.filter(study=study).count() == 3


@pytest.mark.django_db(transaction=True)
def test_demo_study_without_a_worker_says_what_to_start(redis_broker):
    with pytest.raises(CommandError, match="is a worker running"):
        call_command("demo_study", "--prompts", "2", "--wait", "0.5")
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}
