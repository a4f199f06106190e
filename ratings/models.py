"""Listening studies: what is rated, by whom, and the ratings. Invariants live in the database."""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Study(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200, blank=True)
    raters_per_prompt = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Distinct raters each prompt must reach (N)."
    )
    instructions = models.TextField(
        blank=True,
        default=(
            "Put on headphones. For each clip, listen to the end, then rate its acoustic quality, how well it "
            "matches the text, and its musicality on a 1 (Bad) to 5 (Excellent) scale."
        ),
    )
    is_open = models.BooleanField(default=True, help_text="Raters can take new work.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.slug


class Variant(models.Model):
    """A model variant: the base model, CFG at some strength, a finetune, a merge, or an external model."""

    class Kind(models.TextChoices):
        BASE = "base", "Base model"
        CFG = "cfg", "Base model with CFG"
        DISTILLED = "distilled", "CFG-distilled (β=0)"
        DIVERSITY = "diversity", "Diversity-rewarded (β>0)"
        MERGED = "merged", "Weight-merged (λ)"
        TEMPERATURE = "temperature", "Base model at a temperature"
        EXTERNAL = "external", "Imported from elsewhere"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXTERNAL)
    parameters = models.JSONField(default=dict, blank=True, help_text="γ, β, λ, temperature, seed…")
    provenance = models.JSONField(default=dict, blank=True, help_text="Checkpoint, parents, manifest…")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="unique_variant_name_per_study")
        ]
        ordering = ["study", "name"]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.name}"


class Prompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=100, help_text="The manifest's prompt_id.")
    text = models.TextField()
    # Raters holding an open or submitted quality assignment. Claimed with a conditional UPDATE so
    # concurrent raters can never push it past the study's N (see services.quality_assignment_next).
    quality_slots_taken = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="unique_prompt_id_per_study"),
        ]
        ordering = ["study", "id"]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.external_id}"


def clip_upload_path(clip: "Clip", filename: str) -> str:
    return f"clips/{clip.prompt.study.slug}/{clip.token}{_suffix(filename)}"


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot != -1 else ""


class Clip(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="clips")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="clips")
    sample_index = models.PositiveIntegerField(default=0)
    audio = models.FileField(upload_to=clip_upload_path, max_length=300)
    # Raters fetch audio by this token alone: it reveals neither the variant nor the file name.
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    duration_s = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the audio file.")
    source_path = models.CharField(max_length=500, blank=True, help_text="Path in the imported manifest.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "variant", "sample_index"], name="unique_clip_per_prompt_variant_sample"
            ),
        ]
        ordering = ["prompt", "variant", "sample_index"]

    def __str__(self) -> str:
        return f"{self.prompt} · {self.variant.name} #{self.sample_index}"


class Rater(models.Model):
    """A rater of one study, known by a secret invite token (staff use Django auth instead)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="raters")
    external_id = models.CharField(max_length=100, help_text="The rater_id in exports.")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="unique_rater_id_per_study"),
        ]
        ordering = ["study", "id"]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.external_id}"


class AssignmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUBMITTED = "submitted", "Submitted"


class QualityAssignment(models.Model):
    """One rater, one prompt, all of the prompt's clips in an order fixed when it was made."""

    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="quality_assignments")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="quality_assignments")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    clip_order = models.JSONField(help_text="Clip ids in the order shown, labelled A, B, C…")
    status = models.CharField(max_length=10, choices=AssignmentStatus.choices, default=AssignmentStatus.OPEN)
    listening = models.JSONField(
        default=dict, blank=True, help_text="Per clip label: plays, seconds played, played to the end."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rater", "prompt"], name="one_quality_assignment_per_rater_prompt"
            ),
            models.UniqueConstraint(
                fields=["rater"], condition=Q(status="open"), name="one_open_quality_assignment_per_rater"
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.rater} → {self.prompt.external_id} ({self.status})"


class Criterion(models.TextChoices):
    ACOUSTIC_QUALITY = "acoustic_quality", "Acoustic quality"
    TEXT_ADHERENCE = "text_adherence", "Text adherence"
    MUSICALITY = "musicality", "Musicality"


# The absolute category rating labels of the 1–5 scales.
ACR_LABELS = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}


class QualityRating(models.Model):
    assignment = models.ForeignKey(QualityAssignment, on_delete=models.CASCADE, related_name="ratings")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="quality_ratings")
    criterion = models.CharField(max_length=20, choices=Criterion.choices)
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "clip", "criterion"], name="one_rating_per_assignment_clip_criterion"
            ),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="quality_score_1_to_5"),
        ]
        ordering = ["assignment", "clip", "criterion"]

    def __str__(self) -> str:
        return f"{self.assignment} · {self.clip_id} {self.criterion}={self.score}"
