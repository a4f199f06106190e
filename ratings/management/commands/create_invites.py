from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ratings import services
from ratings.cli import add_study_argument, study_or_error


class Command(BaseCommand):
    help = "Create raters for a study and print one secret invite link per rater."

    def add_arguments(self, parser):
        add_study_argument(parser)
        parser.add_argument("--count", type=int, default=3, help="How many raters to invite (default 3).")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where raters reach the site (default %(default)s).",
        )

    def handle(self, *args, study, count, base_url, **options):
        try:
            raters = services.raters_invite(study=study_or_error(study), count=count)
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        for rater in raters:
            self.stdout.write(
                f"{rater.external_id}\t{base_url.rstrip('/')}{reverse('ratings:rater_home', args=[rater.token])}"
            )
