from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from .models import (
    AssignmentStatus,
    CheckItem,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    RaterFlag,
    Study,
    Variant,
)


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
                ]
            },
        ),
        (
            "Crowd platforms",
            {
                "fields": [
                    "accepts_prolific",
                    "prolific_study_id",
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
                    "prompts__quality_assignments",
                    filter=Q(prompts__quality_assignments__status=AssignmentStatus.SUBMITTED),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="prompts", ordering="prompt_count")
    def prompt_count(self, study):
        return study.prompt_count

    @admin.display(description="ratings submitted (prompt × rater)", ordering="submitted")
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


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["prompt", "variant", "sample_index", "duration_s", "sample_rate"]
    list_filter = ["prompt__study", "variant"]
    readonly_fields = ["token", "checksum"]


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
    readonly_fields = ["token", "headphone_trials", "headphone_answers"]
    inlines = [RaterFlagInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                submitted=Count(
                    "quality_assignments", filter=Q(quality_assignments__status=AssignmentStatus.SUBMITTED)
                )
            )
        )

    @admin.display(description="items submitted", ordering="submitted")
    def submitted(self, rater):
        return rater.submitted

    @admin.display(description="invite link")
    def invite_link(self, rater):
        url = reverse("ratings:rater_home", args=[rater.token])
        return format_html('<a href="{}">{}</a>', url, url)


class QualityRatingInline(admin.TabularInline):
    model = QualityRating
    extra = 0
    can_delete = False
    readonly_fields = ["clip", "criterion", "score", "created_at"]


@admin.register(QualityAssignment)
class QualityAssignmentAdmin(admin.ModelAdmin):
    list_display = ["rater", "prompt", "status", "check_item", "check_passed", "holds_slot", "submitted_at"]
    list_filter = ["status", "prompt__study", "check_passed"]
    readonly_fields = ["token", "clip_order", "listening"]
    inlines = [QualityRatingInline]


@admin.register(DiversityComparison)
class DiversityComparisonAdmin(admin.ModelAdmin):
    list_display = ["prompt", "variant_x", "variant_y", "slots_taken"]
    list_filter = ["study"]


@admin.register(DiversityAssignment)
class DiversityAssignmentAdmin(admin.ModelAdmin):
    list_display = [
        "rater",
        "prompt",
        "variant_a",
        "variant_b",
        "choice",
        "status",
        "check_passed",
        "submitted_at",
    ]
    list_filter = ["status", "prompt__study"]
    readonly_fields = ["token", "clips_a", "clips_b", "listening"]


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

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
