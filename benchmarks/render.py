"""Does rendering keep up with generation? Seconds of audio per second of the single pass (gamma = 1), with
and without rendering its output to audio, at one batch size.

    python benchmarks/render.py [--batch 256] [--repeats 5] [--checkpoint generation/checkpoints/demo.pt]

Each repeat generates a batch (its own seed) and renders it twice: with the synthesizer's caches cleared
first (the cost of a first batch) and again warm (later batches reuse notes). The best of the repeats
counts, as timeit advises on a shared machine where other processes only ever add time; medians are
printed too. The target is rendering at most a third of the total: audio/s with rendering at least 2/3 of
the figure without, cold (last line, ``with_over_without_cold: R``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generation import render  # noqa: E402
from generation.checkpoint import model_from_checkpoint  # noqa: E402
from generation.corpus import encode_text, held_out_prompts  # noqa: E402
from generation.model import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="generation/checkpoints/demo.pt")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = model_from_checkpoint(args.checkpoint)
    text = torch.from_numpy(encode_text([p.text for p in held_out_prompts(args.batch)]))
    audio_s = args.batch * render.CLIP_SECONDS
    print(
        f"model {args.checkpoint}, batch {args.batch}, {audio_s:g} s of audio per batch, {args.threads} thread(s)"
    )
    generate(model, text, gamma=1.0, seed=0)  # warm-up
    times: dict[str, list[float]] = {"generate": [], "render cold": [], "render warm": []}
    for r in range(args.repeats):
        t0 = time.perf_counter()
        tokens = generate(model, text, gamma=1.0, seed=r + 1).tokens.numpy()
        times["generate"].append(time.perf_counter() - t0)
        render.clear_caches()
        for name in ("render cold", "render warm"):
            t0 = time.perf_counter()
            render.render_batch(tokens)
            times[name].append(time.perf_counter() - t0)
    best = {name: min(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(
            f"{name:12s} best {best[name] * 1000:8.1f} ms/batch  median {statistics.median(ts) * 1000:8.1f} ms"
        )
    without = audio_s / best["generate"]
    print(f"single pass without rendering     {without:8.1f} s audio/s")
    ratios = {}
    for cache in ("cold", "warm"):
        with_r = audio_s / (best["generate"] + best[f"render {cache}"])
        ratios[cache] = with_r / without
        print(
            f"with rendering, {cache} caches      {with_r:8.1f} s audio/s  ({100 * ratios[cache]:.0f}% of without; "
            f"rendering {100 * (1 - ratios[cache]):.0f}% of the total)"
        )
    print(f"with_over_without_cold: {ratios['cold']:.2f}")


if __name__ == "__main__":
    main()
