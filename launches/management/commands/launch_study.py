"""python manage.py launch_study RECIPE.yaml [--wait]: check a study recipe and launch it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from launches import services
from launches.cli import LaunchNotOpen, launch_follow
from launches.models import StudyLaunch


class Command(BaseCommand):
    help = (
        "Check a study recipe (YAML) and launch it: workers train, merge, pre-generate and measure the "
        "variants, then open the study. A bad recipe exits non-zero naming the key and creates nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("recipe", help="The recipe file (recipes/demo.yaml, recipes/tiny.yaml).")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until raters can start (exit 0) or a step fails (exit 1).",
        )
        parser.add_argument(
            "--timeout", type=float, default=3600, help="Seconds --wait waits (default 3600)."
        )

    def handle(self, *args, recipe, wait, timeout, **options):
        path = Path(recipe)
        try:
            text = path.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        try:
            launch = services.launch_create(text=text, base_dir=path.parent, start=True)
        except services.LaunchRefused as exc:
            raise CommandError("bad recipe: " + "; ".join(exc.faults)) from None
        cost = launch.cost
        self.stdout.write(
            f"launch {launch.pk}: study {launch.study_slug}, {cost['clips']} clips, about "
            f"{cost['gpu_minutes']} GPU-worker minutes"
        )
        if wait:
            self._wait(launch, timeout)

    def _wait(self, launch: StudyLaunch, timeout: float) -> None:
        try:
            launch_follow(launch, self.stdout.write, timeout)
        except LaunchNotOpen as exc:
            raise CommandError(str(exc)) from None
