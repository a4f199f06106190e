"""Staff pages: the list of studies, and one study's stored report with its tables and plots.

The report is never computed here: the page shows the stored one (reports.tasks computes it on the
default queue) and asks for a new one when the study's answers changed since.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from ratings.models import Study

from .services import stored_report_refresh, study_results_export

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


@staff_member_required
@require_http_methods(["GET"])
def results_export_zip(request: HttpRequest, slug: str) -> HttpResponse:
    """The whole export (what ``export_results`` writes) as one zip, made fresh from the answers now."""
    study = get_object_or_404(Study, slug=slug)
    include_excluded = request.GET.get("include_excluded") == "1"
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / study.slug
        study_results_export(study=study, out=out, include_excluded=include_excluded)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(out.parent).as_posix())
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-results.zip"'
    return response
