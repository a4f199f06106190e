"""Model jobs: enqueued from a command, the API or the staff page, run by a real worker through Redis."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.jobs import PRETRAIN_PRESETS, JobParametersError, parse_parameters
from jobs import services
from jobs.models import GenerationJob, JobStatus
from jobs.tasks import run_job
from ratings.models import Clip, Study, Variant
from ratings.services import study_get_or_create
from tests.jobs.conftest import running_worker

# The staff page's form as a browser posts it, less the variant's own fields.
JOB_FORM = {"study": "jobs", "gamma": "1", "temperature": "1", "prompts": "4", "samples": "2", "seed": "0"}


def _stored_job(study, parameters, **fields):
    """A pregenerate job stored as job_enqueue stores it, left for the test to run."""
    return GenerationJob.objects.create(
        kind="pregenerate",
        study=study,
        variant_name="base",
        parameters=parse_parameters("pregenerate", parameters),
        **fields,
    )


def _wait_until_finished(job, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job.status} after {seconds} s: {job.progress_note}")


@pytest.mark.django_db(transaction=True)
def test_a_pregenerate_job_goes_through_redis_to_a_real_worker_and_files_the_clips(
    redis_broker, tiny_checkpoint
):
    study = study_get_or_create(slug="jobs")
    with running_worker(redis_broker):
        job, created = services.job_enqueue(
            kind="pregenerate",
            study=study,
            variant_name="cfg-2",
            parameters={"checkpoint": tiny_checkpoint, "gamma": 2, "prompts": 3, "samples": 2, "seed": 5},
        )
        assert created
        job = _wait_until_finished(job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.attempts == 1 and job.result["clips"] == 6
    variant = Variant.objects.get(study=study, name="cfg-2")
    assert variant.kind == Variant.Kind.CFG and variant.parameters["gamma"] == 2.0
    assert variant.provenance["job"] == str(job.pk) and variant.provenance["checkpoint"].endswith(
        tiny_checkpoint
    )
    clips = Clip.objects.filter(variant=variant)
    assert clips.count() == 6 and set(clips.values_list("sample_index", flat=True)) == {0, 1}
    assert all(clip.duration_s > 1 for clip in clips)


def test_tasks_named_generation_are_routed_to_the_gpu_queue(settings):
    from evalsite.celery import app

    assert app.amqp.router.route({}, "generation.run_job")["queue"].name == "gpu"
    assert app.amqp.router.route({}, "generation.pretrain")["queue"].name == "gpu"
    assert app.amqp.router.route({}, "ratings.anything")["queue"].name == "default"


def test_on_redis_a_long_running_job_is_not_handed_to_a_second_worker_after_an_hour():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, evalsite.settings as s; print(json.dumps(s.CELERY_BROKER_TRANSPORT_OPTIONS))",
        ],
        env={**os.environ, "CELERY_BROKER_URL": "redis://redis:6379/0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)["visibility_timeout"] >= 24 * 3600


@pytest.mark.django_db(transaction=True)
def test_enqueuing_the_same_variant_twice_while_active_is_one_job(redis_broker):
    study = study_get_or_create(slug="jobs")
    first, created = services.job_enqueue(kind="pregenerate", study=study, variant_name="base", parameters={})
    again, created_again = services.job_enqueue(
        kind="pregenerate", study=study, variant_name="base", parameters={}
    )
    assert created and not created_again and again.pk == first.pk
    assert GenerationJob.objects.count() == 1
    assert redis_broker.connection_for_write().default_channel.client.llen("gpu") == 1


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"gamma": -1}, "gamma must be between 0 and 10"),
        ({"gamma": "strong"}, "gamma must be a float"),
        ({"samples": 0}, "samples must be between 1 and 16"),
        ({"checkpoint": "../../etc/x.pt"}, "must be a .pt file name, not a path"),
        ({"steps": 3}, "unknown parameter"),
    ],
)
@pytest.mark.django_db
def test_bad_job_parameters_are_refused_and_nothing_is_stored(parameters, message):
    study = study_get_or_create(slug="jobs")
    with pytest.raises(services.JobRefused, match=message):
        services.job_enqueue(kind="pregenerate", study=study, variant_name="v", parameters=parameters)
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db
def test_a_variant_name_the_study_already_has_is_refused():
    study = study_get_or_create(slug="jobs")
    Variant.objects.create(study=study, name="taken")
    with pytest.raises(services.JobRefused, match="already has a variant 'taken'"):
        services.job_enqueue(kind="pregenerate", study=study, variant_name="taken", parameters={})
    with pytest.raises(services.JobRefused, match="needs a study and a variant name"):
        services.job_enqueue(kind="pregenerate", parameters={})


def test_pretrain_presets_named_for_the_web_process_are_the_trainers_presets():
    from generation.train import PRESETS

    assert set(PRETRAIN_PRESETS) == set(PRESETS)
    with pytest.raises(JobParametersError, match="preset must be one of"):
        parse_parameters("pretrain", {"preset": "huge"})


@pytest.mark.django_db
def test_a_job_runs_once_and_a_redelivered_run_of_the_same_task_may_finish_it(tiny_checkpoint):
    study = study_get_or_create(slug="jobs")
    job = _stored_job(
        study,
        {"checkpoint": tiny_checkpoint, "prompts": 2, "samples": 2},
        status=JobStatus.RUNNING,
        celery_task_id="first-run",
    )
    # Another task run while the first holds the job does nothing.
    assert (
        run_job.apply(args=[str(job.pk)], task_id="other-run").get()
        == "skipped: finished or held by another run"
    )
    # The first run, redelivered after its worker died, takes the job back and finishes it.
    assert run_job.apply(args=[str(job.pk)], task_id="first-run").get() == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert Clip.objects.filter(variant__name="base").count() == 4
    # Running it again once it succeeded changes nothing.
    assert run_job.apply(args=[str(job.pk)], task_id="first-run").get().startswith("skipped")
    assert Clip.objects.count() == 4


@pytest.mark.django_db
def test_a_failing_job_records_why_and_can_be_retried(django_capture_on_commit_callbacks, redis_broker):
    study = study_get_or_create(slug="jobs")
    job = GenerationJob.objects.create(
        kind="pregenerate",
        study=study,
        variant_name="v",
        parameters=parse_parameters("pregenerate", {"checkpoint": "missing.pt"}),
    )
    assert run_job.apply(args=[str(job.pk)]).get() == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "no checkpoint 'missing.pt'" in job.error
    assert not Variant.objects.filter(name="v").exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.job_retry(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.error == ""
    with pytest.raises(services.JobRefused, match="only a failed job can be retried"):
        services.job_retry(job=job)


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("researcher", password="x", is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_api_enqueues_follows_and_refuses(
    staff_client, client, redis_broker, django_capture_on_commit_callbacks
):
    study_get_or_create(slug="jobs")
    body = {"kind": "pregenerate", "study": "jobs", "variant_name": "t07", "parameters": {"temperature": 0.7}}
    with django_capture_on_commit_callbacks(execute=True):
        created = staff_client.post("/api/jobs/", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["status"] == "queued"
    job_id = created.json()["id"]
    assert staff_client.post("/api/jobs/", body, content_type="application/json").json()["id"] == job_id
    assert staff_client.get(f"/api/jobs/{job_id}/").json()["parameters"]["temperature"] == 0.7
    assert staff_client.get(f"/api/jobs/{uuid.uuid4()}/").status_code == 404
    assert staff_client.get("/api/jobs/not-a-job-id/").status_code == 404
    refused = staff_client.post(
        "/api/jobs/",
        {**body, "variant_name": "x", "parameters": {"gamma": 99}},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "gamma must be between 0 and 10" in refused.json()["detail"]
    huge = staff_client.post(  # JSON's 1e400 reads as an infinite float
        "/api/jobs/",
        '{"kind": "pregenerate", "study": "jobs", "variant_name": "y", "parameters": {"prompts": 1e400}}',
        content_type="application/json",
    )
    assert huge.status_code == 400 and "prompts must be a int, not inf" in huge.json()["detail"]
    client.logout()
    assert client.get("/api/jobs/").status_code in (401, 403)
    assert client.post("/api/jobs/", body, content_type="application/json").status_code in (401, 403)


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_jobs_api(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()
    assert "/api/jobs/" in schema["paths"] and "post" in schema["paths"]["/api/jobs/"]
    assert "/api/jobs/{id}/retry/" in schema["paths"]


@pytest.mark.django_db
def test_the_staff_jobs_page_enqueues_a_variant(
    staff_client, client, redis_broker, django_capture_on_commit_callbacks
):
    study_get_or_create(slug="jobs")
    form = {**JOB_FORM, "variant_name": "cfg-3", "checkpoint": "demo.pt", "gamma": "3"}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/staff/jobs/", form, follow=True)
    page = response.content.decode()
    assert "Enqueued" in page and "cfg-3" in page and 'http-equiv="refresh"' in page
    assert GenerationJob.objects.get().parameters["gamma"] == 3.0
    client.logout()
    assert client.get("/staff/jobs/").status_code == 302  # to the login page


@pytest.mark.django_db
def test_the_enqueue_command_prints_the_job_and_refuses_bad_parameters(capsys, redis_broker):
    call_command("enqueue_job", "pregenerate", "--study", "cmd", "--variant", "b", "--param", "gamma=1.5")
    job_id = capsys.readouterr().out.split("\t")[0]
    assert GenerationJob.objects.get(pk=job_id).parameters["gamma"] == 1.5
    with pytest.raises(CommandError, match="must be NAME=VALUE"):
        call_command("enqueue_job", "pregenerate", "--study", "cmd", "--variant", "c", "--param", "gamma")
    with pytest.raises(CommandError, match="prompts must be between 1 and 500"):
        call_command("enqueue_job", "pregenerate", "--study", "cmd", "--variant", "c", "--param", "prompts=0")


@pytest.mark.django_db
def test_a_refused_enqueue_command_creates_no_study():
    with pytest.raises(CommandError, match="gamma must be a float"):
        call_command("enqueue_job", "pregenerate", "--study", "new", "--variant", "v", "--param", "gamma=x")
    with pytest.raises(CommandError, match="needs a study and a variant name"):
        call_command("enqueue_job", "pregenerate", "--study", "new")
    assert not Study.objects.filter(slug="new").exists()


def test_variants_are_filed_by_what_made_their_checkpoint():
    from generation.jobs import checkpoint_kind
    from jobs.services import variant_kind_for

    distilled = {"train_config": {"objective": "diversity_rewarded_cfg_distillation", "beta": 0.0}}
    diverse = {"train_config": {"objective": "diversity_rewarded_cfg_distillation", "beta": 10.0}}
    merged = {"train_config": {"merge": {}}, "merge": {"lam": 0.5}}
    base = {"train_config": {"preset": "demo"}}
    assert [checkpoint_kind(c) for c in (distilled, diverse, merged, base)] == [
        "distilled",
        "diversity",
        "merged",
        "base",
    ]
    assert variant_kind_for({"gamma": 1.0}, "distilled") == "distilled"
    assert variant_kind_for({"gamma": 2.0}, "base") == "cfg"
    assert variant_kind_for({"gamma": 1.0, "temperature": 0.8}, "base") == "temperature"
    assert variant_kind_for({"gamma": 1.0, "temperature": 1.0}, "base") == "base"


@pytest.mark.django_db
def test_a_run_redelivered_after_the_clips_were_filed_finishes_without_filing_them_twice(tiny_checkpoint):
    study = study_get_or_create(slug="jobs")
    job = GenerationJob.objects.create(
        kind="pregenerate",
        study=study,
        variant_name="base",
        parameters=parse_parameters(
            "pregenerate", {"checkpoint": tiny_checkpoint, "prompts": 2, "samples": 2}
        ),
    )
    assert run_job.apply(args=[str(job.pk)], task_id="run-1").get() == "succeeded"
    # The worker died after filing the clips but before the job was marked done: redelivered.
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    assert run_job.apply(args=[str(job.pk)], task_id="run-1").get() == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result["clips"] == 4 and job.attempts == 2
    assert Clip.objects.filter(variant__study=study).count() == 4


def test_steering_and_switch_parameters_are_typed_and_checked():
    params = parse_parameters(
        "pregenerate", {"merge_with": "demo-diverse.pt", "lam": "0.25", "constrain": "false"}
    )
    assert (
        params["lam"] == 0.25 and params["constrain"] is False and params["merge_with"] == "demo-diverse.pt"
    )
    assert parse_parameters("pregenerate", {"constrain": "yes"})["constrain"] is True
    with pytest.raises(JobParametersError, match="constrain must be a bool"):
        parse_parameters("pregenerate", {"constrain": "maybe"})
    with pytest.raises(JobParametersError, match="lam must be between 0 and 1"):
        parse_parameters("pregenerate", {"merge_with": "demo-diverse.pt", "lam": 1.5})
    with pytest.raises(JobParametersError, match="not a path"):
        parse_parameters("pregenerate", {"merge_with": "../elsewhere.pt"})


def test_the_jobs_form_has_a_field_for_every_parameter_a_pregenerate_job_has():
    from dataclasses import fields

    from generation.jobs import PregenerateParams
    from jobs.forms import PregenerateForm

    assert set(PregenerateForm.base_fields) - {"study", "variant_name"} == {
        field.name for field in fields(PregenerateParams)
    }


@pytest.mark.django_db
def test_the_staff_jobs_page_sets_merge_constrain_and_lam_and_shows_parameters_as_json(
    staff_client, redis_broker, django_capture_on_commit_callbacks
):
    study_get_or_create(slug="jobs")
    form = {
        **JOB_FORM,
        "variant_name": "lerp-50",
        "checkpoint": "demo-distilled.pt",
        "merge_with": "demo-diverse.pt",
        "lam": "0.5",
        "constrain": "on",
    }
    with django_capture_on_commit_callbacks(execute=True):
        page = staff_client.post("/staff/jobs/", form, follow=True).content.decode()
    parameters = GenerationJob.objects.get().parameters
    assert parameters["merge_with"] == "demo-diverse.pt" and parameters["lam"] == 0.5
    assert parameters["constrain"] is True
    assert "&quot;constrain&quot;: true" in page and "&quot;lam&quot;: 0.5" in page
    assert "{&#x27;" not in page  # no Python dict


@pytest.mark.parametrize("missing", ["checkpoint", "merge_with"])
@pytest.mark.django_db
def test_a_checkpoint_that_does_not_exist_is_refused_at_enqueue_and_nothing_is_stored(missing, staff_client):
    study = study_get_or_create(slug="jobs")
    parameters = {"checkpoint": "demo.pt", "merge_with": "demo-diverse.pt", missing: "nowhere.pt"}
    with pytest.raises(services.JobRefused, match=r"^no checkpoint 'nowhere.pt' in .*"):
        services.job_enqueue(kind="pregenerate", study=study, variant_name="v", parameters=parameters)
    form = {**JOB_FORM, "variant_name": "v", "lam": "0.5", **parameters}
    page = staff_client.post("/staff/jobs/", form).content.decode()
    assert "no checkpoint &#x27;nowhere.pt&#x27;" in page
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db
def test_pregenerating_into_a_study_with_prompts_renders_that_studys_own_prompts(tiny_checkpoint):
    from ratings.models import Prompt

    study = study_get_or_create(slug="jobs")
    Prompt.objects.create(study=study, external_id="rock-1", text="Rock song")
    Prompt.objects.create(study=study, external_id="calm-2", text="Calm solo piano")
    job = _stored_job(study, {"checkpoint": tiny_checkpoint, "prompts": 5, "samples": 1})
    assert run_job.apply(args=[str(job.pk)]).get() == "succeeded"
    assert sorted(study.prompts.values_list("external_id", flat=True)) == ["calm-2", "rock-1"]
    clips = Clip.objects.filter(variant__name="base")
    assert sorted(clips.values_list("prompt__external_id", flat=True)) == ["calm-2", "rock-1"]
