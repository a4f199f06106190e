"""A launch is one run of a study recipe; its steps are the plan's units of work, keyed by what makes them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class LaunchStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    RUNNING = "running", "Running"
    OPEN = "open", "Open for raters"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class StudyLaunch(models.Model):
    # A random id: a tampered or guessed id finds nothing.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study_slug = models.SlugField(max_length=50)
    recipe_text = models.TextField(help_text="The recipe as given (YAML).")
    recipe = models.JSONField(help_text="The recipe as parsed, for the record.")
    cost = models.JSONField(default=dict, help_text="Estimated worker minutes and clips.")
    status = models.CharField(max_length=10, choices=LaunchStatus.choices, default=LaunchStatus.PLANNED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the workflow was last sent.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live launch per study: a second launch of a study being made is refused.
            models.UniqueConstraint(
                fields=["study_slug"],
                condition=Q(status__in=["planned", "running"]),
                name="one_live_launch_per_study",
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_slug} ({self.status})"


class LaunchStep(models.Model):
    launch = models.ForeignKey(StudyLaunch, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=40, help_text="Hash of the step's kind, parameters and inputs.")
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    inputs = models.JSONField(default=list, help_text="Keys of the steps whose outputs it uses.")
    queue = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    progress = models.FloatField(default=0.0)
    note = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["launch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["launch", "key"], name="one_step_per_key_per_launch"),
            models.CheckConstraint(
                condition=Q(progress__gte=0.0, progress__lte=1.0), name="step_progress_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
