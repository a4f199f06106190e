"""The writes of the reports app: the study's report, and its whole results folder."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.report import write_report
from ratings import services as ratings_services
from ratings.models import Study

from .selectors import study_analysis_inputs


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
