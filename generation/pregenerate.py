"""Pre-generating clips of one variant into a folder, with a manifest the ratings app imports
(``python manage.py import_clips --study SLUG DIR/manifest.csv``, MISSION.md section 5)."""

from __future__ import annotations

import csv
from pathlib import Path

from formats import MANIFEST_COLUMNS
from generation.backend import Backend
from generation.corpus import test_prompts
from generation.render import write_wav
from generation.sampling import PLAIN, SamplingConfig, generate_for_prompts


def pregenerate(
    model: Backend,
    out: str | Path,
    *,
    variant: str,
    n_prompts: int,
    samples: int,
    sampling: SamplingConfig = PLAIN,
    seed: int = 0,
    prompts: list[tuple[str, str]] | None = None,
) -> Path:
    """WAVs under ``out/variant/`` and rows appended to ``out/manifest.csv`` (paths relative to ``out``).

    Prompts are ``prompts`` ((prompt_id, text) pairs: a study's own) when given, else the first
    ``n_prompts`` test prompts (``corpus.test_prompts``: never trained or tuned on), so every variant of a study gets the same prompt ids.
    Rows of a variant already in the manifest are replaced, so running twice is safe."""
    out = Path(out)
    if not variant or any(c in variant for c in "/\\,"):
        raise ValueError(f"variant name {variant!r} must be non-empty, without '/', '\\' or ','")
    if prompts is None:
        prompts = [(p.prompt_id, p.text) for p in test_prompts(n_prompts)]
    tokens, _ = generate_for_prompts(model, [text for _, text in prompts], samples, sampling, seed)
    rows = []
    for (prompt_id, text), prompt_tokens in zip(prompts, tokens, strict=True):
        for k, audio in enumerate(model.decode(prompt_tokens)):
            rel = Path(variant) / f"{prompt_id}_{k}.wav"
            write_wav(out / rel, audio, model.sample_rate)
            rows.append(
                {
                    "prompt_id": prompt_id,
                    "prompt_text": text,
                    "variant": variant,
                    "sample_index": k,
                    "path": rel.as_posix(),
                }
            )
    manifest = out / "manifest.csv"
    kept = []
    if manifest.exists():
        with manifest.open(newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["variant"] != variant]
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(kept + rows)
    tmp.replace(manifest)
    return manifest
