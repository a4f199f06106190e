import csv
import shutil
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from analysis.web.services import study_report_write
from ratings import selectors
from ratings.services import DIVERSITY_COLUMNS, FLAG_COLUMNS, RATINGS_COLUMNS

from ._base import out_folder_or_error, study_or_error


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class Command(BaseCommand):
    help = (
        "Export a study's ratings (ratings.csv, diversity.csv: MISSION.md §5), its rater flags (rater_flags.csv) "
        "and its analysis (summary.json, tables as CSV/Markdown/LaTeX, PNG plots) into a folder, leaving out raters with an active exclusion flag unless --include-excluded. "
        "Nothing partial is left on error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="Slug of an existing study.")
        parser.add_argument(
            "--out", required=True, type=Path, help="Folder to write (created; files replaced)."
        )
        parser.add_argument(
            "--include-excluded", action="store_true", help="Keep the rows of raters flagged as excluded."
        )

    def handle(self, *args, study, out, include_excluded, **options):
        study = study_or_error(study)
        out = out_folder_or_error(out)
        excluded = set() if include_excluded else selectors.study_excluded_rater_ids(study)
        quality = [row for row in selectors.study_quality_rows(study) if row["rater_id"] not in excluded]
        diversity = [row for row in selectors.study_diversity_rows(study) if row["rater_id"] not in excluded]
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as scratch:
            scratch = Path(scratch)
            _write_csv(scratch / "ratings.csv", RATINGS_COLUMNS, quality)
            _write_csv(scratch / "diversity.csv", DIVERSITY_COLUMNS, diversity)
            _write_csv(scratch / "rater_flags.csv", FLAG_COLUMNS, selectors.study_flag_rows(study))
            study_report_write(study=study, out_dir=scratch / "report", include_excluded=include_excluded)
            for written in (scratch / "report").iterdir():
                shutil.move(str(written), scratch / written.name)
            (scratch / "report").rmdir()
            for written in scratch.iterdir():
                target = out / written.name
                if target.is_dir():
                    shutil.rmtree(target)
                shutil.move(str(written), target)
        left_out = f", {len(excluded)} excluded rater(s) left out" if excluded else ""
        self.stdout.write(
            f"study {study.slug}: {len(quality)} quality ratings and {len(diversity)} diversity judgements "
            f"written to {out}{left_out}"
        )
