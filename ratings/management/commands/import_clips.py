from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ratings import services
from ratings.audio import FIT_CHOICES


class Command(BaseCommand):
    help = (
        "Import a manifest of clips (CSV: prompt_id,prompt_text,variant,sample_index,path; paths relative to the "
        "manifest's folder; WAV or FLAC) into a study, creating it if new. Each clip is normalised to the "
        "study's format (16-bit WAV, one sample rate, channel count, length and loudness); clips of unequal "
        "length are refused unless --fit says how to make them equal. Rows imported before from the same file "
        "are skipped. Nothing is written on any error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="Study slug (created if it does not exist).")
        parser.add_argument("manifest", type=Path, help="The manifest CSV file.")
        parser.add_argument(
            "--fit",
            choices=FIT_CHOICES,
            help="Clips of unequal length: trim (cut the longer ones to the study's length, or the shortest "
            "clip's for a new study) or pad (add silence after the shorter ones).",
        )

    def handle(self, *args, study, manifest, fit, **options):
        try:
            result = services.clips_import(study_slug=study, manifest=manifest, fit=fit)
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"study {result.study.slug}: {result.clips_created} clips, {result.prompts_created} new prompts, "
            f"{result.variants_created} new variants"
            + (
                f"; {result.clips_skipped} already imported from the same files, skipped"
                if result.clips_skipped
                else ""
            )
        )
