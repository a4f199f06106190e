"""Every write of the ratings app: keyword-only arguments, one transaction each."""

import csv
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import selectors
from .audio import AudioError, AudioInfo, probe
from .models import (
    AssignmentStatus,
    Clip,
    Criterion,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    Study,
    Variant,
)

MANIFEST_COLUMNS = ("prompt_id", "prompt_text", "variant", "sample_index", "path")
RATINGS_COLUMNS = ("rater_id", "prompt_id", "variant", "criterion", "score", "created_at")
CRITERIA = tuple(Criterion.values)
# A clip counts as played when the player reached its end having played this much of it (skips allowed).
HEARD_FRACTION = 0.9


class ServiceError(ValueError):
    """A request the platform refuses; the message says what was wrong and what to do."""


class ImportFailed(ServiceError):
    pass


# --- studies and clips -------------------------------------------------------------------------


def study_get_or_create(*, slug: str, title: str = "", raters_per_prompt: int | None = None) -> Study:
    defaults = {"title": title or slug}
    if raters_per_prompt is not None:
        defaults["raters_per_prompt"] = raters_per_prompt
    study, _ = Study.objects.get_or_create(slug=slug, defaults=defaults)
    return study


@dataclass
class ClipImportResult:
    study: Study
    clips_created: int
    prompts_created: int
    variants_created: int


@dataclass
class _ManifestRow:
    line: int
    prompt_id: str
    prompt_text: str
    variant: str
    sample_index: int
    path: Path
    audio: AudioInfo


def _read_csv(path: Path, expected: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            _check_header(header, expected, path.name, what)
            rows = []
            for row in reader:
                if None in row or any(value is None for value in row.values()):
                    raise ImportFailed(
                        f"{path.name} line {reader.line_num}: expected {len(expected)} columns"
                    )
                rows.append((reader.line_num, {key: value.strip() for key, value in row.items()}))
            return rows
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise ImportFailed(f"{path.name}: malformed CSV ({exc})") from None


def _check_header(header: tuple[str, ...], expected: tuple[str, ...], name: str, what: str) -> None:
    unknown = [column for column in header if column not in expected]
    missing = [column for column in expected if column not in header]
    if unknown:
        raise ImportFailed(
            f"{name}: unknown column(s) {', '.join(unknown)}; a {what} has {','.join(expected)}"
        )
    if missing:
        raise ImportFailed(
            f"{name}: missing column(s) {', '.join(missing)}; a {what} has {','.join(expected)}"
        )


def _parse_manifest(manifest: Path) -> list[_ManifestRow]:
    folder = manifest.parent.resolve()
    rows: list[_ManifestRow] = []
    seen: dict[tuple[str, str, int], int] = {}
    prompt_texts: dict[str, str] = {}
    for line, row in _read_csv(manifest, MANIFEST_COLUMNS, "manifest"):
        where = f"{manifest.name} line {line}"
        for column in MANIFEST_COLUMNS:
            if not row[column]:
                raise ImportFailed(f"{where}: {column} is empty")
        try:
            sample_index = int(row["sample_index"])
        except ValueError:
            raise ImportFailed(
                f"{where}: sample_index {row['sample_index']!r} is not a whole number"
            ) from None
        if sample_index < 0:
            raise ImportFailed(f"{where}: sample_index must be 0 or more")
        key = (row["prompt_id"], row["variant"], sample_index)
        if key in seen:
            raise ImportFailed(
                f"{where}: duplicate (prompt_id, variant, sample_index) {key}, first on line {seen[key]}"
            )
        seen[key] = line
        if prompt_texts.setdefault(row["prompt_id"], row["prompt_text"]) != row["prompt_text"]:
            raise ImportFailed(f"{where}: prompt {row['prompt_id']} has two different texts")
        relative = Path(row["path"])
        if relative.is_absolute():
            raise ImportFailed(f"{where}: path must be relative to the manifest's folder")
        audio_path = (folder / relative).resolve()
        if not audio_path.is_file():
            raise ImportFailed(f"{where}: audio file {row['path']} not found")
        try:
            audio = probe(audio_path)
        except AudioError as exc:
            raise ImportFailed(f"{where}: {exc}") from None
        rows.append(
            _ManifestRow(
                line, row["prompt_id"], row["prompt_text"], row["variant"], sample_index, audio_path, audio
            )
        )
    if not rows:
        raise ImportFailed(f"{manifest.name}: the manifest lists no clips")
    return rows


def clips_import(
    *, study_slug: str, manifest: Path, variant_kind: str = Variant.Kind.EXTERNAL, variant_parameters=None
) -> ClipImportResult:
    """Import a manifest of clips into a study (created if new). All or nothing: on any error,
    nothing is written to the database or to media storage."""
    rows = _parse_manifest(Path(manifest))
    saved_files: list[Clip] = []
    try:
        with transaction.atomic():
            study = study_get_or_create(slug=study_slug)
            prompts = {p.external_id: p for p in study.prompts.all()}
            variants = {v.name: v for v in study.variants.all()}
            created = {"prompts": 0, "variants": 0}
            for row in rows:
                prompt = prompts.get(row.prompt_id)
                if prompt is None:
                    prompt = prompts[row.prompt_id] = Prompt.objects.create(
                        study=study, external_id=row.prompt_id, text=row.prompt_text
                    )
                    created["prompts"] += 1
                elif prompt.text != row.prompt_text:
                    raise ImportFailed(
                        f"{Path(manifest).name} line {row.line}: prompt {row.prompt_id} already exists "
                        f"in study {study.slug} with another text"
                    )
                variant = variants.get(row.variant)
                if variant is None:
                    variant = variants[row.variant] = Variant.objects.create(
                        study=study,
                        name=row.variant,
                        kind=variant_kind,
                        parameters=dict(variant_parameters or {}),
                        provenance={"manifest": str(Path(manifest).resolve())},
                    )
                    created["variants"] += 1
                if Clip.objects.filter(
                    prompt=prompt, variant=variant, sample_index=row.sample_index
                ).exists():
                    raise ImportFailed(
                        f"{Path(manifest).name} line {row.line}: study {study.slug} already has a clip for "
                        f"({row.prompt_id}, {row.variant}, {row.sample_index})"
                    )
                clip = Clip(
                    prompt=prompt,
                    variant=variant,
                    sample_index=row.sample_index,
                    duration_s=row.audio.duration_s,
                    sample_rate=row.audio.sample_rate,
                    checksum=row.audio.checksum,
                    source_path=str(row.path),
                )
                with row.path.open("rb") as handle:
                    clip.audio.save(row.path.name, File(handle), save=False)
                saved_files.append(clip)
                clip.save()
    except BaseException:
        for clip in saved_files:
            clip.audio.delete(save=False)
        raise
    return ClipImportResult(study, len(rows), created["prompts"], created["variants"])


# --- raters and invites ------------------------------------------------------------------------


@transaction.atomic
def raters_invite(*, study: Study, count: int, prefix: str = "rater") -> list[Rater]:
    """Create `count` raters with fresh secret tokens (each rater's invite link carries one)."""
    if count < 1:
        raise ServiceError("count must be at least 1")
    taken = set(study.raters.values_list("external_id", flat=True))
    raters = []
    number = len(taken)
    while len(raters) < count:
        number += 1
        external_id = f"{prefix}-{number:04d}"
        if external_id not in taken:
            raters.append(Rater.objects.create(study=study, external_id=external_id))
    return raters


# --- quality assignments -----------------------------------------------------------------------


def quality_assignment_next(*, rater: Rater) -> QualityAssignment | None:
    """The rater's open assignment, or a new one on the least-covered prompt they have not rated,
    or None when nothing is left for them.

    Safe under concurrency: a prompt's slot is claimed with a conditional UPDATE, so no prompt
    passes the study's N raters, and a partial unique index keeps one open assignment per rater.
    """
    try:
        return _quality_assignment_claim(rater)
    except IntegrityError:
        # The same rater asked twice at once and the other request won: return its assignment.
        return selectors.rater_open_quality_assignment(rater)


@transaction.atomic
def _quality_assignment_claim(rater: Rater) -> QualityAssignment | None:
    # Lock the rater row alone (of=self): locking the joined study would serialise every rater.
    rater = Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater.pk)
    open_assignment = selectors.rater_open_quality_assignment(rater)
    if open_assignment is not None:
        return open_assignment
    if not rater.study.is_open:
        return None
    limit = rater.study.raters_per_prompt
    for prompt_id in selectors.quality_prompts_claimable_by(rater).values_list("id", flat=True):
        claimed = Prompt.objects.filter(pk=prompt_id, quality_slots_taken__lt=limit).update(
            quality_slots_taken=F("quality_slots_taken") + 1
        )
        if claimed:
            prompt = Prompt.objects.get(pk=prompt_id)
            clip_ids = [clip.pk for clip in selectors.prompt_quality_clips(prompt)]
            random.SystemRandom().shuffle(clip_ids)
            return QualityAssignment.objects.create(rater=rater, prompt=prompt, clip_order=clip_ids)
    return None


@dataclass
class SubmitResult:
    assignment: QualityAssignment
    already_submitted: bool


class SubmissionRejected(ServiceError):
    def __init__(self, message: str, problems: Iterable[str] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class ClipListening:
    """What the page saw of one clip: plays started, seconds heard, whether it reached the end."""

    plays: int = 0
    seconds: float = 0.0
    ended: bool = False

    def as_dict(self) -> dict:
        return {"plays": self.plays, "seconds": round(self.seconds, 2), "ended": self.ended}


@dataclass
class QualitySubmission:
    scores: Mapping[tuple[str, str], int]  # (clip label, criterion) → 1..5
    listening: Mapping[str, ClipListening] = field(default_factory=dict)  # clip label → evidence


def quality_rating_submit(*, assignment: QualityAssignment, submission: QualitySubmission) -> SubmitResult:
    """Store the ratings of one assignment, exactly once.

    Refused, with nothing saved, when a score is missing or outside 1..5 or a clip was not played
    to the end. A second submission of a submitted assignment changes nothing.
    """
    with transaction.atomic():
        assignment = QualityAssignment.objects.select_for_update().get(pk=assignment.pk)
        if assignment.status == AssignmentStatus.SUBMITTED:
            return SubmitResult(assignment, already_submitted=True)
        labelled = selectors.assignment_clips_in_order(assignment)
        problems = _quality_submission_problems(labelled, submission)
        if problems:
            raise SubmissionRejected(problems[0], problems)
        now = timezone.now()
        QualityRating.objects.bulk_create(
            QualityRating(
                assignment=assignment,
                clip=clip,
                criterion=criterion,
                score=submission.scores[(label, criterion)],
                created_at=now,
            )
            for label, clip in labelled
            for criterion in CRITERIA
        )
        assignment.status = AssignmentStatus.SUBMITTED
        assignment.submitted_at = now
        assignment.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        assignment.save(update_fields=["status", "submitted_at", "listening"])
    return SubmitResult(assignment, already_submitted=False)


def _quality_submission_problems(
    labelled: list[tuple[str, Clip]], submission: QualitySubmission
) -> list[str]:
    problems = []
    labels = {label for label, _ in labelled}
    unknown = sorted({label for label, _ in submission.scores} - labels)
    if unknown:
        problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
    for label, clip in labelled:
        for criterion in CRITERIA:
            score = submission.scores.get((label, criterion))
            name = Criterion(criterion).label.lower()
            if score is None:
                problems.append(f"Clip {label}: choose a score for {name}.")
            elif not 1 <= score <= 5:
                problems.append(f"Clip {label}: {name} must be between 1 and 5, not {score}.")
        listening = submission.listening.get(label)
        heard_enough = listening is not None and listening.seconds >= HEARD_FRACTION * clip.duration_s
        if listening is None or not listening.ended or not heard_enough:
            problems.append(f"Clip {label}: play it to the end before rating.")
    return problems


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
    raise ImportFailed(
        f"{path.name}: header {','.join(header) or '(empty)'} is not a ratings file; ratings.csv has "
        f"{','.join(RATINGS_COLUMNS)}"
    )


def _parse_created_at(value: str, where: str) -> datetime:
    moment = parse_datetime(value) if value else None
    if moment is None:
        raise ImportFailed(f"{where}: created_at {value!r} is not an ISO 8601 date and time")
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
    for line, row in _read_csv(path, RATINGS_COLUMNS, "ratings file"):
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
        if not row["rater_id"]:
            raise ImportFailed(f"{where}: rater_id is empty")
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
            rater = raters[row["rater_id"]] = Rater.objects.create(study=study, external_id=row["rater_id"])
        assignment = assignments.get((row["rater_id"], row["prompt_id"]))
        if assignment is None:
            assignment = QualityAssignment.objects.filter(rater=rater, prompt=prompt).first()
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
