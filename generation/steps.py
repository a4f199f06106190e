"""The work of a study recipe's steps, as plain functions: parameters and earlier steps' results in, a
folder of files out.

Each step writes into a folder named by its key (``launches.recipe.step_key``: a hash of the step's kind,
parameters and inputs' keys). Work happens in ``KEY.partial/`` and the folder is renamed to ``KEY/`` once
the step is complete, so a finished folder is never half-written, a relaunch reuses every finished step,
and a step interrupted half-way resumes from what its ``.partial`` folder holds (a finetune from its last
saved checkpoint). ``result.json`` in a finished folder says what the step made; its ``files`` are
relative to the folder and come back as absolute paths.

Nothing here imports Django, and torch only inside the functions: the web process plans with
``launches.recipe`` and never runs these.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from formats import MANIFEST_COLUMNS
from generation.jobs import CHECKPOINTS_DIR, JobParametersError, resolve_checkpoint

Progress = Callable[[float, str], None]
Result = dict[str, Any]
RESULT = "result.json"
PROMPTS_PER_CHUNK = 8


class StepFailed(RuntimeError):
    """A step that cannot be done with its inputs; the message says why in one line."""


def step_folder(runs_dir: Path, key: str) -> Path:
    return Path(runs_dir) / "steps" / key


def step_result(runs_dir: Path, key: str) -> Result | None:
    """What a finished step made (files as absolute paths), or None when it has not finished."""
    folder = step_folder(runs_dir, key)
    path = folder / RESULT
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    result["files"] = {name: str(folder / rel) for name, rel in result.get("files", {}).items()}
    return result


def step_run(
    kind: str, key: str, params: dict[str, Any], inputs: list[Result], runs_dir: Path, progress: Progress
) -> Result:
    """Run one step, or return what an earlier run of the same key made. ``inputs`` are the results of
    the steps it depends on, in the plan's order."""
    done = step_result(runs_dir, key)
    if done is not None:
        return done
    final = step_folder(runs_dir, key)
    work = final.with_name(key + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    result = RUNNERS[kind](params, inputs, work, Path(runs_dir), progress)
    (work / RESULT).write_text(json.dumps(result, indent=1, sort_keys=True))
    if final.exists():  # another run of the same key finished first: its output stands
        shutil.rmtree(work, ignore_errors=True)
    else:
        work.rename(final)
    finished = step_result(runs_dir, key)
    assert finished is not None
    return finished


# --- models -------------------------------------------------------------------------------------------


def model_identity(name: str, runs_dir: Path) -> str | None:
    """The identity of a model a recipe names: a built-in checkpoint's digest (read from its sidecar, so
    the web process loads no torch), a MusicGen folder's path, or None when there is no such model."""
    if (Path(name) / "config.json").is_file():
        return f"folder:{Path(name).resolve()}"
    for candidate in [name] if name.endswith(".pt") else [f"{name}.pt"]:
        try:
            path = resolve_checkpoint(candidate, Path(runs_dir))
        except JobParametersError:
            continue
        sidecar = path.with_name(path.name + ".json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        if meta.get("sha256") or meta.get("checkpoint_id"):
            return str(meta.get("sha256") or meta.get("checkpoint_id"))
        stat = path.stat()
        return f"file:{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
    return None


def named_model(name: str, runs_dir: Path, embeddings: str = "") -> Result:
    """A model the recipe names, as a step result: a built-in checkpoint and the embeddings trained with
    it, or a model folder (MusicGen) with the embeddings the recipe gives for it."""
    if (Path(name) / "config.json").is_file():
        if not embeddings:
            raise StepFailed(
                f"model folder {name} needs an embeddings bundle: set `embeddings:` in the recipe"
            )
        return {"files": {"checkpoint": str(Path(name).resolve()), "embeddings": embeddings}}
    try:
        checkpoint = resolve_checkpoint(name if name.endswith(".pt") else f"{name}.pt", Path(runs_dir))
    except JobParametersError as exc:
        raise StepFailed(str(exc)) from None
    embeddings = checkpoint.with_name(checkpoint.name.removesuffix(".pt").split("-")[0] + "-embeddings.pt")
    if not embeddings.is_file():
        raise StepFailed(f"no embeddings {embeddings.name} beside {checkpoint}: train them with pretrain")
    return {"files": {"checkpoint": str(checkpoint), "embeddings": str(embeddings)}}


def _base(params: dict[str, Any], inputs: list[Result], runs_dir: Path) -> Result:
    """What a step starts from: the pretrain step before it, else the model the recipe names."""
    return inputs[0] if inputs else named_model(params["model"], runs_dir, params.get("embeddings", ""))


def run_pretrain(params, inputs, work: Path, runs_dir: Path, progress: Progress) -> Result:
    """A base model and its embeddings from a preset (``tiny``: seconds on a CPU)."""
    import torch

    from generation.backend import default_device
    from generation.embeddings import EMBEDDING_PRESETS, train_embeddings
    from generation.train import PRESETS, pretrain

    torch.set_num_threads(1)

    def report(step: int, total: int, metrics: dict[str, float]) -> None:
        if step % 10 == 0 or step == total:
            progress(
                0.8 * step / max(total, 1), f"pretrain step {step}/{total}, loss {metrics['train_loss']:.3f}"
            )

    config = replace(PRESETS[params["preset"]], seed=params["seed"])
    pretrain(
        config, work / "model.pt", progress=report, corpus_cache=runs_dir / "corpus", device=default_device()
    )
    if not (work / "embeddings.pt").is_file():
        progress(0.8, "training the embeddings")
        preset = replace(EMBEDDING_PRESETS[params["preset"]], seed=params["seed"])
        train_embeddings(preset, log=lambda *_: None).save(work / "embeddings.pt")
    return {"files": {"checkpoint": "model.pt", "embeddings": "embeddings.pt"}}


def _committed_finetune(run_config: dict[str, Any]) -> Path | None:
    """A committed checkpoint trained with exactly this run config (same base, reward embedding, seed and
    settings), so the demo recipe reuses generation/checkpoints/ instead of training again."""
    from generation.finetune import FinetuneConfig

    # a checkpoint trained before the reward key existed trained with the paper's reward
    defaults = {k: getattr(FinetuneConfig(), k) for k in ("reward", "gate_threshold", "gate_width")}
    for sidecar in sorted(CHECKPOINTS_DIR.glob("*.pt.json")):
        committed = json.loads(sidecar.read_text()).get("train_config")
        if committed is not None and {**defaults, **committed} == run_config:
            return sidecar.with_name(sidecar.name.removesuffix(".json"))
    return None


def run_finetune(params, inputs, work: Path, runs_dir: Path, progress: Progress) -> Result:
    """CFG distillation (beta = 0) or the diversity finetune (beta > 0) of the base, one training seed."""
    import torch

    from generation.backend import base_checkpoint as checkpoint_of
    from generation.checkpoint import weights_digest
    from generation.embeddings import Embeddings
    from generation.finetune import config_for, finetune

    torch.set_num_threads(1)
    base = _base(params, inputs, runs_dir)
    base_checkpoint = checkpoint_of(base["files"]["checkpoint"])
    cfg = config_for(
        base_checkpoint["train_config"].get("preset", "demo"),
        gamma=params["gamma"],
        beta=params.get("beta", 0.0),
        steps=params["steps"],
        seed=params["seed"],
        constrain=params["constrain"],
        reward=params.get("reward", "paper"),
    )
    embeddings = Embeddings.load(base["files"]["embeddings"])
    run_config = {
        **cfg.to_dict(),
        "objective": "diversity_rewarded_cfg_distillation",
        "base_checkpoint_id": base_checkpoint["checkpoint_id"],
        "reward_embedding_id": weights_digest(embeddings.reward_encoder.state_dict()),
    }
    files = {"embeddings": base["files"]["embeddings"]}
    committed = _committed_finetune(run_config)
    if committed is not None:
        progress(0.95, f"reusing the committed {committed.name} (trained with these settings)")
        return {"files": {**files, "checkpoint": str(committed)}, "reused": committed.name}

    def report(step: int, total: int, metrics: dict[str, float]) -> None:
        progress(
            0.95 * step / total,
            f"step {step}/{total}, kl {metrics['kl']:.3f}, reward {metrics['reward']:.3f}",
        )

    checkpoint = finetune(cfg, base["files"]["checkpoint"], embeddings, work / "model.pt", progress=report)
    log = checkpoint["log"][-1] if checkpoint["log"] else {}
    return {
        "files": {**files, "checkpoint": "model.pt"},
        "last": {k: log[k] for k in ("kl", "reward") if k in log},
    }


def run_merge(params, inputs, work: Path, runs_dir: Path, progress: Progress) -> Result:
    """theta_lambda of the quality (first) and diversity (second) finetunes of one training seed."""
    from generation.checkpoint import load_checkpoint, save_checkpoint
    from generation.merge import merge_checkpoints

    quality, diverse = inputs
    try:
        merged = merge_checkpoints(
            load_checkpoint(quality["files"]["checkpoint"]),
            load_checkpoint(diverse["files"]["checkpoint"]),
            params["lam"],
        )
    except ValueError as exc:
        raise StepFailed(str(exc)) from None
    save_checkpoint(merged, work / "model.pt")
    return {"files": {"checkpoint": "model.pt", "embeddings": quality["files"]["embeddings"]}}


def run_generate(params, inputs, work: Path, runs_dir: Path, progress: Progress) -> Result:
    """A variant's clips for the study's prompts, with a manifest for import_clips. A trained variant
    with several training seeds draws each prompt's clips from one seed in turn (recorded per clip)."""
    if "manifest" in params:
        return _imported(params, work)
    import numpy as np
    import torch

    from generation.backend import load_backend
    from generation.render import write_wav
    from generation.sampling import SamplingConfig, generate_for_prompts

    torch.set_num_threads(1)
    models = inputs or [named_model(params["model"], runs_dir, params.get("embeddings", ""))]
    sampling = SamplingConfig(
        params.get("gamma", 1.0), params.get("temperature", 1.0), constrain=params["constrain"]
    )
    prompts = params["prompts"]
    rows, seeds = [], {}
    for which, source in enumerate(models):
        mine = [p for i, p in enumerate(prompts) if i % len(models) == which]
        if not mine:
            continue
        model = load_backend(source["files"]["checkpoint"])
        same_samples = [[p for p in mine if p[2] == n] for n in sorted({p[2] for p in mine})]
        # A few prompts at a time, so that progress (the step's heartbeat) is reported every few seconds
        # even for a large model over many prompts; each chunk has its own seed, fixed by its place.
        chunks = [
            group[i : i + PROMPTS_PER_CHUNK]
            for group in same_samples
            for i in range(0, len(group), PROMPTS_PER_CHUNK)
        ]
        for number, group in enumerate(chunks):
            samples = group[0][2]
            seed = which * 10_000 + number
            tokens, _ = generate_for_prompts(model, [p[1] for p in group], samples, sampling, seed=seed)
            for (prompt_id, text, _), prompt_tokens in zip(group, tokens, strict=True):
                for k, audio in enumerate(model.decode(prompt_tokens)):
                    rel = f"clips/{prompt_id}_{k}.wav"
                    write_wav(work / rel, audio, model.sample_rate)
                    rows.append([prompt_id, text, params["variant"], k, rel])
                if model.symbolic_tokens:  # what the built-in model's symbolic reward embedding reads
                    np.save(work / f"clips/{prompt_id}.npy", prompt_tokens)
                seeds[prompt_id] = params["seeds"][which]
            progress(len(rows) / sum(p[2] for p in prompts), f"{len(rows)} clips rendered")
    _write_manifest(work / "manifest.csv", rows)
    embeddings = models[0]["files"]["embeddings"]
    return {
        "files": {"manifest": "manifest.csv", "embeddings": embeddings},
        "clips": len(rows),
        "seed_of_prompt": seeds,
    }


def _imported(params: dict[str, Any], work: Path) -> Result:
    """An import variant's rows of its manifest (the rows naming the variant), files left where they are."""
    source = Path(params["manifest"])
    with source.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("variant") == params["variant"]]
    if not rows:
        raise StepFailed(f"{source} has no rows for variant {params['variant']!r}")
    keep = [
        [r["prompt_id"], r["prompt_text"], r["variant"], r["sample_index"], str(source.parent / r["path"])]
        for r in rows
    ]
    _write_manifest(work / "manifest.csv", keep)
    return {"files": {"manifest": "manifest.csv"}, "clips": len(keep)}


def _write_manifest(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)


def run_metrics(params, inputs, work: Path, runs_dir: Path, progress: Progress) -> Result:
    """The automatic metrics of a variant's clips (MISSION.md section 3): text adherence (MuLan-style),
    and diversity on the reward and the held-out embeddings over each prompt's samples."""
    (generated,) = inputs
    if "embeddings" not in generated["files"]:
        return {"metrics": {}, "note": "imported clips: no embeddings of their model"}
    import numpy as np
    import soundfile

    from generation.backend import Clips
    from generation.embeddings import Embeddings
    from generation.metrics import diversity, text_adherence

    embeddings = Embeddings.load(generated["files"]["embeddings"])
    manifest = Path(generated["files"]["manifest"])
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    by_prompt: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt_id"], []).append(row)
    adherence, heldout, reward = [], [], []
    for prompt_id, clips in by_prompt.items():
        read = [soundfile.read(manifest.parent / c["path"], dtype="float32") for c in clips]
        audio, sr = np.stack([a for a, _ in read]), read[0][1]
        text = embeddings.embed_text([clips[0]["prompt_text"]])
        adherence.append(float(text_adherence(text, embeddings.embed_mulan_audio(audio, sr)[None])[0]))
        if len(clips) >= 2:
            heldout.append(float(diversity(embeddings.embed_heldout(audio, sr)[None]).mean()))
            tokens = manifest.parent / "clips" / f"{prompt_id}.npy"
            if tokens.is_file():  # the built-in model's tokens: its symbolic reward embedding reads them
                scored = Clips(np.load(tokens), sr, symbolic=True, given_audio=audio)
                reward.append(float(diversity(embeddings.embed_reward(scored)[None]).mean()))
    metrics = {"text_adherence": float(np.mean(adherence))}
    if heldout:
        metrics["diversity_heldout"] = float(np.mean(heldout))
    if reward:
        metrics["diversity_reward"] = float(np.mean(reward))
    progress(1.0, ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    return {"metrics": metrics, "prompts": len(by_prompt)}


RUNNERS: dict[str, Callable[..., Result]] = {
    "pretrain": run_pretrain,
    "finetune": run_finetune,
    "merge": run_merge,
    "generate": run_generate,
    "metrics": run_metrics,
}
