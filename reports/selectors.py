"""What the analysis of one study reads, gathered through the ratings app's selectors only."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.data import DIVERSITY_COLUMNS, QUALITY_COLUMNS
from analysis.report import Report, build_report
from ratings import selectors as ratings_selectors
from ratings.models import Study


@dataclass(frozen=True)
class StudyAnalysisInputs:
    ratings: pd.DataFrame
    diversity: pd.DataFrame | None
    excluded_raters: frozenset[str]
    variants: list[str]


def study_analysis_inputs(study: Study) -> StudyAnalysisInputs:
    """The study's ratings and judgements in the §5 long formats, its flagged raters and its variants."""
    diversity_rows = ratings_selectors.study_diversity_rows(study)
    return StudyAnalysisInputs(
        ratings=pd.DataFrame(ratings_selectors.study_quality_rows(study), columns=list(QUALITY_COLUMNS)),
        diversity=pd.DataFrame(diversity_rows, columns=list(DIVERSITY_COLUMNS)) if diversity_rows else None,
        excluded_raters=frozenset(ratings_selectors.study_excluded_rater_ids(study)),
        variants=list(study.variants.order_by("name").values_list("name", flat=True)),
    )


def study_report(study: Study, *, include_excluded: bool = False) -> Report:
    """The study's whole report in memory (what ``analyze`` writes), for the staff page."""
    inputs = study_analysis_inputs(study)
    return build_report(
        inputs.ratings,
        inputs.diversity,
        excluded_raters=inputs.excluded_raters,
        include_excluded=include_excluded,
        variants=inputs.variants,
        study=study.slug,
    )
