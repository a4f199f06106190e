"""Every write of model jobs: enqueue, claim, report progress, finish. Workers call these too."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from formats import validation
from generation.jobs import JobParametersError, parse_parameters, resolve_checkpoint
from ratings import services as ratings_services
from ratings.models import Study, Variant

from .models import ACTIVE, GenerationJob, JobStatus


class JobRefused(ValueError):
    """A job the platform will not enqueue; the message says why."""


def variant_kind_for(parameters: dict[str, Any], checkpoint_kind: str) -> str:
    """How a pre-generated variant is filed: by its checkpoint (distilled, diversity, merged), else CFG
    when γ≠1, a temperature baseline when T≠1, else the base model."""
    if checkpoint_kind in (Variant.Kind.DISTILLED, Variant.Kind.DIVERSITY, Variant.Kind.MERGED):
        return checkpoint_kind
    if parameters.get("gamma", 1.0) != 1.0:
        return Variant.Kind.CFG
    if parameters.get("temperature", 1.0) != 1.0:
        return Variant.Kind.TEMPERATURE
    return Variant.Kind.BASE


def job_enqueue(
    *,
    kind: str,
    parameters: dict[str, Any],
    study: Study | None = None,
    variant_name: str = "",
    created_by=None,
) -> tuple[GenerationJob, bool]:
    """Store a job and send it to the gpu queue once the row is committed; (job, created).

    Enqueuing a variant that already has an active job returns that job (safe to run twice).
    """
    from .tasks import run_job

    try:
        checked = parse_parameters(kind, parameters)
        if kind == GenerationJob.Kind.PREGENERATE:  # a missing file would only fail on the worker
            for name in filter(None, (checked["checkpoint"], checked["merge_with"])):
                resolve_checkpoint(name, Path(settings.COUNTERPOINT["RUNS_DIR"]))
    except JobParametersError as exc:
        raise JobRefused(str(exc)) from None
    if kind == GenerationJob.Kind.PREGENERATE:
        if study is None or not variant_name:
            raise JobRefused("a pregenerate job needs a study and a variant name")
        if any(character in variant_name for character in "/\\,") or variant_name.strip() != variant_name:
            raise JobRefused(f"variant name {variant_name!r} must have no '/', '\\\\', ',' or outer spaces")
        try:
            validation.identifier(variant_name, name="variant name")
        except validation.Invalid as exc:
            raise JobRefused(str(exc)) from None
        if study.variants.filter(name=variant_name).exists():
            raise JobRefused(
                f"study {study.slug} already has a variant {variant_name!r}; choose another name"
            )
    try:
        with transaction.atomic():
            job = GenerationJob.objects.create(
                kind=kind, parameters=checked, study=study, variant_name=variant_name, created_by=created_by
            )
            transaction.on_commit(lambda: run_job.delay(str(job.pk)))
    except IntegrityError:
        existing = GenerationJob.objects.filter(
            study=study, variant_name=variant_name, status__in=ACTIVE
        ).first()
        if existing is None:
            raise
        return existing, False
    return job, True


def job_start(*, job_id: str, task_id: str) -> GenerationJob | None:
    """Claim a job for this task run, or None when it is finished or another live run holds it.

    A run redelivered after its worker died carries the same task id and may take the job back.
    """
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, celery_task_id=task_id)
    claimed = GenerationJob.objects.filter(claimable, pk=job_id).update(
        status=JobStatus.RUNNING,
        celery_task_id=task_id,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        progress=0.0,
        error="",
    )
    return GenerationJob.objects.get(pk=job_id) if claimed else None


def job_progress(*, job: GenerationJob, fraction: float, note: str) -> None:
    GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        progress=min(max(fraction, 0.0), 1.0), progress_note=note[:200]
    )


def job_succeed(*, job: GenerationJob, result: dict[str, Any]) -> None:
    GenerationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        progress_note="done",
        result=result,
        finished_at=timezone.now(),
    )


def job_fail(*, job: GenerationJob, error: str) -> None:
    GenerationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    )


def job_retry(*, job: GenerationJob) -> GenerationJob:
    """Send a failed job to the queue again."""
    from .tasks import run_job

    with transaction.atomic():
        if not GenerationJob.objects.filter(pk=job.pk, status=JobStatus.FAILED).update(
            status=JobStatus.QUEUED, progress=0.0, progress_note="", error="", celery_task_id=""
        ):
            raise JobRefused(f"job {job.pk} is {job.status}; only a failed job can be retried")
        transaction.on_commit(lambda: run_job.delay(str(job.pk)))
    job.refresh_from_db()
    return job


def job_work_dir(job: GenerationJob) -> Path:
    return Path(settings.COUNTERPOINT["RUNS_DIR"]) / "jobs" / str(job.pk)


def job_study_prompts(job: GenerationJob) -> list[tuple[str, str]]:
    """The (prompt_id, text) of the prompts the job's study already has, which its clips must render."""
    return list(job.study.prompts.order_by("id").values_list("external_id", "text")) if job.study_id else []


def job_import_clips(*, job: GenerationJob, manifest: Path, result: dict[str, Any]) -> dict[str, Any]:
    """File a pre-generated variant's clips in the job's study, recording what made them.

    A run redelivered after its worker died between filing the clips and marking the job done finds
    the variant this job made and files nothing twice.
    """
    made = Variant.objects.filter(study=job.study, name=job.variant_name, provenance__job=str(job.pk)).first()
    if made is not None:
        return {"clips": made.clips.count(), "prompts_created": 0}
    imported = ratings_services.clips_import(
        study_slug=job.study.slug,
        manifest=manifest,
        variant_kind=variant_kind_for(job.parameters, result.get("checkpoint_kind", "base")),
        variant_parameters=job.parameters,
        variant_provenance={"job": str(job.pk), **result},
    )
    return {"clips": imported.clips_created, "prompts_created": imported.prompts_created}
