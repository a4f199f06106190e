from django.core.management.base import BaseCommand

from ratings.cli import add_results_arguments, out_folder_or_error, study_or_error
from reports.services import study_results_export


class Command(BaseCommand):
    help = (
        "Export a study's ratings (ratings.csv, diversity.csv: MISSION.md §5), its rater flags (rater_flags.csv) "
        "and its analysis (summary.json, tables as CSV/Markdown/LaTeX, PNG plots) into a folder, leaving out raters with an active exclusion flag unless --include-excluded. "
        "Nothing partial is left on error."
    )

    def add_arguments(self, parser):
        add_results_arguments(parser)

    def handle(self, *args, study, out, include_excluded, **options):
        found = study_or_error(study)
        out = out_folder_or_error(out)
        exported = study_results_export(study=found, out=out, include_excluded=include_excluded).ratings
        left_out = (
            f", {exported.excluded_raters_left_out} excluded rater(s) left out"
            if exported.excluded_raters_left_out
            else ""
        )
        self.stdout.write(
            f"study {found.slug}: {exported.quality_ratings} quality ratings and {exported.diversity_judgements} "
            f"diversity judgements written to {out}{left_out}"
        )
