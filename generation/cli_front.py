"""The ``finetune``, ``merge``, ``steer`` and ``front`` subcommands of ``python -m generation`` (issue 4)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

DEMO_BASE = "generation/checkpoints/demo.pt"
DEMO_EMBEDDINGS = "generation/checkpoints/demo-embeddings.pt"


def _require(path: str | Path, what: str) -> None:
    if not Path(path).exists():
        raise ValueError(f"{what} {path} does not exist; train it with `python -m generation pretrain`")


def _command() -> str:
    """The command line that made an output, for its sidecar (empty when called from Python)."""
    from_cli = Path(sys.argv[0]).name in ("__main__.py", "generation")
    return "python -m generation " + " ".join(sys.argv[1:]) if from_cli else ""


def cmd_finetune(args: argparse.Namespace) -> None:
    from generation.checkpoint import write_sidecar
    from generation.finetune import config_for, finetune

    cfg = config_for(
        args.preset,
        gamma=args.gamma,
        beta=args.beta,
        steps=args.steps,
        baseline=args.baseline,
        kl=args.kl,
        samples_per_prompt=args.samples_per_prompt,
        prompts_per_step=args.prompts_per_step,
        normalise=args.normalise,
        lr=args.lr,
        seed=args.seed,
        constrain=args.constrain or None,
        reward=args.reward,
        gate_threshold=args.gate_threshold,
    )
    _require(args.embeddings, "embeddings")

    def progress(step: int, total: int, m: dict[str, float]) -> None:
        if step % 10 == 0 or step == total or "eval_diversity_heldout" in m:
            held = (
                f" held-out diversity {m['eval_diversity_heldout']:.4f}"
                if "eval_diversity_heldout" in m
                else ""
            )
            print(
                f"step {step}/{total} kl {m['kl']:.4f} reward {m['reward']:.4f} entropy {m['entropy']:.4f}"
                f"{held} ({m['elapsed_s']:.1f}s)",
                flush=True,
            )

    if args.seconds is not None:
        from generation.__main__ import load_model
        from generation.backend import pretrained_checkpoint

        base = pretrained_checkpoint(load_model(args))  # a model folder at another clip length
    else:
        base = args.model
    ckpt = finetune(cfg, base, args.embeddings, args.out, progress=progress)
    write_sidecar(args.out, command=_command(), base=str(args.model), embeddings=str(args.embeddings))
    print(f"finetune: {args.out} checkpoint_id {ckpt['checkpoint_id']} step {ckpt['step']}")


def cmd_merge(args: argparse.Namespace) -> None:
    from generation.backend import base_checkpoint
    from generation.checkpoint import save_checkpoint, write_sidecar
    from generation.merge import merge_checkpoints

    ckpt = merge_checkpoints(base_checkpoint(args.quality), base_checkpoint(args.diversity), args.lam)
    save_checkpoint(ckpt, args.out)
    write_sidecar(args.out, command=_command(), quality=str(args.quality), diversity=str(args.diversity))
    print(f"merge: {args.out} checkpoint_id {ckpt['checkpoint_id']} {json.dumps(ckpt['merge']['parents'])}")


def cmd_steer(args: argparse.Namespace) -> None:
    from generation.backend import default_device
    from generation.merge import Steering
    from generation.render import write_wav
    from generation.sampling import SamplingConfig, trained_constrained

    steering = Steering(args.quality, args.diversity, device=default_device())
    if args.constrain is None:  # the protocol the pair was finetuned under
        args.constrain = trained_constrained(steering.a, steering.b)
    sampling = SamplingConfig(args.gamma, args.temperature, constrain=args.constrain)
    out = Path(args.out)
    for lam in args.lam:
        model = steering.model(lam)
        if args.constrain:
            model.allowed_tokens(True)  # refuses where the backend has no grammar
        tokens, _ = steering.generate_for_prompts(args.prompt, args.samples, lam, sampling, args.seed)
        for i, text in enumerate(args.prompt):
            for k, audio in enumerate(model.decode(tokens[i])):
                path = write_wav(out / f"lambda{lam:g}_prompt{i}_{k}.wav", audio, model.sample_rate)
                print(f"{path}\t{text!r}\tlambda={lam:g}\tconstrain={bool(args.constrain)}")


def cmd_front(args: argparse.Namespace) -> None:
    from generation.front import FRONT_PRESETS, run_front

    cfg = FRONT_PRESETS[args.preset]
    paths = {k: getattr(args, k) for k in ("base", "embeddings")}
    cfg = replace(cfg, **{k: v for k, v in paths.items() if v is not None})
    fields = {
        "n_prompts": args.prompts,
        "seeds": None if args.seeds is None else tuple(args.seeds),
        "training_seeds": None if args.training_seeds is None else tuple(args.training_seeds),
        "rewards": None if args.rewards is None else tuple(args.rewards),
        "beta": args.beta,
        "constrain": args.constrain or None,
    }
    cfg = replace(cfg, **{k: v for k, v in fields.items() if v is not None})
    overrides = {k: v for k, v in {"steps": args.steps, "kl": args.kl}.items() if v is not None}
    if overrides:
        cfg = replace(cfg, finetune=replace(cfg.finetune, **overrides))
    _require(cfg.base, "base checkpoint")
    _require(cfg.embeddings, "embeddings")
    device = None if args.device == "auto" else args.device
    result = run_front(
        cfg,
        args.out or f"runs/{args.preset}/front",
        baselines_only=args.baselines_only,
        jobs=args.jobs,
        device=device,
    )
    if args.baselines_only:
        return
    verdicts = {name: c["verdict"] for name, c in result["claims"]["claim4"].items()}
    print(json.dumps(verdicts, indent=2))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the issue-4 subcommands to the ``python -m generation`` parser."""
    from generation.finetune import BASELINES, KL_DIRECTIONS, NORMALISATIONS
    from generation.rewards import REWARDS

    p = sub.add_parser(
        "finetune", help="CFG distillation (beta = 0) or diversity-rewarded (beta > 0); resumes"
    )
    p.add_argument("--preset", choices=("tiny", "demo"), default="demo")
    p.add_argument(
        "--model",
        "--base",
        dest="model",
        default=DEMO_BASE,
        help="the base (teacher and initial student): a checkpoint, a MusicGen folder or a cached model id",
    )
    p.add_argument("--seconds", type=float, help="clip length of a MusicGen base's samples")
    p.add_argument("--embeddings", default=DEMO_EMBEDDINGS)
    p.add_argument("--out", required=True)
    p.add_argument("--gamma", type=float, help="the teacher's CFG strength")
    p.add_argument("--beta", type=float, help="weight of the diversity reward (0 = distillation alone)")
    p.add_argument("--steps", type=int)
    p.add_argument("--baseline", choices=BASELINES)
    p.add_argument("--kl", choices=KL_DIRECTIONS, help="reverse KL(student||teacher) or forward")
    p.add_argument("--normalise", choices=NORMALISATIONS, help="divide advantages by a running std")
    p.add_argument("--samples-per-prompt", type=int)
    p.add_argument("--prompts-per-step", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--constrain", action="store_true", help="grammar-constrained sampling (and masked KL)")
    p.add_argument("--reward", choices=REWARDS, help="the diversity reward (generation.rewards)")
    p.add_argument("--gate-threshold", type=float, help="prompt_gated: MuLan adherence a sample must reach")
    p.set_defaults(func=cmd_finetune)

    def pair(p: argparse.ArgumentParser) -> None:
        # each a checkpoint or a model folder, as --model takes them elsewhere
        p.add_argument("--quality", default="generation/checkpoints/demo-distilled.pt", help="beta = 0 model")
        p.add_argument("--diversity", default="generation/checkpoints/demo-diverse.pt", help="beta > 0 model")

    p = sub.add_parser("merge", help="theta = (1 - lambda) * quality + lambda * diversity, as a checkpoint")
    pair(p)
    p.add_argument("--lam", type=float, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("steer", help="sample at lambdas merged on the fly (no stored checkpoint per lambda)")
    pair(p)
    p.add_argument("--lam", type=float, nargs="+", default=[0.5])
    p.add_argument("--prompt", action="append", required=True)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=1.0, help="CFG strength on the merged model (1 = none)")
    p.add_argument(
        "--constrain",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the built-in token grammar (refused for MusicGen); default: as the pair was finetuned",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="var/generation/steer")
    p.set_defaults(func=cmd_steer)

    p = sub.add_parser(
        "front", help="train what is missing, evaluate the fronts and test claims 2-4; resumes"
    )
    p.add_argument(
        "--preset",
        choices=("tiny", "demo", "full"),
        default="demo",
        help="demo: sized for a 2-core machine; full: the protocol at full size (docs/front.md)",
    )
    p.add_argument("--base")
    p.add_argument("--embeddings")
    p.add_argument("--prompts", type=int, help="number of test prompts")
    p.add_argument("--seeds", type=int, nargs="+", help="sampling seeds (nested in each training seed)")
    p.add_argument("--training-seeds", type=int, nargs="+", help="training seeds of every finetune")
    p.add_argument(
        "--rewards", nargs="*", choices=REWARDS, help="the beta > 0 finetunes' rewards (none: claim 2 alone)"
    )
    p.add_argument("--constrain", action="store_true", help="grammar-constrained sampling everywhere")
    p.add_argument("--beta", type=float, help="beta of the diversity finetunes (default: the preset's)")
    p.add_argument("--steps", type=int, help="steps of every finetune (default: the preset's)")
    p.add_argument("--kl", choices=KL_DIRECTIONS, help="KL direction of the finetunes")
    p.add_argument("--out", help="default runs/PRESET/front; finetunes and cached evaluations live under it")
    p.add_argument(
        "--baselines-only",
        action="store_true",
        help="evaluate and cache the base model's CFG and temperature variants only (no finetune needed)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="worker processes for the finetunes, then the evaluations"
    )
    p.add_argument(
        "--device",
        default="auto",
        help="cpu or cuda for every model; auto: finetunes on the GPU where one is, evaluations on the CPU",
    )
    p.set_defaults(func=cmd_front)
