from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from .models import AssignmentStatus, Clip, Prompt, QualityAssignment, QualityRating, Rater, Study, Variant


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "raters_per_prompt", "is_open", "prompt_count", "submitted", "target"]
    search_fields = ["slug", "title"]

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


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["external_id", "study", "submitted", "invite_link", "created_at"]
    list_filter = ["study"]
    search_fields = ["external_id"]
    readonly_fields = ["token"]

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
    list_display = ["rater", "prompt", "status", "created_at", "submitted_at"]
    list_filter = ["status", "prompt__study"]
    readonly_fields = ["token", "clip_order", "listening"]
    inlines = [QualityRatingInline]
