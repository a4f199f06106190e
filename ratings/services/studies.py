"""Studies and their clips: creating a study, importing a manifest of clips."""

import re
from dataclasses import dataclass
from pathlib import Path

import soundfile
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from formats import MANIFEST_COLUMNS, validation

from .. import selectors
from ..audio import (
    FIT_CHOICES,
    LENGTH_TOLERANCE_S,
    AudioError,
    AudioInfo,
    ClipFormat,
    frames_at,
    normalised_wav,
    probe,
)
from ..csv_files import read_csv
from ..errors import ImportFailed, ServiceError
from ..models import (
    Clip,
    Prompt,
    Study,
    Variant,
)

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
    clips_skipped: int = 0  # rows imported before from the same file content (same SHA-256)


@dataclass
class _ManifestRow:
    line: int
    prompt_id: str
    prompt_text: str
    variant: str
    sample_index: int
    path: Path
    audio: AudioInfo


def _manifest_row(folder: Path, row: dict[str, str]) -> tuple[str, str, str, int, Path]:
    """The row's prompt id and text, variant, sample index and audio file, each checked (formats.validation)
    so that every database refuses the same rows for the same reason; Invalid says which and why."""
    for column in MANIFEST_COLUMNS:
        if not row[column]:
            raise validation.Invalid(f"{column} is empty")
    return (
        validation.identifier(row["prompt_id"], name="prompt_id"),
        validation.text(row["prompt_text"], name="prompt_text"),
        validation.identifier(row["variant"], name="variant"),
        validation.whole_number(row["sample_index"], name="sample_index"),
        validation.path_inside(folder, row["path"], name="path"),
    )


def _parse_manifest(manifest: Path) -> list[_ManifestRow]:
    folder = manifest.parent.resolve()
    rows: list[_ManifestRow] = []
    seen: dict[tuple[str, str, int], int] = {}
    prompt_texts: dict[str, str] = {}
    for line, row in read_csv(manifest, MANIFEST_COLUMNS, "manifest"):
        where = f"{manifest.name} line {line}"
        try:
            prompt_id, prompt_text, variant, sample_index, audio_path = _manifest_row(folder, row)
        except validation.Invalid as exc:
            raise ImportFailed(f"{where}: {exc}") from None
        key = (prompt_id, variant, sample_index)
        if key in seen:
            raise ImportFailed(
                f"{where}: duplicate (prompt_id, variant, sample_index) {key}, first on line {seen[key]}"
            )
        seen[key] = line
        if prompt_texts.setdefault(prompt_id, prompt_text) != prompt_text:
            raise ImportFailed(f"{where}: prompt {prompt_id} has two different texts")
        try:
            audio = probe(audio_path)
        except AudioError as exc:
            raise ImportFailed(f"{where}: {exc}") from None
        rows.append(_ManifestRow(line, prompt_id, prompt_text, variant, sample_index, audio_path, audio))
    if not rows:
        raise ImportFailed(f"{manifest.name}: the manifest lists no clips")
    return rows


def study_clip_format(study: Study) -> ClipFormat | None:
    """The format the study's clips were normalised to (that of any of its clips), or None before the first."""
    clip = Clip.objects.filter(prompt__study=study).order_by("id").first()
    if clip is None:
        return None
    with default_storage.open(clip.audio.name, "rb") as handle:
        info = soundfile.info(handle)
    return ClipFormat(info.samplerate, info.channels, info.frames)


def _clip_format(manifest: Path, rows: list[_ManifestRow], study_format: ClipFormat | None, fit: str | None):
    """The format every row is made into: the study's, or for a new study the highest rate and channel
    count of the manifest and its common length. Clips whose length differs (beyond resampling's rounding)
    are refused unless `fit` says to cut the longer ones (trim) or pad the shorter ones with silence (pad)."""
    rate = study_format.sample_rate if study_format else max(row.audio.sample_rate for row in rows)
    channels = study_format.channels if study_format else max(row.audio.channels for row in rows)
    lengths = {row.line: frames_at(row.audio, rate) for row in rows}
    if study_format is not None:
        frames = study_format.frames
    elif fit == "pad":
        frames = max(lengths.values())
    else:
        frames = min(lengths.values())
    tolerance = LENGTH_TOLERANCE_S * rate
    for row in rows:
        longer, shorter = lengths[row.line] - frames > tolerance, frames - lengths[row.line] > tolerance
        if (longer and fit != "trim") or (shorter and fit != "pad"):
            raise ImportFailed(
                f"{manifest.name} line {row.line}: clip {row.path.name} lasts {row.audio.duration_s:.3f} s but "
                f"the study's clips last {frames / rate:.3f} s; clips of one study must be equally long, so "
                f"that none stands out: make them so, or import with --fit {'trim' if longer else 'pad'}"
            )
    return ClipFormat(rate, channels, frames)


def clips_import(
    *,
    study_slug: str,
    manifest: Path,
    fit: str | None = None,
    variant_kind: str = Variant.Kind.EXTERNAL,
    variant_parameters: dict | None = None,
    variant_provenance: dict | None = None,
) -> ClipImportResult:
    """Import a manifest of clips into a study (created if new). All or nothing: on any error,
    nothing is written to the database or to media storage.

    Every clip is normalised to the study's format (16-bit WAV, one rate, channel count, length and
    loudness: ratings/audio.py); clips of another length are refused unless `fit` is "trim" or "pad".
    The SHA-256 kept is that of the source file. Running it again with a manifest that grew adds the
    new rows: a row whose clip the study has from the same file content (its SHA-256) is skipped;
    another file under an existing key is an error."""
    if fit is not None and fit not in FIT_CHOICES:
        raise ImportFailed(f"fit {fit!r} must be one of {', '.join(FIT_CHOICES)}")
    rows = _parse_manifest(Path(manifest))
    existing_study = Study.objects.filter(slug=study_slug).first()
    target = _clip_format(
        Path(manifest), rows, study_clip_format(existing_study) if existing_study else None, fit
    )
    saved_files: list[Clip] = []
    try:
        with transaction.atomic():
            study = study_get_or_create(slug=study_slug)
            prompts = {p.external_id: p for p in study.prompts.all()}
            variants = {v.name: v for v in study.variants.all()}
            created = {"prompts": 0, "variants": 0, "skipped": 0}
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
                existing = Clip.objects.filter(
                    prompt=prompt, variant=variant, sample_index=row.sample_index
                ).first()
                if existing is not None and existing.checksum == row.audio.checksum:
                    created["skipped"] += 1
                    continue
                if existing is not None:
                    raise ImportFailed(
                        f"{Path(manifest).name} line {row.line}: study {study.slug} already has another file "
                        f"for ({row.prompt_id}, {row.variant}, {row.sample_index}); give the new one a new "
                        "variant or sample_index"
                    )
                clip = Clip(
                    prompt=prompt,
                    variant=variant,
                    sample_index=row.sample_index,
                    duration_s=target.duration_s,
                    sample_rate=target.sample_rate,
                    checksum=row.audio.checksum,
                    source_path=str(row.path),
                )
                try:
                    wav = normalised_wav(row.path, target)
                except AudioError as exc:
                    raise ImportFailed(str(exc)) from None
                clip.audio.save(f"{row.path.stem}.wav", ContentFile(wav), save=False)
                saved_files.append(clip)
                clip.save()
    except BaseException:
        for clip in saved_files:
            clip.audio.delete(save=False)
        raise
    selectors.study_clip_stats_forget()  # the session length counts the new clips at once here
    return ClipImportResult(
        study, len(rows) - created["skipped"], created["prompts"], created["variants"], created["skipped"]
    )
