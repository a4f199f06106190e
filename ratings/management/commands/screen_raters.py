from django.core.management.base import BaseCommand

from ratings import selectors, services
from ratings.cli import add_study_argument, study_or_error


class Command(BaseCommand):
    help = (
        "Screen a study's raters (failed attention items, straight-lining, implausible speed, too few items) and "
        "flag the ones to exclude. Flags are reversible on the dashboard; nothing is deleted."
    )

    def add_arguments(self, parser):
        add_study_argument(parser)

    def handle(self, *args, study, **options):
        study = study_or_error(study)
        for flag in services.raters_screen(study=study):
            self.stdout.write(f"{flag.rater.external_id}\t{flag.reason}\t{flag.detail}")
        excluded = selectors.study_excluded_rater_ids(study)
        self.stdout.write(f"study {study.slug}: {len(excluded)} rater(s) excluded")
