"""Site-wide pages no app owns: the staff home (every study with its state, and the way to each of its
staff pages) and the API-aware 404."""

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from django.views.defaults import page_not_found

from jobs.models import GenerationJob
from launches.models import StudyLaunch
from ratings.models import Study


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: JSON under /api/ (what the API's schema declares, even for a URL no route matches), the
    usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


@staff_member_required
@require_http_methods(["GET"])
def staff_home(request: HttpRequest) -> HttpResponse:
    studies = list(
        Study.objects.order_by("-created_at").annotate(
            n_raters=Count("raters", distinct=True),
            n_prompts=Count("prompts", distinct=True),
            n_variants=Count("variants", distinct=True),
        )
    )
    latest_launch = {}
    for launch in StudyLaunch.objects.order_by("created_at"):
        latest_launch[launch.study_slug] = launch  # the newest one wins
    active_jobs = dict(
        GenerationJob.objects.filter(status__in=("queued", "running"))
        .values_list("study__slug")
        .annotate(n=Count("id"))
    )
    rows = [
        {
            "study": study,
            "launch": latest_launch.get(study.slug),
            "active_jobs": active_jobs.get(study.slug, 0),
        }
        for study in studies
    ]
    slugs = {study.slug for study in studies}
    unopened = [launch for slug, launch in latest_launch.items() if slug not in slugs]
    return render(request, "staff/home.html", {"rows": rows, "unopened_launches": unopened})
