"""Jobs a researcher enqueues for the GPU workers: train a base model, pre-generate a variant's clips."""

import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class GenerationJob(models.Model):
    class Kind(models.TextChoices):
        PREGENERATE = "pregenerate", "Pre-generate a variant's clips into a study"
        PRETRAIN = "pretrain", "Train a base model"

    # A random id: a tampered or guessed id finds nothing.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    study = models.ForeignKey(
        "ratings.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="generation_jobs"
    )
    variant_name = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    progress_note = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Enqueuing the same variant twice while it is being made is one job, not two.
            models.UniqueConstraint(
                fields=["study", "variant_name"],
                condition=Q(status__in=["queued", "running"], kind="pregenerate"),
                name="one_active_pregenerate_job_per_study_variant",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0.0, progress__lte=1.0), name="job_progress_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        target = (
            f"{self.study.slug}/{self.variant_name}" if self.study_id else self.parameters.get("preset", "")
        )
        return f"{self.kind} {target} ({self.status})"

    @property
    def parameters_json(self) -> str:
        return json.dumps(self.parameters, indent=1, sort_keys=True, ensure_ascii=False)
