from django.contrib import admin

from .models import GenerationJob


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["kind", "study", "variant_name", "status", "progress", "progress_note", "created_at"]
    list_filter = ["kind", "status", "study"]
    readonly_fields = [f.name for f in GenerationJob._meta.fields]

    def has_add_permission(self, request):
        return False  # jobs are enqueued through the jobs page, the API or enqueue_job, which validate them
