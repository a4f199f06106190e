"""Staff pages: enqueue a variant of the built-in model, follow the jobs."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import services
from .forms import PregenerateForm
from .models import ACTIVE, GenerationJob


@staff_member_required
@require_http_methods(["GET", "POST"])
def jobs(request):
    form = PregenerateForm(request.POST or None, initial={"study": request.GET.get("study")})
    if request.method == "POST" and form.is_valid():
        try:
            job, created = services.job_enqueue(created_by=request.user, **form.job_arguments())
        except services.JobRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{'Enqueued' if created else 'Already in progress'}: {job}")
            return redirect("jobs:jobs")
    recent_jobs = GenerationJob.objects.select_related("study")
    study_filter = request.GET.get("study", "")
    if study_filter:
        recent_jobs = recent_jobs.filter(study__slug=study_filter)
    recent = list(recent_jobs[:50])
    refresh = any(job.status in ACTIVE for job in recent)  # the page follows running jobs by itself
    return render(
        request,
        "jobs/jobs.html",
        {"form": form, "jobs": recent, "refresh": refresh, "study_filter": study_filter},
    )
