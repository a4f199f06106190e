"""Staff pages: the list of studies, and one study's stored report with its tables and plots.

The report is never computed here: the page shows the stored one (reports.tasks computes it on the
default queue) and asks for a new one when the study's answers changed since.
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from ratings.models import Study

from .services import stored_report_refresh

REFRESH_SECONDS = 5


@staff_member_required
def study_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/study_list.html", {"studies": Study.objects.order_by("slug")})


@staff_member_required
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    include_excluded = request.GET.get("include_excluded") == "1"
    stored = stored_report_refresh(study=study, include_excluded=include_excluded)
    content = stored.content
    context = {
        "study": study,
        "include_excluded": include_excluded,
        "stored": stored,
        "recomputing": bool(stored.pending_fingerprint),
        "refresh_seconds": REFRESH_SECONDS,
        "meta": content.get("summary", {}).get("meta", {}),
        "notes": content.get("summary", {}).get("notes", []),
        "figures": content.get("figures", []),
        "tables": content.get("tables", []),
    }
    return render(request, "reports/report.html", context)


@staff_member_required
def report_summary(request: HttpRequest, slug: str) -> JsonResponse:
    study = get_object_or_404(Study, slug=slug)
    stored = stored_report_refresh(study=study, include_excluded=request.GET.get("include_excluded") == "1")
    if not stored.content:
        return JsonResponse({"error": "the report is being computed; ask again in a few seconds"}, status=503)
    response = JsonResponse(stored.content["summary"], json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-summary.json"'
    response["Last-Modified"] = stored.computed_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response
