"""Claim 2's cost half: the distilled model (one forward pass per token) against its CFG teacher (conditional and
null rows, two passes' worth of rows per token), in one run, timings interleaved.

    python benchmarks/front_speed.py [--base generation/checkpoints/demo.pt]
        [--distilled generation/checkpoints/demo-distilled.pt] [--gamma G] [--batch 64] [--repeats 7]

--gamma defaults to the gamma the distilled checkpoint was trained against. Prints tokens per second and
seconds of audio per second for both, then ``speedup_distilled_vs_cfg: R`` (CFG's median time over the
distilled model's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generation.backend import load_with_checkpoint  # noqa: E402
from generation.corpus import held_out_prompts  # noqa: E402
from generation.sampling import SamplingConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="generation/checkpoints/demo.pt", help="checkpoint or model folder")
    parser.add_argument("--distilled", default="generation/checkpoints/demo-distilled.pt")
    parser.add_argument("--gamma", type=float)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distilled, distilled_ckpt = load_with_checkpoint(args.distilled)
    gamma = args.gamma or distilled_ckpt["train_config"]["gamma"]
    runs = {
        f"cfg teacher (base, gamma={gamma:g})": (load_with_checkpoint(args.base)[0], gamma),
        "distilled (beta=0, gamma=1)": (distilled, 1.0),
    }
    texts = [p.text for p in held_out_prompts(args.batch)]
    conds = {name: m.encode(texts) for name, (m, _) in runs.items()}
    n_tokens = args.batch * distilled.tokens_per_sequence
    n_params = sum(p.numel() for p in distilled.network.parameters())
    print(
        f"batch {args.batch} x {distilled.tokens_per_sequence} tokens ({distilled.clip_seconds:g} s of audio "
        f"each), {n_params} parameters, {args.threads} thread(s), {args.repeats} interleaved repeats"
    )
    for name, (m, g) in runs.items():
        m.generate(conds[name], SamplingConfig(gamma=g), seed=0)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeats):  # interleaved, so load on the machine hits both alike
        for name, (m, g) in runs.items():
            t0 = time.perf_counter()
            m.generate(conds[name], SamplingConfig(gamma=g), seed=r)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, s in med.items():
        audio = args.batch * distilled.clip_seconds
        print(f"{name:32s} {s * 1000:8.1f} ms/batch {n_tokens / s:9.0f} tokens/s {audio / s:8.1f} s audio/s")
    cfg_s, distilled_s = med.values()
    print(f"speedup_distilled_vs_cfg: {cfg_s / distilled_s:.2f}")


if __name__ == "__main__":
    main()
