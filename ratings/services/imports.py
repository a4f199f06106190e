"""Ratings collected elsewhere: ratings.csv and diversity.csv imported, all or nothing."""

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from formats import CRITERIA, DIVERSITY_COLUMNS, RATINGS_COLUMNS, validation

from .. import selectors
from ..models import (
    AssignmentStatus,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    Study,
)
from .csv_files import read_csv
from .errors import ImportFailed

# --- ratings collected elsewhere ---------------------------------------------------------------


@dataclass
class RatingsImportResult:
    kind: str
    ratings_created: int
    raters_created: int


def ratings_import(*, study: Study, path: Path) -> RatingsImportResult:
    """Import ratings.csv rows collected elsewhere; raters keep their ids. All or nothing."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = tuple(next(csv.reader(handle), ()))
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except (UnicodeDecodeError, csv.Error):
        raise ImportFailed(f"{path.name}: not a UTF-8 CSV file") from None
    if set(header) == set(RATINGS_COLUMNS):
        return _quality_ratings_import(study, path)
    if set(header) == set(DIVERSITY_COLUMNS):
        return _diversity_ratings_import(study, path)
    raise ImportFailed(
        f"{path.name}: header {','.join(header) or '(empty)'} is not a ratings file; ratings.csv has "
        f"{','.join(RATINGS_COLUMNS)} and diversity.csv has {','.join(DIVERSITY_COLUMNS)}"
    )


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
def _quality_ratings_import(study: Study, path: Path) -> RatingsImportResult:
    prompts = {p.external_id: p for p in study.prompts.all()}
    variants = {v.name: v for v in study.variants.all()}
    raters = {r.external_id: r for r in study.raters.all()}
    raters_before = len(raters)
    clips: dict[tuple[str, str], Clip] = {}
    assignments: dict[tuple[str, str], QualityAssignment] = {}
    seen: dict[tuple[str, str, str, str], int] = {}
    ratings = []
    for line, row in read_csv(path, RATINGS_COLUMNS, "ratings file", exported=True):
        where = f"{path.name} line {line}"
        prompt = prompts.get(row["prompt_id"])
        if prompt is None:
            raise ImportFailed(f"{where}: prompt {row['prompt_id']!r} is not in study {study.slug}")
        if row["variant"] not in variants:
            raise ImportFailed(f"{where}: variant {row['variant']!r} is not in study {study.slug}")
        if row["criterion"] not in CRITERIA:
            raise ImportFailed(f"{where}: criterion {row['criterion']!r} is not one of {', '.join(CRITERIA)}")
        try:
            score = int(row["score"])
        except ValueError:
            raise ImportFailed(f"{where}: score {row['score']!r} is not a whole number") from None
        if not 1 <= score <= 5:
            raise ImportFailed(f"{where}: score {score} is outside 1..5")
        _rater_id(row["rater_id"], where)
        created_at = _parse_created_at(row["created_at"], where)
        key = (row["rater_id"], row["prompt_id"], row["variant"], row["criterion"])
        if key in seen:
            raise ImportFailed(f"{where}: duplicate rating {key}, first on line {seen[key]}")
        seen[key] = line
        clip = clips.get((row["prompt_id"], row["variant"]))
        if clip is None:
            by_variant = {c.variant.name: c for c in selectors.prompt_quality_clips(prompt)}
            clips.update({(row["prompt_id"], name): c for name, c in by_variant.items()})
            clip = clips.get((row["prompt_id"], row["variant"]))
            if clip is None:
                raise ImportFailed(
                    f"{where}: variant {row['variant']!r} has no clip for prompt {row['prompt_id']}"
                )
        rater = raters.get(row["rater_id"])
        if rater is None:
            rater = raters[row["rater_id"]] = Rater.objects.create(
                study=study, external_id=row["rater_id"], source=Rater.Source.IMPORTED
            )
        assignment = assignments.get((row["rater_id"], row["prompt_id"]))
        if assignment is None:
            assignment = QualityAssignment.objects.filter(rater=rater, prompt=prompt).first()
            if assignment is not None and assignment.check_item_id is not None:
                raise ImportFailed(
                    f"{where}: rater {row['rater_id']} met prompt {row['prompt_id']} as an attention item"
                )
            if assignment is not None and assignment.status != AssignmentStatus.SUBMITTED:
                # Ratings added to an open item would make the rater's own submission collide later.
                raise ImportFailed(
                    f"{where}: rater {row['rater_id']} holds prompt {row['prompt_id']} {assignment.status} on "
                    "the platform; import their ratings under another rater_id"
                )
            if assignment is None:
                Prompt.objects.filter(pk=prompt.pk).update(quality_slots_taken=F("quality_slots_taken") + 1)
                assignment = QualityAssignment.objects.create(
                    rater=rater,
                    prompt=prompt,
                    clip_order=[c.pk for c in selectors.prompt_quality_clips(prompt)],
                    status=AssignmentStatus.SUBMITTED,
                    submitted_at=created_at,
                    listening={"imported_from": path.name},
                )
            assignments[(row["rater_id"], row["prompt_id"])] = assignment
        if QualityRating.objects.filter(
            assignment=assignment, clip=clip, criterion=row["criterion"]
        ).exists():
            raise ImportFailed(f"{where}: study {study.slug} already has the rating {key}")
        ratings.append(
            QualityRating(
                assignment=assignment,
                clip=clip,
                criterion=row["criterion"],
                score=score,
                created_at=created_at,
            )
        )
    QualityRating.objects.bulk_create(ratings)
    return RatingsImportResult("ratings", len(ratings), len(raters) - raters_before)


@transaction.atomic
def _diversity_ratings_import(study: Study, path: Path) -> RatingsImportResult:
    prompts = {p.external_id: p for p in study.prompts.all()}
    variants = {v.name: v for v in study.variants.all()}
    raters = {r.external_id: r for r in study.raters.all()}
    raters_before = len(raters)
    seen: dict[tuple[str, str, frozenset[str]], int] = {}
    created = 0
    for line, row in read_csv(path, DIVERSITY_COLUMNS, "diversity file", exported=True):
        where = f"{path.name} line {line}"
        prompt = prompts.get(row["prompt_id"])
        if prompt is None:
            raise ImportFailed(f"{where}: prompt {row['prompt_id']!r} is not in study {study.slug}")
        for column in ("variant_a", "variant_b"):
            if row[column] not in variants:
                raise ImportFailed(f"{where}: {column} {row[column]!r} is not in study {study.slug}")
        if row["variant_a"] == row["variant_b"]:
            raise ImportFailed(f"{where}: variant_a and variant_b are both {row['variant_a']!r}")
        try:
            choice = int(row["choice"])
        except ValueError:
            raise ImportFailed(f"{where}: choice {row['choice']!r} is not a whole number") from None
        if not -2 <= choice <= 2:
            raise ImportFailed(f"{where}: choice {choice} is outside -2..+2")
        _rater_id(row["rater_id"], where)
        created_at = _parse_created_at(row["created_at"], where)
        key = (row["rater_id"], row["prompt_id"], frozenset((row["variant_a"], row["variant_b"])))
        if key in seen:
            raise ImportFailed(
                f"{where}: duplicate judgement of {row['prompt_id']} {row['variant_a']}/{row['variant_b']} by "
                f"{row['rater_id']}, first on line {seen[key]}"
            )
        seen[key] = line
        variant_a, variant_b = variants[row["variant_a"]], variants[row["variant_b"]]
        x, y = sorted((variant_a, variant_b), key=lambda v: v.pk)
        comparison, _ = DiversityComparison.objects.get_or_create(
            study=study, prompt=prompt, variant_x=x, variant_y=y
        )
        rater = raters.get(row["rater_id"])
        if rater is None:
            rater = raters[row["rater_id"]] = Rater.objects.create(
                study=study, external_id=row["rater_id"], source=Rater.Source.IMPORTED
            )
        if DiversityAssignment.objects.filter(rater=rater, comparison=comparison).exists():
            raise ImportFailed(f"{where}: study {study.slug} already has this judgement by {row['rater_id']}")
        DiversityComparison.objects.filter(pk=comparison.pk).update(slots_taken=F("slots_taken") + 1)
        DiversityAssignment.objects.create(
            rater=rater,
            comparison=comparison,
            prompt=prompt,
            variant_a=variant_a,
            variant_b=variant_b,
            clips_a=[],
            clips_b=[],
            choice=choice,
            status=AssignmentStatus.SUBMITTED,
            submitted_at=created_at,
            listening={"imported_from": path.name},
        )
        created += 1
    if created and not study.diversity_part:
        study.diversity_part = True
        study.save(update_fields=["diversity_part"])
    return RatingsImportResult("diversity judgements", created, len(raters) - raters_before)
