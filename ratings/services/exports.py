"""The study's answers written out in the long formats of MISSION.md §5, one file per task kind."""

import csv
from dataclasses import dataclass
from pathlib import Path

from formats import FLAG_COLUMNS, LISTENING_COLUMNS, PROMPT_COLUMNS
from formats.validation import neutralise_formula

from .. import selectors
from ..kinds import KINDS
from ..models import Study


@dataclass(frozen=True)
class RatingsExportResult:
    rows: dict[str, int]  # kind → rows written
    excluded_raters_left_out: int

    @property
    def quality_ratings(self) -> int:
        return self.rows.get("quality", 0)

    @property
    def diversity_judgements(self) -> int:
        return self.rows.get("diversity", 0)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        # A spreadsheet runs a cell starting with =, +, -, @ as a formula: ids come from outside.
        writer.writerows({column: neutralise_formula(value) for column, value in row.items()} for row in rows)


def study_ratings_export(
    *, study: Study, out_dir: Path, include_excluded: bool = False
) -> RatingsExportResult:
    """Each kind's export file (ratings.csv, diversity.csv), rater_flags.csv, prompts.csv (the prompt texts)
    and listening.csv (the listening evidence) in out_dir (an existing folder), the rows of raters with an
    active exclusion flag left out unless include_excluded."""
    excluded = set() if include_excluded else selectors.study_excluded_rater_ids(study)
    written = {}
    for name, kind in KINDS.items():
        rows = [row for row in selectors.study_kind_rows(study, name) if row["rater_id"] not in excluded]
        _write_csv(out_dir / kind.export_file, kind.columns, rows)
        written[name] = len(rows)
    _write_csv(out_dir / "rater_flags.csv", FLAG_COLUMNS, selectors.study_flag_rows(study))
    _write_csv(out_dir / "prompts.csv", PROMPT_COLUMNS, selectors.study_prompt_rows(study))
    listening = [row for row in selectors.study_listening_rows(study) if row["rater_id"] not in excluded]
    _write_csv(out_dir / "listening.csv", LISTENING_COLUMNS, listening)
    return RatingsExportResult(written, len(excluded))
