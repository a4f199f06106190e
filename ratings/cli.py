"""What the management commands of every app share: their common arguments, finding the study,
checking the --out folder."""

import os
from pathlib import Path

from django.core.management.base import CommandError

from .models import Study


def study_or_error(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"no study {slug!r}; create it with import_clips first")
    return study


def out_folder_or_error(out: Path) -> Path:
    """The --out folder, refused in one line before anything is written when it cannot be one."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file; give a folder (created if missing)")
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"--out {out}: cannot write into {existing}")
    return out


def add_study_argument(parser) -> None:
    parser.add_argument("--study", required=True, help="Slug of an existing study.")


def add_results_arguments(parser) -> None:
    """--study, --out and --include-excluded: the arguments of every command that writes a study's results."""
    add_study_argument(parser)
    parser.add_argument("--out", required=True, type=Path, help="Folder to write (created; files replaced).")
    parser.add_argument(
        "--include-excluded", action="store_true", help="Keep the rows of raters flagged for exclusion."
    )
