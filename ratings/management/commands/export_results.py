import csv
import shutil
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from ratings import selectors
from ratings.services import RATINGS_COLUMNS

from ._base import study_or_error


class Command(BaseCommand):
    help = "Export a study's ratings (ratings.csv, MISSION.md §5) into a folder. Nothing partial is left on error."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="Slug of an existing study.")
        parser.add_argument(
            "--out", required=True, type=Path, help="Folder to write (created; files replaced)."
        )

    def handle(self, *args, study, out, **options):
        study = study_or_error(study)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as scratch:
            scratch = Path(scratch)
            rows = selectors.study_quality_rows(study)
            with (scratch / "ratings.csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=RATINGS_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            for written in scratch.iterdir():
                shutil.move(str(written), out / written.name)
        self.stdout.write(f"study {study.slug}: {len(rows)} quality ratings written to {out}")
