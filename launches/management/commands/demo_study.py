"""The demo study: recipes/demo.yaml launched through the study pipeline, then invite links printed.

The local worker runs the recipe's steps: the committed demo finetunes are reused (their training
settings match the recipe), the LERP 50/50 merge is made, every variant's clips are rendered and
measured, the diversity comparisons planned and the study opened. Running it again reuses the open
study (or retries a failed launch) and only adds invite links.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from launches import services
from launches.cli import LaunchNotOpen, launch_follow
from launches.models import LaunchStatus, StudyLaunch
from ratings import selectors as ratings_selectors
from ratings import services as ratings_services
from ratings.models import Study

DEMO_RECIPE = Path(settings.BASE_DIR) / "recipes" / "demo.yaml"


class Command(BaseCommand):
    help = (
        "Launch the demo study (recipes/demo.yaml) on the local worker (start one with "
        "'celery -A evalsite worker -Q gpu,default -B'), wait until it is open, and print invite links."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--raters",
            type=int,
            help="Invite links to create (default: as many 20-minute sessions as complete the study).",
        )
        parser.add_argument(
            "--wait", type=float, default=900, help="Seconds to wait for the worker (default 900)."
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the site is served.")

    def handle(self, *args, raters, wait, base_url, **options):
        launch = StudyLaunch.objects.filter(study_slug="demo").first()
        try:
            if launch is None:
                text = DEMO_RECIPE.read_text()
                launch = services.launch_create(text=text, base_dir=DEMO_RECIPE.parent, start=True)
            elif launch.status == LaunchStatus.PLANNED:
                launch = services.launch_start(launch=launch)
            elif launch.status in (LaunchStatus.FAILED, LaunchStatus.CANCELLED):
                launch = services.launch_retry(launch=launch)
        except services.LaunchRefused as exc:
            raise CommandError("; ".join(exc.faults)) from None
        if launch.status != LaunchStatus.OPEN:
            self.stdout.write(f"launching {DEMO_RECIPE.name} on the worker ({launch.cost['clips']} clips)…")
            try:
                launch_follow(launch, self.stdout.write, wait)
            except LaunchNotOpen as exc:
                raise CommandError(f"{exc}; run demo_study again to wait or retry") from None
        study = Study.objects.get(slug="demo")
        if raters is None:
            raters = ratings_selectors.study_raters_needed(study)
        base = base_url.rstrip("/")
        self.stdout.write("Invite links, one per rater:")
        for rater in ratings_services.raters_invite(study=study, count=raters, prefix="demo-rater"):
            self.stdout.write(
                f"  {rater.external_id}\t{base}{reverse('ratings:rater_home', args=[rater.token])}"
            )
        self.stdout.write(f"Dashboard (staff): {base}{reverse('ratings:study_dashboard', args=[study.slug])}")
