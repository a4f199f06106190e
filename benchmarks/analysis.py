"""Time the whole analysis report on the simulated study of issue 6.

100 prompts × 3 raters × 6 variants (quality) and 50 prompts × 3 raters × 5 pairs (diversity),
bootstraps included, written to a temporary folder. Run: python benchmarks/analysis.py
"""

import os

# The report's matrices are small: one BLAS thread avoids oversubscription on a shared, loaded machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.report import write_report  # noqa: E402
from analysis.simulate import simulate_diversity, simulate_quality  # noqa: E402

PAIRS = [
    ("base", "cfg_g3"),
    ("base", "diversity_b15"),
    ("distilled", "diversity_b15"),
    ("cfg_g3", "distilled"),
    ("lerp_50", "cfg_g3"),
]
STRENGTHS = {"base": 0.0, "cfg_g3": -0.8, "distilled": -0.6, "diversity_b15": 0.6, "lerp_50": 0.2}
METRICS = {
    "base": {"text_adherence": 0.30, "diversity": 0.66},
    "cfg_g3": {"text_adherence": 0.36, "diversity": 0.55},
    "distilled": {"text_adherence": 0.35, "diversity": 0.57},
    "diversity_b15": {"text_adherence": 0.31, "diversity": 0.74},
    "lerp_50": {"text_adherence": 0.34, "diversity": 0.68},
}


def main() -> None:
    ratings = simulate_quality(
        effects={"cfg_g3": {"text_adherence": 0.5}, "diversity_b15": {"musicality": -0.3}}, seed=1
    )
    judgements = simulate_diversity(strengths=STRENGTHS, pairs=PAIRS, seed=2)
    with tempfile.TemporaryDirectory() as folder:
        start, start_cpu = time.perf_counter(), time.process_time()
        summary = write_report(ratings, judgements, Path(folder) / "report", automatic_metrics=METRICS)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(
        f"full report: {len(ratings)} quality ratings, {len(judgements)} diversity judgements, "
        f"{len(summary['quality']['pairs'])} quality pair tests, {len(summary['files'])} files: "
        f"{elapsed:.2f} s ({cpu:.2f} s of CPU)"
    )


if __name__ == "__main__":
    main()
