"""Staff pages: the list of studies, and one study's report with its tables and plots."""

from __future__ import annotations

import base64

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from analysis.tables import Table
from ratings.models import Study

from .selectors import study_report


def _rows(table: Table) -> list[list[tuple[str, bool]]]:
    return [
        [(str(table.cells.at[row, column]), (row, column) in table.bold) for column in table.cells.columns]
        for row in table.cells.index
    ]


@staff_member_required
def study_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/study_list.html", {"studies": Study.objects.order_by("slug")})


@staff_member_required
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    include_excluded = request.GET.get("include_excluded") == "1"
    report = study_report(study, include_excluded=include_excluded)
    context = {
        "study": study,
        "include_excluded": include_excluded,
        "meta": report.summary["meta"],
        "notes": report.summary["notes"],
        "figures": [
            (name, "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
            for name, png in report.figures.items()
        ],
        "tables": [
            {"title": t.title, "columns": list(t.cells.columns), "rows": _rows(t), "note": t.note}
            for t in report.tables
        ],
    }
    return render(request, "reports/report.html", context)


@staff_member_required
def report_summary(request: HttpRequest, slug: str) -> JsonResponse:
    study = get_object_or_404(Study, slug=slug)
    report = study_report(study, include_excluded=request.GET.get("include_excluded") == "1")
    response = JsonResponse(report.summary, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-summary.json"'
    return response
