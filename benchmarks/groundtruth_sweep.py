"""Ground truth only (no rendering, no embeddings): the base under CFG gamma in {1, 1.5, 2, 3} at each
temperature, on test prompts, with each gamma against gamma = 1 (Wilcoxon over prompts).

    python3 benchmarks/groundtruth_sweep.py CHECKPOINT N_PROMPTS SAMPLES T1,T2,...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from generation.backend import load_with_checkpoint  # noqa: E402
from generation.backend_builtin import validity_rate  # noqa: E402
from generation.corpus import corpus_samples, test_prompts  # noqa: E402
from generation.groundtruth import score_tokens  # noqa: E402
from generation.metrics import paired_test  # noqa: E402
from generation.sampling import SamplingConfig, generate_for_prompts  # noqa: E402

PARTS = ("key", "melody", "rhythm", "bass_line", "drums", "free_attributes")


def main() -> None:
    torch.set_num_threads(1)
    path, n_prompts, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    temperatures = [float(t) for t in sys.argv[4].split(",")]
    t0 = time.perf_counter()
    model, _ = load_with_checkpoint(path)
    prompts = test_prompts(n_prompts)
    texts, specs = [p.text for p in prompts], [p.spec for p in prompts]
    rng = np.random.default_rng(12345)
    corpus = np.stack([corpus_samples(p, k, rng, 0.0) for p in prompts])
    rows = {"corpus (exact)": (1.0, score_tokens(specs, corpus))}
    for temperature in temperatures:
        for gamma in (1.0, 1.5, 2.0, 3.0):
            tokens, _ = generate_for_prompts(model, texts, k, SamplingConfig(gamma, temperature), seed=0)
            rows[f"g={gamma:g} T={temperature:g}"] = (validity_rate(tokens), score_tokens(specs, tokens))
            print(f"{gamma} {temperature} {time.perf_counter() - t0:.0f}s", flush=True)
    print(
        "| row | valid | satisfaction | on-prompt | on, satisfying pairs | off-prompt | key | melody | rhythm "
        "| bass | drums | free attrs |"
    )
    for name, (valid, s) in rows.items():
        parts = " | ".join(f"{np.nanmean(s.on_parts[p]):.3f}" for p in PARTS)
        print(
            f"| {name} | {valid:.3f} | {s.satisfaction.mean():.3f} | {s.on_prompt.mean():.3f} "
            f"| {np.nanmean(s.on_prompt_satisfied):.3f} | {s.off_prompt.mean():.3f} | {parts} |"
        )
    for temperature in temperatures:
        a = rows[f"g=1 T={temperature:g}"][1]
        for gamma in ("1.5", "2", "3"):
            b = rows[f"g={gamma} T={temperature:g}"][1]
            keep = np.isfinite(a.on_prompt_satisfied) & np.isfinite(b.on_prompt_satisfied)
            on = paired_test(a.on_prompt, b.on_prompt)
            sat = paired_test(a.on_prompt_satisfied[keep], b.on_prompt_satisfied[keep])
            key = paired_test(a.on_parts["key"], b.on_parts["key"])
            melody = paired_test(a.on_parts["melody"], b.on_parts["melody"])
            print(
                f"T={temperature:g} g={gamma} vs g=1: on {on['mean_diff']:+.4f} p={on['wilcoxon_p']:.2g}; "
                f"satisfying pairs {sat['mean_diff']:+.4f} p={sat['wilcoxon_p']:.2g} n={sat['n_prompts']}; "
                f"key {key['mean_diff']:+.4f} p={key['wilcoxon_p']:.2g}; "
                f"melody {melody['mean_diff']:+.4f} p={melody['wilcoxon_p']:.2g}"
            )
    print(f"{time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
