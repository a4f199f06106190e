from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ratings import services
from ratings.cli import add_study_argument, study_or_error


class Command(BaseCommand):
    help = (
        "Import ratings collected elsewhere (ratings.csv: rater_id,prompt_id,variant,criterion,score,created_at; "
        "or diversity.csv: rater_id,prompt_id,variant_a,variant_b,choice,created_at), "
        "keeping their rater ids. Nothing is written on any error."
    )

    def add_arguments(self, parser):
        add_study_argument(parser)
        parser.add_argument("file", type=Path, help="The CSV file; its header says which kind it is.")

    def handle(self, *args, study, file, **options):
        try:
            result = services.ratings_import(study=study_or_error(study), path=file)
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{result.ratings_created} {result.kind} imported, {result.raters_created} new raters"
        )
