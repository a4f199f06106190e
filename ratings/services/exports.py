"""The study's ratings written out in the long formats of MISSION.md §5."""

import csv
from dataclasses import dataclass
from pathlib import Path

from formats import DIVERSITY_COLUMNS, FLAG_COLUMNS, RATINGS_COLUMNS
from formats.validation import neutralise_formula

from .. import selectors
from ..models import Study


@dataclass(frozen=True)
class RatingsExportResult:
    quality_ratings: int
    diversity_judgements: int
    excluded_raters_left_out: int


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        # A spreadsheet runs a cell starting with =, +, -, @ as a formula: ids come from outside.
        writer.writerows({column: neutralise_formula(value) for column, value in row.items()} for row in rows)


def study_ratings_export(
    *, study: Study, out_dir: Path, include_excluded: bool = False
) -> RatingsExportResult:
    """ratings.csv, diversity.csv and rater_flags.csv of the study in out_dir (an existing folder), the
    rows of raters with an active exclusion flag left out unless include_excluded."""
    excluded = set() if include_excluded else selectors.study_excluded_rater_ids(study)
    quality = [row for row in selectors.study_quality_rows(study) if row["rater_id"] not in excluded]
    diversity = [row for row in selectors.study_diversity_rows(study) if row["rater_id"] not in excluded]
    _write_csv(out_dir / "ratings.csv", RATINGS_COLUMNS, quality)
    _write_csv(out_dir / "diversity.csv", DIVERSITY_COLUMNS, diversity)
    _write_csv(out_dir / "rater_flags.csv", FLAG_COLUMNS, selectors.study_flag_rows(study))
    return RatingsExportResult(len(quality), len(diversity), len(excluded))
