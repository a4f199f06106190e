"""Time the whole `python -m analysis report` command, imports included, on two simulated studies.

small: the demo study's shape, 12 prompts × 2 raters × 5 variants (quality) and every pair of the
5 variants on 12 prompts by 2 raters (diversity); large: the study of issue 6, 100 prompts × 3
raters × 6 variants and 50 prompts × 3 raters × 5 pairs. Each command runs --repeat times in a fresh
process, as a researcher runs it; the median and the best wall-clock and CPU times are reported, and
every run's wall-clock time.

Run: python benchmarks/analysis.py [--repeat 3] [--code DIR]
--code runs the command from another checkout (say, a `git worktree` of an older commit) on the
same data, for before/after figures.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.simulate import simulate_diversity, simulate_quality  # noqa: E402

DEMO_STRENGTHS = {"base": 0.0, "cfg": -0.8, "distilled": -0.6, "diversity": 0.6, "lerp-50": 0.2}
STRENGTHS = {"base": 0.0, "cfg_g3": -0.8, "distilled": -0.6, "diversity_b15": 0.6, "lerp_50": 0.2}
PAIRS = [
    ("base", "cfg_g3"),
    ("base", "diversity_b15"),
    ("distilled", "diversity_b15"),
    ("cfg_g3", "distilled"),
    ("lerp_50", "cfg_g3"),
]


def write_studies(folder: Path) -> dict[str, Path]:
    small, large = folder / "small", folder / "large"
    small.mkdir()
    large.mkdir()
    simulate_quality(
        n_prompts=12,
        raters_per_prompt=2,
        n_raters=2,
        variants=list(DEMO_STRENGTHS),
        effects={"cfg": {"text_adherence": 0.5}},
        seed=1,
    ).to_csv(small / "ratings.csv", index=False)
    simulate_diversity(
        n_prompts=12,
        raters_per_comparison=2,
        n_raters=2,
        strengths=DEMO_STRENGTHS,
        pairs=list(combinations(DEMO_STRENGTHS, 2)),
        seed=2,
    ).to_csv(small / "diversity.csv", index=False)
    simulate_quality(
        effects={"cfg_g3": {"text_adherence": 0.5}, "diversity_b15": {"musicality": -0.3}}, seed=1
    ).to_csv(large / "ratings.csv", index=False)
    simulate_diversity(strengths=STRENGTHS, pairs=PAIRS, seed=2).to_csv(large / "diversity.csv", index=False)
    return {"small (12 prompts)": small, "large (100 prompts)": large}


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of the command."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per study (median and best reported)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose analysis package runs")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, study in write_studies(Path(folder)).items():
            command = [sys.executable, "-m", "analysis", "report"]
            command += [str(study / "ratings.csv"), str(study / "diversity.csv"), "--out"]
            runs = [
                timed([*command, str(Path(folder) / f"out{run}")], arguments.code)
                for run in range(arguments.repeat)
            ]
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{name}: median {statistics.median(walls):.2f} s wall-clock, {statistics.median(cpus):.2f} s CPU; "
                f"best {min(walls):.2f} s, {min(cpus):.2f} s CPU (runs {', '.join(f'{w:.2f}' for w in walls)} s; "
                f"python -m analysis report; load average {os.getloadavg()[0]:.1f})"
            )


if __name__ == "__main__":
    main()
