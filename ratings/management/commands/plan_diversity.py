from django.core.management.base import BaseCommand, CommandError

from ratings import services
from ratings.cli import add_study_argument, study_or_error


class Command(BaseCommand):
    help = (
        "Plan a study's diversity comparisons: every pair of the given variants, or each against --baseline, "
        "on --prompts prompts where each variant has at least 2 samples. Adds what is missing; removes nothing."
    )

    def add_arguments(self, parser):
        add_study_argument(parser)
        parser.add_argument("--variants", required=True, help="Comma-separated variant names (at least two).")
        parser.add_argument("--baseline", default=None, help="Compare each variant with this one only.")
        parser.add_argument(
            "--prompts",
            type=int,
            default=services.DIVERSITY_PROMPTS_DEFAULT,
            help="Prompts to use (default 50).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the prompt draw (default 0).")
        parser.add_argument(
            "--diversity-only",
            action="store_true",
            help="Turn the study's quality part off (raters only compare).",
        )

    def handle(self, *args, study, variants, baseline, prompts, seed, diversity_only, **options):
        try:
            result = services.diversity_plan(
                study=study_or_error(study),
                variants=variants.split(","),
                baseline=baseline,
                prompts=prompts,
                seed=seed,
                diversity_only=diversity_only,
            )
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        pairs = ", ".join(f"{a} vs {b}" for a, b in result.pairs)
        self.stdout.write(
            f"{result.prompts} prompts × {len(result.pairs)} pairs ({pairs}): "
            f"{result.comparisons_created} new comparisons"
        )
