from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ratings import services


class Command(BaseCommand):
    help = (
        "Import a manifest of clips (CSV: prompt_id,prompt_text,variant,sample_index,path; paths relative to the "
        "manifest's folder; WAV or FLAC) into a study, creating it if new. Rows imported before from the same file are skipped. Nothing is written on any error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="Study slug (created if it does not exist).")
        parser.add_argument("manifest", type=Path, help="The manifest CSV file.")

    def handle(self, *args, study, manifest, **options):
        try:
            result = services.clips_import(study_slug=study, manifest=manifest)
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
