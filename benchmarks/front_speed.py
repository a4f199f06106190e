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

from generation.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from generation.corpus import encode_text, held_out_prompts  # noqa: E402
from generation.model import generate  # noqa: E402
from generation.render import CLIP_SECONDS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="generation/checkpoints/demo.pt")
    parser.add_argument("--distilled", default="generation/checkpoints/demo-distilled.pt")
    parser.add_argument("--gamma", type=float)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distilled_ckpt = load_checkpoint(args.distilled)
    gamma = args.gamma or distilled_ckpt["train_config"]["gamma"]
    runs = {
        f"cfg teacher (base, gamma={gamma:g})": (model_from_checkpoint(args.base), gamma),
        "distilled (beta=0, gamma=1)": (model_from_checkpoint(distilled_ckpt), 1.0),
    }
    text = torch.from_numpy(encode_text([p.text for p in held_out_prompts(args.batch)]))
    model = next(iter(runs.values()))[0]
    n_tokens = args.batch * (model.cfg.music_len - 1)
    print(
        f"batch {args.batch} x {model.cfg.music_len - 1} tokens ({CLIP_SECONDS:g} s of audio each), "
        f"{model.num_params()} parameters, {args.threads} thread(s), {args.repeats} interleaved repeats"
    )
    for m, g in runs.values():
        generate(m, text, gamma=g, seed=0)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeats):  # interleaved, so load on the machine hits both alike
        for name, (m, g) in runs.items():
            t0 = time.perf_counter()
            generate(m, text, gamma=g, seed=r)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, s in med.items():
        print(
            f"{name:32s} {s * 1000:8.1f} ms/batch {n_tokens / s:9.0f} tokens/s {args.batch * CLIP_SECONDS / s:8.1f} s audio/s"
        )
    cfg_s, distilled_s = med.values()
    print(f"speedup_distilled_vs_cfg: {cfg_s / distilled_s:.2f}")


if __name__ == "__main__":
    main()
