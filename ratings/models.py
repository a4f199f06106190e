"""Listening studies: what is rated, by whom, and the ratings. Invariants live in the database."""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from formats import CRITERIA


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

    quality_part = models.BooleanField(
        default=True, help_text="Raters rate clips on the three 1–5 scales (off for a diversity-only study)."
    )
    diversity_part = models.BooleanField(
        default=False, help_text="Raters compare pairs; turned on when diversity comparisons are planned."
    )
    # Before the first task. Off by default so that an invite link leads straight to the tasks.
    onboarding_required = models.BooleanField(
        default=False,
        help_text="Raters give consent, read the instructions and pass a headphone check first.",
    )
    consent_text = models.TextField(
        blank=True,
        default=(
            "You are invited to take part in a listening study of computer-generated music. You will listen "
            "to short clips and answer questions about them. Your answers are stored with an anonymous id "
            "and used for research only. You may stop at any time."
        ),
    )
    # Rater quality control (docs/ratings-qc.md).
    attention_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Attention items per ordinary item (0 = none, 0.1 = one in ten).",
    )
    attention_failures_allowed = models.PositiveSmallIntegerField(
        default=1,
        help_text="Failed attention or gold items a rater may have before being excluded (one miss is forgiven).",
    )
    straightlining_min_variance = models.FloatField(
        default=0.25, help_text="A rater whose scores vary less than this (population variance) is flagged."
    )
    min_completed_items = models.PositiveSmallIntegerField(
        default=3,
        help_text="Raters with fewer submitted items are flagged, and straight-lining needs this many to judge.",
    )
    # Crowd platforms.
    accepts_prolific = models.BooleanField(
        "accepts Prolific raters",
        default=False,
        # The admin renders help text as HTML: a literal <slug> would vanish as an unknown tag.
        help_text="Anonymous raters may join through /p/STUDY-SLUG/?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=…",
    )
    prolific_study_id = models.CharField(
        max_length=100, blank=True, help_text="If set, only this STUDY_ID is accepted."
    )
    session_minutes = models.PositiveSmallIntegerField(
        default=20,
        help_text=(
            "Minutes of listening in one rater's session: the session's items are these minutes over an "
            "item's listening time (its clips' durations). Ignored when max_items_per_rater is set; 0 = no limit."
        ),
    )
    max_items_per_rater = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most items one rater is given (attention items included)."
    )
    # Rater integrity (docs/ratings-qc.md).
    claim_timeout_minutes = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="An item not submitted this many minutes after it was handed out goes back to the pool.",
    )
    min_task_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Least seconds between an item's page first being shown and its answer; empty = the "
        "clips' total duration × the listened fraction (0.9).",
    )
    completion_code = models.CharField(max_length=100, blank=True, help_text="Shown when a rater finishes.")
    screened_out_code = models.CharField(
        max_length=100,
        blank=True,
        help_text="Shown instead to a rater screened out (failed headphone check or excluded), so the "
        "platform can tell them apart from those who finished.",
    )
    completion_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where a finished rater is sent; {code} is replaced by the code.",
    )

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.slug

    def completion_link(self, code: str) -> str:
        """Where a rater who got ``code`` is sent back to (completion_url with {code} filled in), or ""."""
        return self.completion_url.replace("{code}", code) if code and self.completion_url else ""


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
    # Raters holding an open or submitted quality task. Claimed with a conditional UPDATE so
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

    class Source(models.TextChoices):
        INVITE = "invite", "Invite link"
        PROLIFIC = "prolific", "Prolific"
        IMPORTED = "imported", "Imported ratings"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="raters")
    external_id = models.CharField(max_length=100, help_text="The rater_id in exports (the Prolific PID).")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.INVITE)
    platform_study_id = models.CharField(max_length=100, blank=True, help_text="Prolific STUDY_ID.")
    platform_session_id = models.CharField(max_length=100, blank=True, help_text="Prolific SESSION_ID.")
    consented_at = models.DateTimeField(null=True, blank=True)
    instructions_read_at = models.DateTimeField(null=True, blank=True)
    # The headphone check: per trial, the position of the quieter tone and of the antiphase one.
    headphone_trials = models.JSONField(default=list, blank=True)
    headphone_answers = models.JSONField(default=list, blank=True)
    headphone_passed = models.BooleanField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Whether the rater has an active RaterFlag, kept in step by the services so that every request
    # knows it from the rater's row alone.
    excluded = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="unique_rater_id_per_study"),
        ]
        ordering = ["study", "id"]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.external_id}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUBMITTED = "submitted", "Submitted"
    # Re-opened by a researcher or left by an excluded rater before submitting: kept, never counted.
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Not submitted within the study's claim timeout: its slot went back to the pool. A late answer is
    # still stored (the task becomes submitted) while the slot is free.
    EXPIRED = "expired", "Expired"


class CheckItem(models.Model):
    """An item with a known right answer: an attention item made by the platform, or a researcher's gold item.

    A rater meets it as an ordinary task whose ``check_item`` points here; its answers are kept with
    the task and never enter the exported ratings.
    """

    class Source(models.TextChoices):
        ATTENTION = "attention", "Attention item (made by the platform)"
        GOLD = "gold", "Gold item (made by a researcher)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="check_items")
    kind = models.CharField(max_length=20, help_text="A task kind of ratings/kinds/: quality, diversity.")
    source = models.CharField(max_length=10, choices=Source.choices)
    prompt = models.ForeignKey("Prompt", on_delete=models.CASCADE, related_name="+", help_text="Shown text.")
    clips = models.JSONField(help_text='Quality: [clip id, …]. Diversity: {"A": [id, id], "B": [id, id]}.')
    expected = models.JSONField(
        help_text='Quality: {criterion: [low, high]} for every clip. Diversity: {"choice": [low, high]}.'
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]

    def __str__(self) -> str:
        return f"{self.study.slug} {self.source} {self.kind} #{self.pk}"


# The criteria of the 1–5 scales, as model choices: Criterion.TEXT_ADHERENCE == "text_adherence".
Criterion = models.TextChoices(
    "Criterion", [(name.upper(), (name, label)) for name, label in CRITERIA.items()]
)


class DiversityComparison(models.Model):
    """One prompt and two variants, planned for the diversity study; judged by the study's N raters."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="diversity_comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="diversity_comparisons")
    variant_x = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    variant_y = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    # Raters holding an open or submitted task; claimed like Prompt.quality_slots_taken.
    slots_taken = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "variant_x", "variant_y"], name="one_comparison_per_prompt_variant_pair"
            ),
            models.CheckConstraint(
                condition=Q(variant_x__lt=F("variant_y")), name="comparison_variants_ordered"
            ),
        ]
        ordering = ["study", "prompt", "variant_x", "variant_y"]

    def __str__(self) -> str:
        return f"{self.prompt} · {self.variant_x.name} vs {self.variant_y.name}"


class Task(models.Model):
    """One rater, one item of some kind (ratings/kinds/): what every kind shares.

    The kind's detail lives beside it: the quality ratings (QualityRating), the diversity answer
    (DiversityJudgement). One table for every kind, so "one open task per rater" is one partial unique
    index, whatever the kinds.
    """

    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=20, help_text="A task kind of ratings/kinds/: quality, diversity.")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    # The planned diversity comparison whose slot the task holds; null for the other kinds and for checks.
    comparison = models.ForeignKey(
        DiversityComparison, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    clips = models.JSONField(
        default=list, help_text="Clip ids in the order shown; the kind names the positions (A, B… or A1…B2)."
    )
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    listening = models.JSONField(
        default=dict, blank=True, help_text="Per clip label: plays, seconds played, played to the end."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When its page was first shown: the wall-time rule of the server's listening evidence counts from here.
    shown_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Whether this task counts toward its prompt's or comparison's N (not while its rater is excluded).
    holds_slot = models.BooleanField(default=True)
    check_item = models.ForeignKey(
        CheckItem, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    check_passed = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rater"], condition=Q(status="open"), name="one_open_task_per_rater"
            ),
            # A rater meets a prompt once in the quality study (checks included: they show a prompt's text).
            models.UniqueConstraint(
                fields=["rater", "prompt"],
                condition=Q(kind="quality"),
                name="one_quality_task_per_rater_prompt",
            ),
            models.UniqueConstraint(fields=["rater", "comparison"], name="one_task_per_rater_comparison"),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="task_kind_status")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.rater} → {self.prompt.external_id} {self.kind} ({self.status})"


class AudioRequest(models.Model):
    """A request for the audio at one position of a task, as Django authorised it: the byte range
    asked for and the one served (none for HEAD or a refused range; an excluded rater's requests are
    refused before anything is kept), at its first
    time. Repeats of the same request (a replay asks for bytes=0- again) add no row, so a task keeps
    one row per position and range it asked for, however often it plays. Never changed: the server's
    listening evidence is the union of the served ranges."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="audio_requests")
    label = models.CharField(max_length=8)
    method = models.CharField(max_length=8)
    range_header = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(help_text="Bytes of the file at this position.")
    served_start = models.PositiveIntegerField(null=True, blank=True)
    served_end = models.PositiveIntegerField(null=True, blank=True, help_text="Last byte served, inclusive.")
    at = models.DateTimeField()

    class Meta:
        # The unique constraint's index, led by task and label, also serves every read by task (and
        # label): no second index to write on each audio request.
        constraints = [
            models.UniqueConstraint(
                fields=["task", "label", "method", "range_header", "size"], name="audio_request_once"
            )
        ]
        ordering = ["task", "at", "id"]

    def __str__(self) -> str:
        return f"{self.task_id} {self.label} {self.method} {self.range_header or 'whole'}"


class DiversityJudgement(models.Model):
    """The answer of a submitted diversity task: which pair was more diverse (negative favours A)."""

    task = models.OneToOneField(Task, primary_key=True, on_delete=models.CASCADE, related_name="judgement")
    variant_a = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="+", help_text="Heard as pair A."
    )
    variant_b = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="+", help_text="Heard as pair B."
    )
    choice = models.SmallIntegerField(help_text="−2 A much more diverse … +2 B much more.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(choice__gte=-2, choice__lte=2), name="diversity_choice_in_scale"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} choice={self.choice}"


class QualityRating(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="ratings")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="quality_ratings")
    criterion = models.CharField(max_length=20, choices=Criterion.choices)
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task", "clip", "criterion"], name="one_rating_per_task_clip_criterion"
            ),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="quality_score_1_to_5"),
        ]
        ordering = ["task", "clip", "criterion"]

    def __str__(self) -> str:
        return f"{self.task} · {self.clip_id} {self.criterion}={self.score}"


class RaterFlag(models.Model):
    """Why a rater is excluded. Reversible: lifting keeps the record and lets the rater count again."""

    class Reason(models.TextChoices):
        ATTENTION = "attention", "Failed attention items"
        STRAIGHT_LINING = "straight_lining", "Straight-lining"
        TOO_FAST = "too_fast", "Implausibly fast"
        TOO_FEW_ITEMS = "too_few_items", "Too few completed items"
        MANUAL = "manual", "Excluded by a researcher"

    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=300)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            # Screening runs again and again: one flag per rater and reason, lifted or not.
            models.UniqueConstraint(fields=["rater", "reason"], name="one_flag_per_rater_reason"),
        ]
        ordering = ["rater", "created_at"]

    def __str__(self) -> str:
        return f"{self.rater} {self.reason} ({'active' if self.active else 'lifted'})"
