from django.core.management.base import BaseCommand, CommandError

from ratings import services
from ratings.cli import add_study_argument, study_or_error
from ratings.kinds import KINDS


def _range(text: str) -> list[int]:
    low, _, high = text.partition("..")
    try:
        return [int(low), int(high or low)]
    except ValueError:
        raise CommandError(f"expected range {text!r} is not LOW..HIGH, e.g. 1..2 or -2..-1") from None


class Command(BaseCommand):
    help = (
        "Add a gold item with a known answer. Clips are named PROMPT_ID:VARIANT:SAMPLE_INDEX. "
        "Quality: --clips a,b --expect text_adherence=1..2. Diversity: --pair-a x,y --pair-b z,w --expect choice=1..2."
    )

    def add_arguments(self, parser):
        add_study_argument(parser)
        parser.add_argument("--kind", required=True, choices=list(KINDS))
        parser.add_argument("--prompt", required=True, help="prompt_id whose text is shown.")
        parser.add_argument("--clips", default="", help="Quality: comma-separated clips.")
        parser.add_argument("--pair-a", default="", help="Diversity: the two clips of pair A.")
        parser.add_argument("--pair-b", default="", help="Diversity: the two clips of pair B.")
        parser.add_argument(
            "--expect",
            action="append",
            required=True,
            help="CRITERION=LOW..HIGH or choice=LOW..HIGH (repeatable).",
        )
        parser.add_argument("--note", default="")

    def handle(self, *args, study, kind, prompt, clips, pair_a, pair_b, expect, note, **options):
        expected = {}
        for item in expect:
            name, _, value = item.partition("=")
            expected[name.strip()] = _range(value.strip())
        split = lambda text: [part.strip() for part in text.split(",") if part.strip()]  # noqa: E731
        try:
            item = services.gold_item_create(
                study=study_or_error(study),
                kind=kind,
                prompt_id=prompt,
                expected=expected,
                clips=split(clips),
                pair_a=split(pair_a),
                pair_b=split(pair_b),
                note=note,
            )
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"gold item {item.pk} added to study {item.study.slug}")
