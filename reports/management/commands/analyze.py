import os

# The report's matrices are small: one BLAS thread avoids oversubscription on a shared, loaded machine
# (only effective when nothing has loaded numpy yet; see docs/analysis.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


from django.core.management.base import BaseCommand, CommandError  # noqa: E402

from analysis.data import RatingsFormatError  # noqa: E402
from ratings.cli import add_results_arguments, out_folder_or_error, study_or_error  # noqa: E402
from reports.services import study_report_write  # noqa: E402


class Command(BaseCommand):
    help = (
        "Analyse a study (MISSION.md §4) and write summary.json, the tables as CSV/Markdown/LaTeX and PNG "
        "plots into a folder. Excluded raters are left out unless --include-excluded. Nothing partial on error."
    )

    def add_arguments(self, parser):
        add_results_arguments(parser)
        parser.add_argument(
            "--seed", type=int, default=0, help="Seed of the bootstrap intervals (default 0)."
        )

    def handle(self, *args, study, out, include_excluded, seed, **options):
        found = study_or_error(study)
        out = out_folder_or_error(out)
        try:
            summary = study_report_write(
                study=found, out_dir=out, include_excluded=include_excluded, seed=seed
            )
        except RatingsFormatError as error:
            raise CommandError(f"study {study}: {error}") from None
        meta = summary["meta"]
        self.stdout.write(
            f"study {found.slug}: {meta['n_ratings']} ratings, {meta['n_judgements']} diversity judgements, "
            f"{meta['excluded_raters']['left_out']} excluded rater(s) left out; "
            f"{len(summary['files'])} files written to {out}"
        )
        for note in summary["notes"]:
            self.stdout.write(f"note: {note}")
