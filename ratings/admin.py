from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from . import selectors, services
from .kinds import KINDS, kind_of
from .models import (
    CheckItem,
    Clip,
    DiversityComparison,
    Prompt,
    Rater,
    RaterFlag,
    Study,
    Task,
    TaskStatus,
    Variant,
)

# Slot counters, statuses and slot holding change only through the services (the actions below), which
# keep them consistent with each other; the admin shows them.


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "title",
        "raters_per_prompt",
        "is_open",
        "prompt_count",
        "submitted",
        "target",
        "dashboard",
    ]
    search_fields = ["slug", "title"]
    fieldsets = [
        (
            None,
            {"fields": ["slug", "title", "raters_per_prompt", "is_open", "quality_part", "diversity_part"]},
        ),
        ("Before the first task", {"fields": ["onboarding_required", "consent_text", "instructions"]}),
        (
            "Rater quality control",
            {
                "fields": [
                    "attention_rate",
                    "attention_failures_allowed",
                    "straightlining_min_variance",
                    "min_completed_items",
                    "min_task_seconds",
                    "claim_timeout_minutes",
                ]
            },
        ),
        (
            "Crowd platforms",
            {
                "fields": [
                    "accepts_prolific",
                    "prolific_study_id",
                    "session_minutes",
                    "max_items_per_rater",
                    "completion_code",
                    "screened_out_code",
                    "completion_url",
                ]
            },
        ),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "completion_url":
            kwargs["assume_scheme"] = "https"  # a crowd platform's page: never plain http
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="dashboard")
    def dashboard(self, study):
        url = reverse("ratings:study_dashboard", args=[study.slug])
        return format_html('<a href="{}">open</a>', url)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                prompt_count=Count("prompts", distinct=True),
                submitted=Count(
                    "prompts__tasks",
                    filter=Q(
                        prompts__tasks__status=TaskStatus.SUBMITTED, prompts__tasks__check_item__isnull=True
                    ),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="prompts", ordering="prompt_count")
    def prompt_count(self, study):
        return study.prompt_count

    @admin.display(description="tasks submitted (item × rater)", ordering="submitted")
    def submitted(self, study):
        return study.submitted

    @admin.display(description="target")
    def target(self, study):
        return study.prompt_count * study.raters_per_prompt


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["name", "study", "kind"]
    list_filter = ["study", "kind"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["external_id", "study", "text", "quality_slots_taken"]
    list_filter = ["study"]
    search_fields = ["external_id", "text"]
    readonly_fields = ["quality_slots_taken"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    """Clips are shown, never added or changed here: a clip is its imported file (clips_import), ratings
    already given name it, and the rater's requests keep clips read once per process
    (ratings/clip_rows.py). Django then shows each clip's page read-only. Deleting stays allowed, as
    deleting a study, a prompt or a variant deletes their clips (the admin asks for that permission);
    a deleted clip's id is never given to another clip, so a row kept elsewhere stands for no other."""

    list_display = ["prompt", "variant", "sample_index", "duration_s", "sample_rate"]
    list_filter = ["prompt__study", "variant"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RaterFlagInline(admin.TabularInline):
    model = RaterFlag
    extra = 0
    can_delete = False
    readonly_fields = ["reason", "detail", "active", "created_at", "lifted_at", "lifted_by"]


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["external_id", "study", "source", "submitted", "invite_link", "created_at"]
    list_filter = ["study", "source", "headphone_passed"]
    search_fields = ["external_id"]
    readonly_fields = ["token", "excluded", "headphone_trials", "headphone_answers"]
    inlines = [RaterFlagInline]
    actions = ["exclude_raters"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(submitted=Count("tasks", filter=Q(tasks__status=TaskStatus.SUBMITTED)))
        )

    @admin.action(description="Exclude the selected raters (a manual flag; their items go back to the pool)")
    def exclude_raters(self, request, queryset):
        for rater in queryset:
            services.rater_flag(
                rater=rater,
                reason=RaterFlag.Reason.MANUAL,
                detail=f"excluded by {request.user.get_username()}",
            )
        self.message_user(request, f"Excluded {queryset.count()} rater(s).")

    @admin.display(description="items submitted", ordering="submitted")
    def submitted(self, rater):
        return rater.submitted

    @admin.display(description="invite link")
    def invite_link(self, rater):
        url = reverse("ratings:rater_home", args=[rater.token])
        return format_html('<a href="{}">{}</a>', url, url)


def _answer_inline(model) -> type[admin.TabularInline]:
    """A read-only inline of a kind's answer (its detail_model beside the task)."""
    return type(
        f"{model.__name__}Inline",
        (admin.TabularInline,),
        {
            "model": model,
            "extra": 0,
            "can_delete": False,
            "readonly_fields": [f.name for f in model._meta.fields if f.name != "task"],
            "has_add_permission": lambda self, request, obj=None: False,
        },
    )


ANSWER_INLINES = {name: _answer_inline(kind.detail_model) for name, kind in KINDS.items()}


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Tasks of every kind, their answer beside them; re-opening goes through the service."""

    list_display = [
        "rater",
        "kind",
        "prompt",
        "status",
        "check_item",
        "check_passed",
        "holds_slot",
        "submitted_at",
    ]
    list_filter = ["kind", "status", "prompt__study", "check_passed"]
    readonly_fields = [
        "rater",
        "kind",
        "prompt",
        "comparison",
        "token",
        "clips",
        "status",
        "listening",
        "audio_served",
        "created_at",
        "shown_at",
        "expired_at",
        "submitted_at",
        "holds_slot",
        "check_item",
        "check_passed",
    ]
    actions = ["reopen"]

    def get_inlines(self, request, obj):
        return [ANSWER_INLINES[obj.kind]] if obj is not None else []

    @admin.display(description="audio served (server's evidence)")
    def audio_served(self, obj: Task) -> str:
        served = selectors.task_served(obj)
        return ", ".join(f"{label} {served.get(label, 0.0):.0%}" for label in kind_of(obj.kind).labels(obj))

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-open the selected open tasks (withdrawn; the slot goes back to the pool)")
    def reopen(self, request, queryset):
        reopened = sum(services.task_reopen(task=task) for task in queryset.filter(status=TaskStatus.OPEN))
        self.message_user(request, f"Re-opened {reopened} task(s).")


@admin.register(DiversityComparison)
class DiversityComparisonAdmin(admin.ModelAdmin):
    list_display = ["prompt", "variant_x", "variant_y", "slots_taken"]
    list_filter = ["study"]
    readonly_fields = ["slots_taken"]


@admin.register(CheckItem)
class CheckItemAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "kind", "source", "prompt", "expected", "note"]
    list_filter = ["study", "kind", "source"]


@admin.register(RaterFlag)
class RaterFlagAdmin(admin.ModelAdmin):
    """Flags are lifted on the study dashboard (which gives the rater's items back); here they are read."""

    list_display = ["rater", "reason", "detail", "active", "created_at", "lifted_at", "lifted_by"]
    list_filter = ["rater__study", "reason", "active"]
    readonly_fields = ["rater", "reason", "detail", "active", "created_at", "lifted_at", "lifted_by"]
    actions = ["lift"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Lift the selected flags (the rater counts again if no other flag is active)")
    def lift(self, request, queryset):
        for flag in queryset.filter(active=True):
            services.rater_flag_lift(flag=flag, by=request.user.get_username())
        self.message_user(request, "Lifted the selected active flags.")
