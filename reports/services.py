"""The writes of the reports app: the study's report written out, its results folder, the stored report."""

from __future__ import annotations

import base64
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from analysis.report import Report, write_report
from ratings import services as ratings_services
from ratings.models import Study
from ratings.selectors import study_answers_fingerprint

from .models import StoredReport
from .selectors import study_analysis_inputs, study_report

# A report takes seconds to compute (docs/analysis.md); one asked for this long ago and not stored is lost.
REQUEUE_AFTER = timedelta(minutes=10)


def study_report_write(
    *, study: Study, out_dir: Path, include_excluded: bool = False, seed: int = 0
) -> dict[str, Any]:
    """summary.json, tables and plots of the study in out_dir (written whole or not at all); the summary."""
    inputs = study_analysis_inputs(study)
    return write_report(
        inputs.ratings,
        inputs.diversity,
        out_dir,
        excluded_raters=inputs.excluded_raters,
        include_excluded=include_excluded,
        variants=inputs.variants,
        seed=seed,
        study=study.slug,
    )


@dataclass(frozen=True)
class ResultsExportResult:
    ratings: ratings_services.RatingsExportResult
    summary: dict[str, Any]


def study_results_export(*, study: Study, out: Path, include_excluded: bool = False) -> ResultsExportResult:
    """The study's ratings (ratings.csv, diversity.csv, rater_flags.csv) and its report in `out`
    (created; files replaced). Everything is written into a scratch folder inside `out` first, so an
    error leaves nothing partial."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as scratch_name:
        scratch = Path(scratch_name)
        exported = ratings_services.study_ratings_export(
            study=study, out_dir=scratch, include_excluded=include_excluded
        )
        summary = study_report_write(
            study=study, out_dir=scratch / "report", include_excluded=include_excluded
        )
        for written in (scratch / "report").iterdir():
            shutil.move(str(written), scratch / written.name)
        (scratch / "report").rmdir()
        for written in scratch.iterdir():
            target = out / written.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(written), target)
    return ResultsExportResult(exported, summary)


# --- the stored report of the staff page ---------------------------------------------------------


def _page_content(report: Report) -> dict[str, Any]:
    """What the staff page shows of a report, as JSON: the summary, the notes, the tables and the plots."""
    return {
        "summary": report.summary,
        "figures": [
            [name, "data:image/png;base64," + base64.b64encode(png).decode("ascii")]
            for name, png in report.figures.items()
        ],
        "tables": [
            {
                "title": table.title,
                "columns": [str(column) for column in table.cells.columns],
                "rows": [
                    [
                        [str(table.cells.at[row, column]), (row, column) in table.bold]
                        for column in table.cells.columns
                    ]
                    for row in table.cells.index
                ],
                "note": table.note,
            }
            for table in report.tables
        ],
    }


@transaction.atomic
def stored_report_refresh(*, study: Study, include_excluded: bool = False) -> StoredReport:
    """The study's stored report; when the answers changed since it was computed (or it was never
    computed), a computation is queued on the default queue, once per change, and once more when the
    one asked for has not arrived within REQUEUE_AFTER (its message was lost: a worker killed mid-task,
    a broker restarted)."""
    report, _ = StoredReport.objects.get_or_create(study=study, include_excluded=include_excluded)
    report = StoredReport.objects.select_for_update().get(pk=report.pk)
    current = study_answers_fingerprint(study)
    if current == report.fingerprint:
        return report
    asked_lately = report.requested_at is not None and timezone.now() - report.requested_at < REQUEUE_AFTER
    if current == report.pending_fingerprint and asked_lately:
        return report
    report.pending_fingerprint, report.requested_at = current, timezone.now()
    report.save(update_fields=["pending_fingerprint", "requested_at"])
    from .tasks import compute_report

    transaction.on_commit(lambda: compute_report.delay(report.pk, current))
    return report


def stored_report_compute(*, report_id: int, requested: str = "") -> StoredReport:
    """Compute the report from the answers as they are now and store it with their fingerprint. The
    fingerprint is read before the answers, so an answer arriving meanwhile leaves it stale: never a
    report tagged newer than what it shows."""
    report = StoredReport.objects.select_related("study").get(pk=report_id)
    fingerprint = study_answers_fingerprint(report.study)
    try:
        content = _page_content(study_report(report.study, include_excluded=report.include_excluded))
    except Exception as exc:
        StoredReport.objects.filter(pk=report.pk, pending_fingerprint=requested).update(
            pending_fingerprint=""
        )
        StoredReport.objects.filter(pk=report.pk).update(error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        locked = StoredReport.objects.select_for_update().get(pk=report.pk)
        locked.content, locked.fingerprint, locked.computed_at, locked.error = (
            content,
            fingerprint,
            timezone.now(),
            "",
        )
        if locked.pending_fingerprint in (requested, fingerprint):
            locked.pending_fingerprint = ""
        locked.save()
    return locked
