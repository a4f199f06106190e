"""Answers collected elsewhere: a kind's export file (ratings.csv, diversity.csv) imported, all or nothing."""

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from formats import validation

from ..csv_files import read_csv
from ..errors import ImportFailed
from ..kinds import KINDS, ImportRow, TaskKind
from ..models import Rater, Study


@dataclass
class RatingsImportResult:
    kind: str
    ratings_created: int
    raters_created: int


def ratings_import(*, study: Study, path: Path) -> RatingsImportResult:
    """Import rows collected elsewhere, the kind recognised by the file's header; raters keep their ids.
    All or nothing."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = tuple(next(csv.reader(handle), ()))
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except (UnicodeDecodeError, csv.Error):
        raise ImportFailed(f"{path.name}: not a UTF-8 CSV file") from None
    for kind in KINDS.values():
        if set(header) == set(kind.columns):
            return _rows_import(study, path, kind)
    known = " and ".join(f"{kind.export_file} has {','.join(kind.columns)}" for kind in KINDS.values())
    raise ImportFailed(f"{path.name}: header {','.join(header) or '(empty)'} is not a ratings file; {known}")


def _rater_id(value: str, where: str) -> str:
    try:
        return validation.identifier(value, name="rater_id")
    except validation.Invalid as exc:
        raise ImportFailed(f"{where}: {exc}") from None


def _parse_created_at(value: str, where: str) -> datetime:
    try:
        moment = validation.moment(value, name="created_at")
    except validation.Invalid as exc:
        raise ImportFailed(f"{where}: {exc}") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


@transaction.atomic
def _rows_import(study: Study, path: Path, kind: TaskKind) -> RatingsImportResult:
    """The checks every kind's rows share (prompt, rater id, date), then the kind's own, row by row."""
    prompts = {p.external_id: p for p in study.prompts.all()}
    raters = {r.external_id: r for r in study.raters.all()}
    raters_before = len(raters)
    state: dict = {}
    for line, row in read_csv(path, kind.columns, f"{kind.name} file", exported=True):
        where = f"{path.name} line {line}"
        prompt = prompts.get(row["prompt_id"])
        if prompt is None:
            raise ImportFailed(f"{where}: prompt {row['prompt_id']!r} is not in study {study.slug}")
        _rater_id(row["rater_id"], where)
        created_at = _parse_created_at(row["created_at"], where)
        rater = raters.get(row["rater_id"])
        if rater is None:
            rater = raters[row["rater_id"]] = Rater.objects.create(
                study=study, external_id=row["rater_id"], source=Rater.Source.IMPORTED
            )
        kind.import_row(ImportRow(line, where, row, prompt, rater, created_at, path), state)
    created = kind.import_finish(study, state)
    return RatingsImportResult(kind.words.rows, created, len(raters) - raters_before)
