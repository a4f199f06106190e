"""Command line of the model side: train, sample, evaluate, merge; each SUBCOMMAND has --help."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

DEMO_CHECKPOINT = "generation/checkpoints/demo.pt"
DEMO_EMBEDDINGS = "generation/checkpoints/demo-embeddings.pt"


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _device(name: str) -> str:
    """``auto``: the GPU where one is, else the CPU."""
    if name != "auto":
        return name
    from generation.backend import default_device

    return default_device()


def cmd_pretrain(args: argparse.Namespace) -> None:
    from generation.checkpoint import write_sidecar
    from generation.embeddings import EMBEDDING_PRESETS, train_embeddings
    from generation.train import PRESETS, pretrain

    cfg = PRESETS[args.preset]
    cfg = replace(cfg, **{k: v for k, v in {"steps": args.steps, "seed": args.seed}.items() if v is not None})
    out = Path(args.out or f"runs/{args.preset}/base.pt")
    t0 = time.perf_counter()

    def progress(step: int, total: int, metrics: dict[str, float]) -> None:
        if "val_loss" in metrics:
            print(
                f"step {step}/{total} train_loss {metrics['train_loss']:.4f} val_loss {metrics['val_loss']:.4f} "
                f"({metrics['elapsed_s']:.1f}s)",
                flush=True,
            )

    ckpt = pretrain(cfg, out, progress=progress, device=_device(args.device), threads=args.threads)
    lm_s = time.perf_counter() - t0
    command = "python -m generation " + " ".join(sys.argv[1:] if argv_is_cli() else [])
    write_sidecar(out, command=command.strip())
    print(f"model: {out} checkpoint_id {ckpt['checkpoint_id']} step {ckpt['step']} ({lm_s:.1f}s)")
    if not args.skip_embeddings:
        t1 = time.perf_counter()
        ecfg = replace(EMBEDDING_PRESETS[args.preset], seed=cfg.seed)
        emb = train_embeddings(ecfg)
        emb_out = Path(args.embeddings_out or out.with_name("embeddings.pt"))
        emb.save(emb_out)
        write_sidecar(emb_out, command=command.strip())
        print(f"embeddings: {emb_out} ({time.perf_counter() - t1:.1f}s)")
    print(f"pretrain total {time.perf_counter() - t0:.1f}s")


def argv_is_cli() -> bool:
    return Path(sys.argv[0]).name in ("__main__.py", "generation")


def load_model(args: argparse.Namespace):
    """The backend named by ``--model`` (checkpoint file, model folder or cached model id), with ``--seconds``
    and ``--constrain`` checked against what the backend can do."""
    from generation.backend import default_device, load_backend

    backend = load_backend(args.model, default_device())
    if getattr(args, "seconds", None) is not None:
        backend.set_seconds(args.seconds)
    if hasattr(args, "constrain") and args.constrain is None:  # the protocol the checkpoint was trained under
        from generation.backend import base_checkpoint
        from generation.sampling import trained_constrained

        args.constrain = Path(args.model).is_file() and trained_constrained(base_checkpoint(args.model))
    if getattr(args, "constrain", False):
        backend.allowed_tokens(True)  # refuses where the backend has no grammar
    return backend


def _sampling(args: argparse.Namespace):
    from generation.sampling import SamplingConfig

    return SamplingConfig(
        args.gamma,
        args.temperature,
        getattr(args, "top_k", 0),
        getattr(args, "top_p", 1.0),
        getattr(args, "constrain", False),
    )


def cmd_sample(args: argparse.Namespace) -> None:
    from generation.render import write_wav
    from generation.sampling import generate_for_prompts

    if not args.out.endswith(".wav"):
        raise ValueError(f"--out must name a .wav file, not {args.out!r}")
    backend = load_model(args)
    tokens, _ = generate_for_prompts(backend, [args.prompt], 1, _sampling(args), args.seed)
    audio = backend.decode(tokens[0])[0]
    path = write_wav(args.out, audio, backend.sample_rate)
    valid = backend.valid_rate(tokens)
    print(
        f"{path}\t{args.prompt!r}\t{len(audio) / backend.sample_rate:.2f}s at {backend.sample_rate} Hz"
        f"\t{backend.name}\tconstrain={bool(args.constrain)}"
        + ("" if valid is None else f"\tvalid={bool(valid)}")
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from generation.backend import base_checkpoint
    from generation.embeddings import Embeddings
    from generation.evaluate import evaluate, to_markdown, write_report

    backend = load_model(args)
    ckpt = base_checkpoint(args.model)
    emb = Embeddings.load(args.embeddings)
    t0 = time.perf_counter()
    result = evaluate(
        backend,
        emb,
        gammas=tuple(args.gammas),
        temperature=args.temperature,
        n_prompts=args.prompts,
        samples=args.samples,
        seeds=tuple(args.seeds),
        caption_noise=ckpt["train_config"].get("caption_noise", 0.0),
        constrain=args.constrain,
    )
    result["checkpoint"] = str(args.model)
    result["embeddings_report"] = emb.report
    result["elapsed_s"] = time.perf_counter() - t0
    js, md = write_report(result, args.out)
    print(to_markdown(result))
    print(json.dumps(result["claim1"]))
    print(f"wrote {js} and {md} ({result['elapsed_s']:.1f}s)")


def cmd_pregenerate(args: argparse.Namespace) -> None:
    from generation.pregenerate import pregenerate

    manifest = pregenerate(
        load_model(args),
        args.out,
        variant=args.variant,
        n_prompts=args.prompts,
        samples=args.samples,
        sampling=_sampling(args),
        seed=args.seed,
    )
    print(manifest)


def cmd_train_embeddings(args: argparse.Namespace) -> None:
    from generation.embeddings import EMBEDDING_PRESETS, train_embeddings

    emb = train_embeddings(replace(EMBEDDING_PRESETS[args.preset], seed=args.seed))
    emb.save(args.out)
    print(json.dumps(emb.report, indent=2))


def cmd_embeddings(args: argparse.Namespace) -> None:
    from generation.embeddings import EMBEDDING_PRESETS, Embeddings, train_audio_embeddings

    overrides = {"steps": args.steps, "seed": args.seed}
    cfg = replace(EMBEDDING_PRESETS[args.preset], **{k: v for k, v in overrides.items() if v is not None})
    if not Path(args.audio).is_dir():
        raise ValueError(f"--audio {args.audio} is not a folder of audio files")
    mulan = Embeddings.load(args.mulan_from) if args.mulan_from else None  # checked before training
    emb = train_audio_embeddings(args.audio, cfg)
    if mulan is not None:
        emb.text, emb.mulan_audio = mulan.text, mulan.mulan_audio
        emb.report["mulan_from"] = str(args.mulan_from)
    emb.save(args.out)
    print(json.dumps(emb.report, indent=2))
    print(f"embeddings: {args.out}")


def cmd_inspect(args: argparse.Namespace) -> None:
    from generation.inspect import inspect_prompts

    report = inspect_prompts(
        load_model(args), args.prompt, args.out, samples=args.samples, gamma=args.gamma, seed=args.seed
    )
    print(json.dumps(report, indent=2))


def model_arg(p: argparse.ArgumentParser, default: str = DEMO_CHECKPOINT) -> None:
    p.add_argument(
        "--model",
        "--checkpoint",
        dest="model",
        default=default,
        help="a checkpoint (.pt), a MusicGen save_pretrained folder, or a model id in the Hugging Face cache",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generation", description=__doc__)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded 2-core box)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="train the base model (and its embeddings) from scratch, or resume")
    p.add_argument("--preset", choices=("tiny", "demo"), default="tiny")
    p.add_argument("--out", help="checkpoint path (default runs/PRESET/base.pt)")
    p.add_argument("--embeddings-out", help="embeddings path (default next to --out, embeddings.pt)")
    p.add_argument("--skip-embeddings", action="store_true")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (the GPU where one is; the default)")
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train-embeddings", help="train the MuLan, reward and held-out embeddings only")
    p.add_argument("--preset", choices=("tiny", "demo"), default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_train_embeddings)

    p = sub.add_parser(
        "embeddings", help="train reward + held-out music-similarity embeddings on a folder of audio"
    )
    p.add_argument("--audio", required=True, help="folder of .wav/.flac/.ogg clips (searched recursively)")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--preset", choices=("tiny", "demo"), default="demo", help="encoder size and training steps"
    )
    p.add_argument(
        "--mulan-from",
        help="an embeddings file whose MuLan text-audio pair to keep beside the new encoders (for adherence)",
    )
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_embeddings)

    def sampling_args(p: argparse.ArgumentParser) -> None:
        model_arg(p)
        p.add_argument("--gamma", type=float, default=1.0, help="CFG strength (1 = no guidance)")
        p.add_argument("--temperature", type=float, default=1.0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--constrain",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="the built-in model's token grammar (refused for MusicGen); default: as the checkpoint was "
            "finetuned (its train config's constrain), else off",
        )
        p.add_argument("--seconds", type=float, help="clip length (MusicGen; the built-in model makes 8 s)")

    p = sub.add_parser("sample", help="one clip for a prompt, from either backend")
    sampling_args(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--top-k", type=int, default=0, help="1 = greedy decoding")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--out", required=True, help="FILE.wav")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="claim 1: adherence and diversity against gamma, JSON + Markdown")
    model_arg(p)
    p.add_argument("--embeddings", default=DEMO_EMBEDDINGS)
    p.add_argument("--gammas", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0])
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--constrain", action="store_true", help="mask tokens of the wrong kind while sampling")
    p.add_argument("--seconds", type=float, help="clip length (MusicGen)")
    p.add_argument("--out", default="var/generation/evaluate")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("pregenerate", help="render a variant's clips + manifest.csv for import_clips")
    sampling_args(p)
    p.add_argument("--prompts", type=int, default=100)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--variant", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_pregenerate)

    p = sub.add_parser("inspect", help="spectrogram PNGs and measured tempo / pitch / timbre for prompts")
    model_arg(p)
    p.add_argument("--gamma", type=float, default=1.0, help="CFG strength (1 = no guidance)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", action="append", required=True)
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--out", default="var/generation/inspect")
    p.set_defaults(func=cmd_inspect)

    from generation.cli_front import register as register_front_commands  # finetune, merge, steer, front

    register_front_commands(sub)

    args = parser.parse_args(argv)
    _threads(args.threads)
    for name in ("embeddings",):
        path = getattr(args, name, None)
        if path is not None and not Path(path).exists():
            print(
                f"error: {name} {path} does not exist; train one with `python -m generation pretrain`",
                file=sys.stderr,
            )
            return 2
    try:
        args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
