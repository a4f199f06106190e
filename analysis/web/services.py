"""The study report written to a folder: the one write of the analysis app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.report import write_report
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
