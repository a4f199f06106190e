"""Every write of the ratings app: keyword-only arguments, one transaction each."""

import csv
import itertools
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import selectors
from .audio import AudioError, AudioInfo, probe
from .models import (
    AssignmentStatus,
    CheckItem,
    Clip,
    Criterion,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    RaterFlag,
    Study,
    TaskKind,
    Variant,
)
from .selectors import HEARD_FRACTION, Assignment

MANIFEST_COLUMNS = ("prompt_id", "prompt_text", "variant", "sample_index", "path")
RATINGS_COLUMNS = ("rater_id", "prompt_id", "variant", "criterion", "score", "created_at")
DIVERSITY_COLUMNS = ("rater_id", "prompt_id", "variant_a", "variant_b", "choice", "created_at")
FLAG_COLUMNS = ("rater_id", "reason", "detail", "active", "created_at", "lifted_at")
CRITERIA = tuple(Criterion.values)
DIVERSITY_PROMPTS_DEFAULT = 50
# The attention item of the quality study: a prompt the clips plainly do not match.
ATTENTION_QUALITY_EXPECTED = {Criterion.TEXT_ADHERENCE.value: [1, 2]}
HEADPHONE_TRIALS = 6
HEADPHONE_PASS_MARK = 5


class ServiceError(ValueError):
    """A request the platform refuses; the message says what was wrong and what to do."""


class ImportFailed(ServiceError):
    pass


# --- studies and clips -------------------------------------------------------------------------


def study_get_or_create(*, slug: str, title: str = "", raters_per_prompt: int | None = None) -> Study:
    # The slug names the study in URLs and in the media folder: nothing else may get in.
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", slug):
        raise ServiceError(f"study slug {slug!r} must be 1–50 letters, digits, '-' or '_'")
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
    *,
    study_slug: str,
    manifest: Path,
    variant_kind: str = Variant.Kind.EXTERNAL,
    variant_parameters: dict | None = None,
    variant_provenance: dict | None = None,
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
                        provenance={"manifest": str(Path(manifest).resolve()), **(variant_provenance or {})},
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


# --- handing out work ------------------------------------------------------------------------------


class RaterExcluded(ServiceError):
    pass


def task_next(*, rater: Rater, kinds: tuple[str, ...] | None = None) -> Assignment | None:
    """The rater's open assignment, or a new one, or None when nothing is left for them.

    A new item is a check (attention or gold item) when one is due at the study's attention rate,
    otherwise a claim on the least-covered prompt (quality) or comparison (diversity) the rater has
    not had, taking first the kind the rater has done less of. Safe under concurrency: slots are
    claimed with a conditional UPDATE, so nothing passes the study's N raters, and partial unique
    indexes keep one open assignment per rater and kind.
    """
    kinds = selectors.study_task_kinds(rater.study) if kinds is None else kinds
    try:
        return _task_claim(rater, kinds)
    except IntegrityError:
        # The same rater asked twice at once and the other request won: return its assignment.
        return selectors.rater_open_assignment(rater, kinds)


def quality_assignment_next(*, rater: Rater) -> QualityAssignment | None:
    return task_next(rater=rater, kinds=(TaskKind.QUALITY,))


def diversity_assignment_next(*, rater: Rater) -> DiversityAssignment | None:
    return task_next(rater=rater, kinds=(TaskKind.DIVERSITY,))


@transaction.atomic
def _task_claim(rater: Rater, kinds: tuple[str, ...]) -> Assignment | None:
    # Lock the rater row alone (of=self): locking the joined study would serialise every rater.
    rater = Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater.pk)
    open_assignment = selectors.rater_open_assignment(rater, kinds)
    if open_assignment is not None:
        return open_assignment
    study = rater.study
    if not study.is_open or rater.excluded or selectors.rater_onboarding_step(rater):
        return None
    # A plain study (one part, no cap, no checks) needs no counts: spare the queries on the busiest path.
    counts = None
    if len(kinds) > 1 or study.max_items_per_rater is not None or study.attention_rate > 0:
        counts = selectors.rater_counts(rater)
    if counts and study.max_items_per_rater is not None and counts.taken >= study.max_items_per_rater:
        return None
    check_due = counts is not None and selectors.attention_check_due(rater, counts)
    regular = counts.regular if counts else {}
    for kind in sorted(kinds, key=lambda k: (regular.get(k, 0), k != TaskKind.QUALITY)):
        if check_due and selectors.claimable_by(rater, kind).exists():
            check = _check_assignment_create(rater, kind)
            if check is not None:
                return check
        claimed = _quality_claim(rater) if kind == TaskKind.QUALITY else _diversity_claim(rater)
        if claimed is not None:
            return claimed
    return None


def _quality_claim(rater: Rater) -> QualityAssignment | None:
    limit = rater.study.raters_per_prompt
    candidates = selectors.quality_prompts_claimable_by(rater)
    # On PostgreSQL, first take the least-covered prompt no other request holds (SKIP LOCKED), so
    # raters arriving together spread over prompts instead of queueing on one row; then, if every
    # candidate was held, wait on them in order. SQLite serialises writers and ignores the lock.
    unheld = (
        Prompt.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=candidates.values("id"))
        .order_by("quality_slots_taken", "id")
        .values_list("id", flat=True)[:1]
    )
    for prompt_id in [*unheld, *candidates.values_list("id", flat=True)]:
        claimed = Prompt.objects.filter(pk=prompt_id, quality_slots_taken__lt=limit).update(
            quality_slots_taken=F("quality_slots_taken") + 1
        )
        if claimed:
            prompt = Prompt.objects.get(pk=prompt_id)
            clip_ids = [clip.pk for clip in selectors.prompt_quality_clips(prompt)]
            random.SystemRandom().shuffle(clip_ids)
            return QualityAssignment.objects.create(rater=rater, prompt=prompt, clip_order=clip_ids)
    return None


def _two_samples(prompt: Prompt, variant: Variant, rng: random.Random) -> list[int]:
    ids = list(Clip.objects.filter(prompt=prompt, variant=variant).values_list("id", flat=True))
    if len(ids) < 2:
        raise ServiceError(
            f"variant {variant.name} has {len(ids)} sample(s) for prompt {prompt.external_id}; a diversity "
            "comparison needs 2"
        )
    return rng.sample(ids, 2)


def _diversity_claim(rater: Rater) -> DiversityAssignment | None:
    limit = rater.study.raters_per_prompt
    rng = random.SystemRandom()
    for comparison_id in selectors.diversity_comparisons_claimable_by(rater).values_list("id", flat=True):
        claimed = DiversityComparison.objects.filter(pk=comparison_id, slots_taken__lt=limit).update(
            slots_taken=F("slots_taken") + 1
        )
        if claimed:
            comparison = DiversityComparison.objects.select_related("prompt", "variant_x", "variant_y").get(
                pk=comparison_id
            )
            variant_a, variant_b = rng.sample([comparison.variant_x, comparison.variant_y], 2)
            return DiversityAssignment.objects.create(
                rater=rater,
                comparison=comparison,
                prompt=comparison.prompt,
                variant_a=variant_a,
                variant_b=variant_b,
                clips_a=_two_samples(comparison.prompt, variant_a, rng),
                clips_b=_two_samples(comparison.prompt, variant_b, rng),
            )
    return None


# --- attention and gold items --------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 2}


def _check_assignment_create(rater: Rater, kind: str) -> Assignment | None:
    """Serve the rater a gold item they have not met, else a fresh attention item; None if neither fits."""
    rng = random.SystemRandom()
    gold = list(selectors.check_items_unseen_by(rater, kind))
    item = rng.choice(gold) if gold else None
    if item is None:
        item = (
            _quality_attention_item(rater, rng)
            if kind == TaskKind.QUALITY
            else _diversity_attention_item(rater, rng)
        )
    if item is None:
        return None
    if kind == TaskKind.QUALITY:
        clip_order = list(item.clips)
        rng.shuffle(clip_order)
        return QualityAssignment.objects.create(
            rater=rater, prompt=item.prompt, clip_order=clip_order, check_item=item, holds_slot=False
        )
    clips = Clip.objects.in_bulk([*item.clips["A"], *item.clips["B"]])
    return DiversityAssignment.objects.create(
        rater=rater,
        prompt=item.prompt,
        variant_a_id=clips[item.clips["A"][0]].variant_id,
        variant_b_id=clips[item.clips["B"][0]].variant_id,
        clips_a=item.clips["A"],
        clips_b=item.clips["B"],
        check_item=item,
        holds_slot=False,
    )


def _quality_attention_item(rater: Rater, rng: random.Random) -> CheckItem | None:
    """Clips of one prompt shown with the text of another, the one sharing the fewest words with it."""
    sources = list(Prompt.objects.filter(study_id=rater.study_id, clips__isnull=False).distinct())
    seen = set(rater.quality_assignments.values_list("prompt_id", flat=True))
    unseen = [p for p in sources if p.pk not in seen]
    # A prompt the rater could still rate would be spent on the check: prefer one already covered.
    claimable = set(selectors.quality_prompts_claimable_by(rater).values_list("id", flat=True))
    shown_candidates = [p for p in unseen if p.pk not in claimable] or unseen
    if not shown_candidates:
        return None
    shown = rng.choice(shown_candidates)
    others = [p for p in sources if p.pk != shown.pk]
    if not others:
        return None
    rng.shuffle(others)
    source = min(others, key=lambda p: len(_words(p.text) & _words(shown.text)))
    return CheckItem.objects.create(
        study_id=rater.study_id,
        kind=TaskKind.QUALITY,
        source=CheckItem.Source.ATTENTION,
        prompt=shown,
        clips=[clip.pk for clip in selectors.prompt_quality_clips(source)],
        expected=ATTENTION_QUALITY_EXPECTED,
        note=f"clips of {source.external_id} shown with the text of {shown.external_id}",
    )


def _diversity_attention_item(rater: Rater, rng: random.Random) -> CheckItem | None:
    """A comparison in which one pair is the same clip twice: the other pair must be judged more diverse."""
    comparisons = list(selectors.diversity_comparisons_claimable_by(rater).select_related("prompt")[:20])
    if not comparisons:
        return None
    comparison = rng.choice(comparisons)
    same, other = rng.sample([comparison.variant_x, comparison.variant_y], 2)
    twin = rng.choice(
        list(Clip.objects.filter(prompt=comparison.prompt, variant=same).values_list("id", flat=True))
    )
    pairs = {"A": [twin, twin], "B": _two_samples(comparison.prompt, other, rng)}
    expected = [1, 2]  # B more diverse
    if rng.random() < 0.5:
        pairs = {"A": pairs["B"], "B": pairs["A"]}
        expected = [-2, -1]
    return CheckItem.objects.create(
        study_id=rater.study_id,
        kind=TaskKind.DIVERSITY,
        source=CheckItem.Source.ATTENTION,
        prompt=comparison.prompt,
        clips=pairs,
        expected={"choice": expected},
        note=f"identical clips as one pair of {comparison}",
    )


def _clip_by_key(study: Study, key: str) -> Clip:
    try:
        prompt_id, variant, sample_index = key.rsplit(":", 2)
        return Clip.objects.get(
            prompt__study=study,
            prompt__external_id=prompt_id,
            variant__name=variant,
            sample_index=int(sample_index),
        )
    except (ValueError, Clip.DoesNotExist):
        raise ServiceError(
            f"no clip {key!r} in study {study.slug}; name clips as PROMPT_ID:VARIANT:SAMPLE_INDEX"
        ) from None


def _expected_range(low_high: Iterable[int], scale: range, what: str) -> list[int]:
    low, high = low_high
    if low > high or low not in scale or high not in scale:
        raise ServiceError(
            f"{what}: expected range {low}..{high} must lie within {scale.start}..{scale.stop - 1}"
        )
    return [low, high]


@transaction.atomic
def gold_item_create(
    *,
    study: Study,
    kind: str,
    prompt_id: str,
    expected: Mapping[str, Iterable[int]],
    clips: Iterable[str] = (),
    pair_a: Iterable[str] = (),
    pair_b: Iterable[str] = (),
    note: str = "",
) -> CheckItem:
    """A researcher's item with a known answer. Clips are named PROMPT_ID:VARIANT:SAMPLE_INDEX.

    Quality: the clips, shown with the prompt's text; expected maps criteria to [low, high] for every clip.
    Diversity: two clips per pair; expected is {"choice": [low, high]} within −2..+2.
    """
    prompt = Prompt.objects.filter(study=study, external_id=prompt_id).first()
    if prompt is None:
        raise ServiceError(f"prompt {prompt_id!r} is not in study {study.slug}")
    if kind == TaskKind.QUALITY:
        layout = [_clip_by_key(study, key).pk for key in clips]
        if not layout:
            raise ServiceError("a quality gold item needs at least one clip")
        unknown = sorted(set(expected) - set(CRITERIA))
        if unknown or not expected:
            raise ServiceError(f"expected criteria must be among {', '.join(CRITERIA)}")
        answer = {c: _expected_range(v, range(1, 6), c) for c, v in expected.items()}
    elif kind == TaskKind.DIVERSITY:
        layout = {
            "A": [_clip_by_key(study, k).pk for k in pair_a],
            "B": [_clip_by_key(study, k).pk for k in pair_b],
        }
        if len(layout["A"]) != 2 or len(layout["B"]) != 2:
            raise ServiceError("a diversity gold item needs exactly two clips in each pair")
        if set(expected) != {"choice"}:
            raise ServiceError('a diversity gold item expects {"choice": [low, high]}')
        answer = {"choice": _expected_range(expected["choice"], range(-2, 3), "choice")}
    else:
        raise ServiceError(f"kind must be quality or diversity, not {kind!r}")
    return CheckItem.objects.create(
        study=study,
        kind=kind,
        source=CheckItem.Source.GOLD,
        prompt=prompt,
        clips=layout,
        expected=answer,
        note=note,
    )


def _quality_check_passed(assignment: QualityAssignment) -> bool:
    expected = assignment.check_item.expected
    for rating in assignment.ratings.all():
        if rating.criterion in expected:
            low, high = expected[rating.criterion]
            if not low <= rating.score <= high:
                return False
    return True


def _check_recorded(assignment: Assignment, passed: bool) -> None:
    """Keep the check's outcome; a failure past the study's allowance excludes the rater at once."""
    type(assignment).objects.filter(pk=assignment.pk).update(check_passed=passed)
    assignment.check_passed = passed
    if not passed:
        rater = assignment.rater
        for reason, detail in selectors.rater_screening_findings(rater):
            if reason == RaterFlag.Reason.ATTENTION:
                rater_flag(rater=rater, reason=reason, detail=detail)


# --- diversity plan --------------------------------------------------------------------------------


@dataclass
class DiversityPlanResult:
    prompts: int
    pairs: list[tuple[str, str]]
    comparisons_created: int


@transaction.atomic
def diversity_plan(
    *,
    study: Study,
    variants: Iterable[str],
    baseline: str | None = None,
    prompts: int = DIVERSITY_PROMPTS_DEFAULT,
    seed: int = 0,
    diversity_only: bool = False,
) -> DiversityPlanResult:
    """Plan the diversity comparisons: every pair of the variants, or each against the baseline, on
    `prompts` prompts (drawn with `seed`) where every variant has at least two samples.
    Planning again adds what is missing and never removes a comparison. `diversity_only` turns the
    study's quality part off."""
    names = list(dict.fromkeys(v.strip() for v in variants if v.strip()))
    if baseline and baseline not in names:
        names.insert(0, baseline)
    if len(names) < 2:
        raise ServiceError("a diversity study needs at least two variants")
    if prompts < 1:
        raise ServiceError("prompts must be at least 1")
    known = {v.name: v for v in study.variants.filter(name__in=names)}
    missing = [name for name in names if name not in known]
    if missing:
        raise ServiceError(f"variant(s) {', '.join(missing)} not in study {study.slug}")
    samples = (
        Clip.objects.filter(prompt__study=study, variant__name__in=names)
        .values("prompt_id", "variant__name")
        .annotate(n=Count("id"))
    )
    enough: dict[int, set[str]] = {}
    for row in samples:
        if row["n"] >= 2:
            enough.setdefault(row["prompt_id"], set()).add(row["variant__name"])
    for name in names:
        if not any(name in have for have in enough.values()):
            raise ServiceError(
                f"variant {name} has fewer than 2 samples for every prompt; a diversity study needs 2 per prompt "
                "(import them with distinct sample_index)"
            )
    eligible = sorted(prompt_id for prompt_id, have in enough.items() if have >= set(names))
    if not eligible:
        raise ServiceError(f"no prompt has 2 samples of each of {', '.join(names)}")
    chosen = sorted(random.Random(seed).sample(eligible, min(prompts, len(eligible))))
    if baseline:
        pairs = [(known[baseline], known[name]) for name in names if name != baseline]
    else:
        pairs = [(known[a], known[b]) for a, b in itertools.combinations(names, 2)]
    created = 0
    for prompt_id in chosen:
        for first, second in pairs:
            x, y = sorted((first, second), key=lambda v: v.pk)
            _, was_created = DiversityComparison.objects.get_or_create(
                study=study, prompt_id=prompt_id, variant_x=x, variant_y=y
            )
            created += was_created
    study.diversity_part = True
    study.quality_part = study.quality_part and not diversity_only
    study.save(update_fields=["diversity_part", "quality_part"])
    return DiversityPlanResult(len(chosen), [(a.name, b.name) for a, b in pairs], created)


@dataclass
class SubmitResult:
    assignment: Assignment
    already_submitted: bool


class SubmissionRejected(ServiceError):
    def __init__(self, message: str, problems: Iterable[str] = ()):
        super().__init__(message)
        self.problems = list(problems) or [message]


@dataclass
class ClipListening:
    """What the page saw of one clip: plays started, seconds heard, whether it reached the end."""

    plays: int = 0
    seconds: float = 0.0
    ended: bool = False
    # The player's events in order, as [event, position in seconds]: play, pause, seeked, ended.
    events: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "plays": self.plays,
            "seconds": round(self.seconds, 2),
            "ended": self.ended,
            "events": self.events,
        }


@dataclass
class QualitySubmission:
    scores: Mapping[tuple[str, str], int]  # (clip label, criterion) → 1..5
    listening: Mapping[str, ClipListening] = field(default_factory=dict)  # clip label → evidence


@dataclass
class DiversitySubmission:
    choice: int | None  # −2 (A much more diverse) … +2 (B much more diverse)
    listening: Mapping[str, ClipListening] = field(default_factory=dict)  # A1, A2, B1, B2 → evidence


def _locked_for_submission(model, assignment: Assignment) -> Assignment | SubmitResult:
    """The assignment locked for update, or the answer when it cannot take a submission."""
    rater = _lock_rater(assignment.rater_id)
    locked = model.objects.select_for_update().get(pk=assignment.pk)
    locked.rater = rater
    if locked.status == AssignmentStatus.SUBMITTED:
        return SubmitResult(locked, already_submitted=True)
    if rater.excluded:
        raise RaterExcluded("You can no longer take part in this study, so this answer was not saved.")
    if locked.status == AssignmentStatus.WITHDRAWN:
        raise SubmissionRejected("This item was withdrawn by the researchers; carry on with the next one.")
    return locked


def _listening_problems(
    labelled: list[tuple[str, Clip]], listening: Mapping[str, ClipListening]
) -> list[str]:
    problems = []
    unknown = sorted(set(listening) - {label for label, _ in labelled})
    if unknown:
        problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
    for label, clip in labelled:
        heard = listening.get(label)
        heard_enough = heard is not None and heard.seconds >= HEARD_FRACTION * clip.duration_s
        if heard is None or not heard.ended or not heard_enough:
            problems.append(f"Clip {label}: play it to the end before rating.")
    return problems


def quality_rating_submit(*, assignment: QualityAssignment, submission: QualitySubmission) -> SubmitResult:
    """Store the ratings of one assignment, exactly once.

    Refused, with nothing saved, when a score is missing or outside 1..5, a clip was not played to
    the end, the item was withdrawn or the rater is excluded. A second submission changes nothing.
    """
    with transaction.atomic():
        locked = _locked_for_submission(QualityAssignment, assignment)
        if isinstance(locked, SubmitResult):
            return locked
        assignment = locked
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
        if assignment.check_item_id is not None:
            _check_recorded(assignment, _quality_check_passed(assignment))
    return SubmitResult(assignment, already_submitted=False)


def _quality_submission_problems(
    labelled: list[tuple[str, Clip]], submission: QualitySubmission
) -> list[str]:
    problems = []
    labels = {label for label, _ in labelled}
    unknown = sorted({label for label, _ in submission.scores} - labels)
    if unknown:
        problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
    for label, _clip in labelled:
        for criterion in CRITERIA:
            score = submission.scores.get((label, criterion))
            name = Criterion(criterion).label.lower()
            if score is None:
                problems.append(f"Clip {label}: choose a score for {name}.")
            elif not 1 <= score <= 5:
                problems.append(f"Clip {label}: {name} must be between 1 and 5, not {score}.")
    return problems + _listening_problems(labelled, submission.listening)


def diversity_judgement_submit(
    *, assignment: DiversityAssignment, submission: DiversitySubmission
) -> SubmitResult:
    """Store the answer of one comparison, exactly once; refused like quality_rating_submit when the
    answer is missing or outside −2..+2 or a clip was not played to the end."""
    with transaction.atomic():
        locked = _locked_for_submission(DiversityAssignment, assignment)
        if isinstance(locked, SubmitResult):
            return locked
        assignment = locked
        labelled = selectors.diversity_clips_in_order(assignment)
        problems = []
        if submission.choice is None:
            problems.append("Choose which pair is more diverse.")
        elif not -2 <= submission.choice <= 2:
            problems.append(f"The answer must be between -2 and +2, not {submission.choice}.")
        problems += _listening_problems(labelled, submission.listening)
        if problems:
            raise SubmissionRejected(problems[0], problems)
        assignment.choice = submission.choice
        assignment.status = AssignmentStatus.SUBMITTED
        assignment.submitted_at = timezone.now()
        assignment.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        assignment.save(update_fields=["choice", "status", "submitted_at", "listening"])
        if assignment.check_item_id is not None:
            low, high = assignment.check_item.expected["choice"]
            _check_recorded(assignment, low <= assignment.choice <= high)
    return SubmitResult(assignment, already_submitted=False)


# --- exclusion flags, screening and re-opening -----------------------------------------------------


_SLOT_COUNTERS = (
    (QualityAssignment, Prompt, "prompt_id", "quality_slots_taken"),
    (DiversityAssignment, DiversityComparison, "comparison_id", "slots_taken"),
)


def _release_slot(assignment: Assignment) -> None:
    """Stop counting an assignment toward its prompt's or comparison's N, withdrawing it if open."""
    for model, counter_model, key, counter in _SLOT_COUNTERS:
        if isinstance(assignment, model):
            released = model.objects.filter(pk=assignment.pk, holds_slot=True).update(holds_slot=False)
            model.objects.filter(pk=assignment.pk, status=AssignmentStatus.OPEN).update(
                status=AssignmentStatus.WITHDRAWN
            )
            if released and getattr(assignment, key) is not None:
                counter_model.objects.filter(pk=getattr(assignment, key)).update(**{counter: F(counter) - 1})


def _rater_release(rater: Rater) -> None:
    # Counters in one order (by prompt or comparison id) in every release, so that two raters excluded
    # at once, who met the same prompts in other orders, never wait on each other's counters: a deadlock.
    for model, _, key, _ in _SLOT_COUNTERS:
        assignments = model.objects.filter(rater=rater).exclude(status=AssignmentStatus.WITHDRAWN)
        for assignment in assignments.order_by(key, "pk"):
            if assignment.holds_slot or assignment.status == AssignmentStatus.OPEN:
                _release_slot(assignment)


def _rater_restore(rater: Rater) -> None:
    """Count the submitted items of a rater again (the prompts may then pass N: more data, not less)."""
    for model, counter_model, key, counter in _SLOT_COUNTERS:
        for assignment in model.objects.filter(
            rater=rater, status=AssignmentStatus.SUBMITTED, holds_slot=False, check_item__isnull=True
        ).order_by(key, "pk"):  # one order, as in _rater_release
            if model.objects.filter(pk=assignment.pk, holds_slot=False).update(holds_slot=True):
                counter_model.objects.filter(pk=getattr(assignment, key)).update(**{counter: F(counter) + 1})


def _lock_rater(rater_id: int) -> Rater:
    """Every write that touches a rater's assignments locks the rater row first, then the assignments,
    then the prompt or comparison counters: one order everywhere, so no two writes deadlock."""
    return Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater_id)


@transaction.atomic
def rater_flag(*, rater: Rater, reason: str, detail: str) -> RaterFlag:
    """Exclude a rater for a reason, once: a flag a researcher lifted stays lifted unless the reason is
    manual. The rater's prompts and comparisons go back into the pool."""
    _lock_rater(rater.pk)
    flag, created = RaterFlag.objects.get_or_create(
        rater=rater, reason=reason, defaults={"detail": detail[:300]}
    )
    if not created and reason == RaterFlag.Reason.MANUAL and not flag.active:
        flag.active, flag.detail, flag.lifted_at, flag.lifted_by = True, detail[:300], None, ""
        flag.save(update_fields=["active", "detail", "lifted_at", "lifted_by"])
    if flag.active:
        Rater.objects.filter(pk=rater.pk).update(excluded=True)
        rater.excluded = True
        _rater_release(rater)
    return flag


@transaction.atomic
def rater_flag_lift(*, flag: RaterFlag, by: str = "") -> RaterFlag:
    """Reverse an exclusion; with no other active flag the rater counts again and may continue."""
    _lock_rater(flag.rater_id)
    flag = RaterFlag.objects.select_related("rater").get(pk=flag.pk)
    if flag.active:
        flag.active, flag.lifted_at, flag.lifted_by = False, timezone.now(), by[:150]
        flag.save(update_fields=["active", "lifted_at", "lifted_by"])
        if not selectors.rater_is_excluded(flag.rater):
            Rater.objects.filter(pk=flag.rater_id).update(excluded=False)
            _rater_restore(flag.rater)
    return flag


def raters_screen(*, study: Study) -> list[RaterFlag]:
    """Apply every screening rule to every rater of the study; returns the flags that are active now
    and were not before. Nothing is deleted; lifted flags stay lifted."""
    new_flags = []
    for rater in study.raters.select_related("study"):
        for reason, detail in selectors.rater_screening_findings(rater):
            existed = RaterFlag.objects.filter(rater=rater, reason=reason).exists()
            flag = rater_flag(rater=rater, reason=reason, detail=detail)
            if not existed and flag.active:
                new_flags.append(flag)
    return new_flags


@transaction.atomic
def assignment_reopen(*, assignment: Assignment) -> bool:
    """Give an open item back to the pool (a rater left it): withdrawn, its slot free for another rater."""
    _lock_rater(assignment.rater_id)
    locked = type(assignment).objects.select_for_update().get(pk=assignment.pk)
    if locked.status != AssignmentStatus.OPEN:
        return False
    _release_slot(locked)
    return True


# --- before the first task: consent, instructions, headphone check ----------------------------------


@transaction.atomic
def rater_consent(*, rater: Rater) -> None:
    Rater.objects.filter(pk=rater.pk, consented_at__isnull=True).update(consented_at=timezone.now())


@transaction.atomic
def rater_instructions_read(*, rater: Rater) -> None:
    Rater.objects.filter(pk=rater.pk, instructions_read_at__isnull=True).update(
        instructions_read_at=timezone.now()
    )


@transaction.atomic
def headphone_check_start(*, rater: Rater) -> list[dict]:
    """The rater's trials, drawn once: per trial the position (0–2) of the quieter tone and of the antiphase one."""
    rater = Rater.objects.select_for_update(of=("self",)).get(pk=rater.pk)
    # Answers kept but no verdict: a researcher cleared the verdict for another attempt; draw anew.
    retry = rater.headphone_passed is None and bool(rater.headphone_answers)
    if not rater.headphone_trials or retry:
        rng = random.SystemRandom()
        trials = []
        for _ in range(HEADPHONE_TRIALS):
            quiet, antiphase = rng.sample(range(3), 2)
            trials.append({"quiet": quiet, "antiphase": antiphase})
        rater.headphone_trials, rater.headphone_answers = trials, []
        rater.save(update_fields=["headphone_trials", "headphone_answers"])
    return rater.headphone_trials


@transaction.atomic
def headphone_check_submit(*, rater: Rater, answers: list[int]) -> bool:
    """Score the check once (answers: the position picked as quietest per trial). Passing needs
    HEADPHONE_PASS_MARK of HEADPHONE_TRIALS right; a failure is final."""
    rater = Rater.objects.select_for_update(of=("self",)).get(pk=rater.pk)
    if rater.headphone_passed is not None:
        return rater.headphone_passed
    if not rater.headphone_trials:
        raise ServiceError("Open the headphone check first.")
    if len(answers) != len(rater.headphone_trials):
        raise SubmissionRejected(f"Answer all {len(rater.headphone_trials)} questions.")
    right = sum(
        answer == trial["quiet"] for answer, trial in zip(answers, rater.headphone_trials, strict=True)
    )
    rater.headphone_answers = list(answers)
    rater.headphone_passed = right >= HEADPHONE_PASS_MARK
    rater.save(update_fields=["headphone_answers", "headphone_passed"])
    return rater.headphone_passed


# --- crowd platforms -------------------------------------------------------------------------------


class EntryRefused(ServiceError):
    pass


def prolific_rater_enter(
    *, study: Study, prolific_pid: str, study_id: str = "", session_id: str = ""
) -> Rater:
    """The rater for a Prolific participant: created on the first visit, the same one on every return."""
    pid = prolific_pid.strip()
    if not study.accepts_prolific:
        raise EntryRefused("This study does not take participants from Prolific.")
    if not pid:
        raise EntryRefused(
            "The link is missing your Prolific ID (PROLIFIC_PID); open the study again from Prolific."
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", pid):
        raise EntryRefused("The Prolific ID in the link is malformed; open the study again from Prolific.")
    if study.prolific_study_id and study_id != study.prolific_study_id:
        raise EntryRefused("This link belongs to another Prolific study; open the study again from Prolific.")
    try:
        with transaction.atomic():
            rater, created = Rater.objects.get_or_create(
                study=study,
                external_id=pid,
                defaults={
                    "source": Rater.Source.PROLIFIC,
                    "platform_study_id": study_id,
                    "platform_session_id": session_id,
                },
            )
    except IntegrityError:  # the same participant opened the link twice at once
        rater, created = Rater.objects.get(study=study, external_id=pid), False
    if not created and rater.source != Rater.Source.PROLIFIC:
        raise EntryRefused("This ID is already taken by another rater of the study.")
    if not created and session_id and rater.platform_session_id != session_id:
        Rater.objects.filter(pk=rater.pk).update(platform_session_id=session_id)
    return rater


@transaction.atomic
def rater_finish(*, rater: Rater) -> None:
    Rater.objects.filter(pk=rater.pk, finished_at__isnull=True).update(finished_at=timezone.now())


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
    for line, row in _read_csv(path, DIVERSITY_COLUMNS, "diversity file"):
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
        if not row["rater_id"]:
            raise ImportFailed(f"{where}: rater_id is empty")
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
