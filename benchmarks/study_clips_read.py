"""The one-off cost of ratings/clip_rows.py's study-wide read: the CPU and wall time of reading a study's
clips as instances (the first page of a study in each worker process), on a fresh PostgreSQL database
with a study of `--prompts` × `--variants` × `--samples` clip rows (no audio files: only the rows).

    python3 benchmarks/study_clips_read.py [--prompts 100] [--variants 10] [--samples 4]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "counterpoint_study_clips_read"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with psycopg.connect(args.postgres, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ.update(
        DATABASE_URL=args.postgres.rsplit("/", 1)[0] + f"/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="evalsite.settings",
        COUNTERPOINT_VAR_DIR=tempfile.mkdtemp(prefix="study-clips-read-"),
    )
    import django

    django.setup()
    from django.core.management import call_command

    from ratings import clip_rows
    from ratings.models import Clip, Prompt, Study, Variant

    call_command("migrate", verbosity=0)
    study = Study.objects.create(slug="big")
    variants = Variant.objects.bulk_create([Variant(study=study, name=f"v{n}") for n in range(args.variants)])
    prompts = Prompt.objects.bulk_create(
        [Prompt(study=study, text=f"prompt {n}", external_id=f"p{n}") for n in range(args.prompts)]
    )
    Clip.objects.bulk_create(
        [
            Clip(
                prompt=prompt,
                variant=variant,
                sample_index=sample,
                audio=f"clips/{prompt.pk}_{variant.pk}_{sample}.wav",
                token=f"t{prompt.pk}-{variant.pk}-{sample}",
                duration_s=2.0,
                sample_rate=8000,
                checksum="0" * 64,
                source_path="unused.wav",
            )
            for prompt in prompts
            for variant in variants
            for sample in range(args.samples)
        ]
    )
    first_clips = list(Clip.objects.order_by("id").values_list("id", flat=True)[: args.variants])
    cpu, wall = [], []
    for _ in range(args.repeats):
        clip_rows.clips_forget()
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        clip_rows.clips_by_id(first_clips)  # one task's clips: the whole study is read with them
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    print(
        f"a study of {Clip.objects.count()} clips read on a first page: {len(clip_rows._kept)} kept; "
        f"median of {args.repeats}: {1000 * statistics.median(cpu):.1f} ms of CPU, "
        f"{1000 * statistics.median(wall):.1f} ms wall"
    )


if __name__ == "__main__":
    main()
