"""A demo study to click through on a laptop: consent, instructions, headphone check, quality items,
diversity comparisons and an occasional attention item.

Until the built-in model generates the demo's clips, they are placeholder audio synthesised here on
the spot: each prompt gets its own tempo, key and rhythm, each variant its own timbre, each sample its
own melody. The study's title and instructions say so.
"""

import csv
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from ratings import services
from ratings.models import Study

SAMPLE_RATE = 22050
PROMPTS = [
    ("p01", "Rock song", 132, 40),
    ("p02", "Opera singer", 72, 57),
    ("p03", "A calm piano lullaby", 66, 60),
    ("p04", "Upbeat electronic dance track", 128, 45),
    ("p05", "Sad violin melody in a minor key", 80, 62),
    ("p06", "Jazzy walking bass with brushes", 110, 36),
]
# Variant name → harmonic amplitudes (timbre).
VARIANTS = {
    "variant-a": (1.0, 0.5, 0.33, 0.25),
    "variant-b": (1.0, 0.1),
    "variant-c": (1.0, 0.0, 0.4, 0.0, 0.2),
}
MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
SAMPLES = 2  # per prompt and variant: a diversity comparison needs two


def synthesise(seed: int, tempo: int, root_midi: int, harmonics: tuple[float, ...], seconds: float = 8.0):
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo
    audio = np.zeros(int(seconds * SAMPLE_RATE))
    position = 0.0
    while position < seconds:
        length = beat * rng.choice([0.5, 1.0, 1.0, 2.0])
        pitch = root_midi + 12 + rng.choice(MAJOR)
        frequency = 440.0 * 2 ** ((pitch - 69) / 12)
        t = np.arange(int(min(length, seconds - position) * SAMPLE_RATE)) / SAMPLE_RATE
        envelope = np.exp(-3.0 * t / max(length, 1e-3)) * np.minimum(1.0, t * 200)
        note = sum(a * np.sin(2 * np.pi * frequency * (k + 1) * t) for k, a in enumerate(harmonics))
        start = int(position * SAMPLE_RATE)
        audio[start : start + len(t)] += envelope * note
        position += length
    return (0.5 * audio / max(np.abs(audio).max(), 1e-9)).astype(np.float32)


class Command(BaseCommand):
    help = "Create (or top up) the 'demo' study with placeholder audio synthesised on the spot, and print invite links."

    def add_arguments(self, parser):
        parser.add_argument("--raters", type=int, default=3, help="Invite links to create (default 3).")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, raters, base_url, **options):
        study = Study.objects.filter(slug="demo").first()
        if study is None:
            with tempfile.TemporaryDirectory() as folder, transaction.atomic():
                manifest = self._write_clips(Path(folder))
                services.clips_import(study_slug="demo", manifest=manifest)
                study = Study.objects.get(slug="demo")
                study.title = "Demo study (placeholder synthesised audio, not a model's output)"
                study.instructions = (
                    "This demo's clips are placeholder tones synthesised on the spot, not the output of a model. "
                    + study.instructions
                )
                study.onboarding_required = True
                study.attention_rate = 0.1
                study.save(update_fields=["title", "instructions", "onboarding_required", "attention_rate"])
                services.diversity_plan(study=study, variants=list(VARIANTS), prompts=len(PROMPTS))
        for rater in services.raters_invite(study=study, count=raters, prefix="demo-rater"):
            url = base_url.rstrip("/") + reverse("ratings:rater_home", args=[rater.token])
            self.stdout.write(f"{rater.external_id}\t{url}")

    def _write_clips(self, folder: Path) -> Path:
        manifest = folder / "manifest.csv"
        with manifest.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(services.MANIFEST_COLUMNS)
            for prompt_number, (prompt_id, text, tempo, root) in enumerate(PROMPTS):
                for variant_number, (variant, harmonics) in enumerate(VARIANTS.items()):
                    for sample in range(SAMPLES):
                        name = f"{prompt_id}-{variant}-{sample}.wav"
                        seed = 1000 * prompt_number + 10 * variant_number + sample
                        soundfile.write(folder / name, synthesise(seed, tempo, root, harmonics), SAMPLE_RATE)
                        writer.writerow([prompt_id, text, variant, sample, name])
        return manifest
