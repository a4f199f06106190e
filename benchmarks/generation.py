"""Generation cost of any backend: single pass (gamma = 1) against CFG (conditional + null rows batched).

    python benchmarks/generation.py [--model generation/checkpoints/demo.pt | MUSICGEN_DIR] [--seconds S]
        [--gamma 3] [--max-batch 64] [--repeats 5] [--threads 1] [--device cpu|cuda]

For batch sizes 1, 2, 4, ... up to --max-batch, times both modes, interleaved, the fastest of --repeats runs
(timeit's advice on a shared machine, where other processes only ever add time). Prints, for each mode, tokens
per second (every codebook's token counted) and seconds of audio per second, generation alone and with
decoding to audio, at batch 1 and at the batch of its peak throughput (decoding timed on that batch, batched); then a last line
``speedup_single_vs_cfg: R`` (CFG's time over the single pass's at the single pass's peak batch).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generation.backend import Backend, default_device, load_backend  # noqa: E402
from generation.corpus import held_out_prompts  # noqa: E402
from generation.sampling import SamplingConfig  # noqa: E402


def time_generation(backend: Backend, batch: int, gammas: dict[str, float], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` interleaved runs of each mode, in seconds (after one warm-up each)."""
    cond = backend.encode([p.text for p in held_out_prompts(batch)])
    sync = torch.cuda.synchronize if backend.device.type == "cuda" else (lambda: None)
    for g in gammas.values():
        backend.generate(cond, SamplingConfig(gamma=g), seed=0)
    best = {name: float("inf") for name in gammas}
    for r in range(repeats):
        for name, g in gammas.items():
            sync()
            t0 = time.perf_counter()
            backend.generate(cond, SamplingConfig(gamma=g), seed=r)
            sync()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def time_decoding(backend: Backend, batch: int, repeats: int) -> float:
    """The fastest of ``repeats`` decodings of one generated batch to audio, in seconds (the backend decodes a
    batch at once: the built-in renderer is vectorised over clips), the built-in synthesizer's note caches
    cleared before each, so every decoding pays what a new batch pays (``benchmarks/render.py`` also gives
    the warm figure)."""
    from generation import render

    cond = backend.encode([p.text for p in held_out_prompts(batch)])
    tokens = backend.generate(cond, SamplingConfig(), seed=0).tokens.cpu().numpy()
    best = float("inf")
    for _ in range(repeats):
        if backend.name == "builtin":
            render.clear_caches()
        t0 = time.perf_counter()
        backend.decode(tokens)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", "--checkpoint", dest="model", default="generation/checkpoints/demo.pt")
    parser.add_argument("--seconds", type=float, help="clip length (MusicGen; the built-in model makes 8 s)")
    parser.add_argument("--gamma", type=float, default=3.0)
    parser.add_argument("--max-batch", "--batch", dest="max_batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backend = load_backend(args.model, args.device)
    if args.seconds is not None:
        backend.set_seconds(args.seconds)
    modes = {"single (gamma=1)": 1.0, f"cfg (gamma={args.gamma:g}, 2B rows)": args.gamma}
    n_params = sum(p.numel() for p in backend.network.parameters())
    print(
        f"model {args.model} ({backend.name} backend, {n_params} trainable parameters) on {args.device}, "
        f"{args.threads} thread(s): {backend.tokens_per_sequence} tokens = {backend.clip_seconds:g} s of audio "
        f"at {backend.sample_rate} Hz per sequence"
    )
    batches = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256) if b <= args.max_batch]
    timings = {b: time_generation(backend, b, modes, args.repeats) for b in batches}
    for b in batches:
        print(f"batch {b:4d}: " + "  ".join(f"{name} {timings[b][name] * 1000:.1f} ms" for name in modes))
    peaks = {name: max(batches, key=lambda b: b / timings[b][name]) for name in modes}
    decode_s = {b: time_decoding(backend, b, args.repeats) for b in sorted({1, *peaks.values()})}
    for b, s in decode_s.items():
        print(
            f"decoding a batch of {b} clips to audio (batched, cold caches, fastest of {args.repeats}): {s * 1000:.1f} ms"
        )
    for name, peak in peaks.items():
        for label, b in (("batch 1", 1), (f"peak, batch {peak}", peak)):
            s = timings[b][name]
            audio = b * backend.clip_seconds
            print(
                f"{name:28s} {label:16s} {b * backend.tokens_per_sequence / s:10.0f} tokens/s "
                f"{audio / s:8.2f} s audio/s (with decoding {audio / (s + decode_s[b]):7.2f} s audio/s)"
            )
    single, cfg = modes
    at = peaks[single]
    print(f"speedup_single_vs_cfg: {timings[at][cfg] / timings[at][single]:.2f}")


if __name__ == "__main__":
    main()
