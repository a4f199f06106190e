"""The Celery task behind every model job: thin, routed to the gpu queue; torch loads inside it."""

import traceback

from celery import shared_task
from django.conf import settings

from . import services
from .models import GenerationJob


@shared_task(bind=True, name="generation.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: str) -> str:
    job = services.job_start(job_id=job_id, task_id=self.request.id or "eager")
    if job is None:
        return "skipped: finished or held by another run"
    from generation.jobs import RUNNERS

    work_dir = services.job_work_dir(job)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        extra = (
            {"study_prompts": services.job_study_prompts(job)}
            if job.kind == GenerationJob.Kind.PREGENERATE
            else {}
        )
        result = RUNNERS[job.kind](
            job.parameters,
            work_dir,
            settings.COUNTERPOINT["RUNS_DIR"],
            job.variant_name,
            lambda fraction, note: services.job_progress(job=job, fraction=fraction, note=note),
            **extra,
        )
        if job.kind == GenerationJob.Kind.PREGENERATE:
            services.job_progress(job=job, fraction=0.95, note="importing clips into the study")
            result.update(services.job_import_clips(job=job, manifest=result["manifest"], result=result))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job, with its cause
        services.job_fail(job=job, error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
        return "failed"
    services.job_succeed(job=job, result=result)
    return "succeeded"
