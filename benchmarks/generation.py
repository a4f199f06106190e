"""Generation cost, single pass (gamma = 1) against CFG (conditional + null rows batched), in one run.

    python benchmarks/generation.py [--checkpoint generation/checkpoints/demo.pt] [--batch 16] [--repeats 5]

Prints tokens per second and seconds of audio per second (generation alone, and with rendering), then a
last line ``speedup_single_vs_cfg: R``: CFG's time over the single pass's (the physical limit is 2.0), from
the fastest of the interleaved repeats, as timeit advises on a shared machine where other processes only
ever add time; the medians are printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generation.checkpoint import model_from_checkpoint  # noqa: E402
from generation.corpus import encode_text, held_out_prompts  # noqa: E402
from generation.model import generate  # noqa: E402
from generation.render import CLIP_SECONDS, render_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="generation/checkpoints/demo.pt")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = model_from_checkpoint(args.checkpoint)
    text = torch.from_numpy(encode_text([p.text for p in held_out_prompts(args.batch)]))
    n_tokens = args.batch * (model.cfg.music_len - 1)
    print(
        f"model {args.checkpoint}: {model.num_params()} parameters, batch {args.batch}, "
        f"{model.cfg.music_len - 1} tokens = {CLIP_SECONDS:g} s of audio per sequence, {args.threads} thread(s)"
    )
    generate(model, text, gamma=1.0, seed=0)  # warm-up
    generate(model, text, gamma=3.0, seed=0)
    times: dict[str, list[float]] = {"single (gamma=1)": [], "cfg (gamma=3, 2B rows)": []}
    for r in range(args.repeats):  # interleaved, so load on the machine hits both alike
        for name, gamma in (("single (gamma=1)", 1.0), ("cfg (gamma=3, 2B rows)", 3.0)):
            t0 = time.perf_counter()
            out = generate(model, text, gamma=gamma, seed=r)
            times[name].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    render_batch(out.tokens.numpy())
    render_s = time.perf_counter() - t0
    best = {name: min(ts) for name, ts in times.items()}
    for name, s in best.items():
        audio = args.batch * CLIP_SECONDS
        print(
            f"{name:24s} {s * 1000:8.1f} ms/batch  {n_tokens / s:9.0f} tokens/s  {audio / s:8.1f} s audio/s "
            f"(with rendering {audio / (s + render_s):7.1f} s audio/s)  median {statistics.median(times[name]) * 1000:.1f} ms"
        )
    print(
        f"rendering {args.batch} clips: {render_s * 1000:.1f} ms ({render_s / args.batch * 1000:.2f} ms/clip)"
    )
    single, cfg = "single (gamma=1)", "cfg (gamma=3, 2B rows)"
    print(f"median ratio: {statistics.median(times[cfg]) / statistics.median(times[single]):.2f}")
    print(f"speedup_single_vs_cfg: {best[cfg] / best[single]:.2f}")


if __name__ == "__main__":
    main()
