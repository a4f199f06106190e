"""Factories: real WAV files, real manifests, imported through the real service."""

import csv
from datetime import timedelta
from pathlib import Path

import numpy as np
import soundfile
from django.core.files.storage import default_storage
from django.utils import timezone

import formats
from ratings import services
from ratings.http import ByteRange
from ratings.models import Rater, Study, Task

SAMPLE_RATE = 16000


def write_wav(path: Path, seconds: float = 1.0, frequency: float = 440.0, fmt: str = "WAV") -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * frequency * t), SAMPLE_RATE, format=fmt)
    return path


def write_manifest(folder: Path, rows: list[dict], header=formats.MANIFEST_COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def clip_rows(folder: Path, prompts: int, variants: list[str], samples: int = 1, seconds: float = 1.0):
    rows = []
    for p in range(prompts):
        for v, variant in enumerate(variants):
            for s in range(samples):
                name = f"p{p}_{variant}_{s}.wav"
                write_wav(folder / name, seconds=seconds, frequency=220 + 40 * p + 10 * v + s)
                rows.append(
                    {
                        "prompt_id": f"p{p:03d}",
                        "prompt_text": f"Prompt number {p}",
                        "variant": variant,
                        "sample_index": s,
                        "path": name,
                    }
                )
    return rows


def make_study(
    tmp_path: Path,
    slug="study",
    prompts=4,
    variants=("base", "cfg", "distilled"),
    raters_per_prompt=3,
    seconds=1.0,
) -> Study:
    folder = tmp_path / f"clips-{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = write_manifest(folder, clip_rows(folder, prompts, list(variants), seconds=seconds))
    result = services.clips_import(study_slug=slug, manifest=manifest)
    study = result.study
    study.raters_per_prompt = raters_per_prompt
    study.save(update_fields=["raters_per_prompt"])
    return study


def make_raters(study: Study, count: int) -> list[Rater]:
    return services.raters_invite(study=study, count=count)


def heard(task: Task) -> None:
    """What a rater's browser leaves on the server before answering: every position's audio served in
    full, and the page first shown long enough ago for the clips to have been heard."""
    for label, name in services.task_audio_prepare(task=task).items():
        size = default_storage.size(name)
        services.audio_request_record(
            task=task,
            label=label,
            method="GET",
            range_header="",
            size=size,
            served=ByteRange(0, size - 1, False),
        )
    Task.objects.filter(pk=task.pk).update(shown_at=timezone.now() - timedelta(hours=1))


def full_submission(assignment, score: int = 4) -> services.QualitySubmission:
    """Complete scores and the page's evidence of every clip played; the server's evidence too (heard)."""
    from ratings import selectors

    heard(assignment)
    labelled = selectors.task_clips_in_order(assignment)
    return services.QualitySubmission(
        scores={(label, c): score for label, _ in labelled for c in formats.CRITERIA},
        listening={
            label: services.ClipListening(plays=1, seconds=clip.duration_s, ended=True)
            for label, clip in labelled
        },
    )


def make_diversity_study(
    tmp_path: Path,
    slug="div",
    prompts=3,
    variants=("base", "cfg", "distilled"),
    samples=2,
    raters_per_prompt=3,
    baseline=None,
    seconds=1.0,
    **study_settings,
) -> Study:
    """A study whose variants have `samples` clips per prompt, its diversity comparisons planned
    (every pair, or each against `baseline`); the same clips also make its quality part."""
    folder = tmp_path / f"clips-{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = write_manifest(folder, clip_rows(folder, prompts, list(variants), samples, seconds))
    study = services.clips_import(study_slug=slug, manifest=manifest).study
    study.raters_per_prompt = raters_per_prompt
    for name, value in study_settings.items():
        setattr(study, name, value)
    study.save()
    services.diversity_plan(study=study, variants=list(variants), baseline=baseline, prompts=prompts)
    return study


def full_judgement(assignment, choice: int = 1) -> services.DiversitySubmission:
    from ratings import selectors

    heard(assignment)
    return services.DiversitySubmission(
        choice=choice,
        listening={
            label: services.ClipListening(plays=1, seconds=clip.duration_s, ended=True)
            for label, clip in selectors.task_clips_in_order(assignment)
        },
    )


def answer(assignment, score: int = 4, choice: int = 1):
    """Submit any assignment (quality or diversity) with complete, played answers."""

    if assignment.kind == "quality":
        return services.task_submit(task=assignment, submission=full_submission(assignment, score))
    return services.task_submit(task=assignment, submission=full_judgement(assignment, choice))
