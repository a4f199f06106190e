"""Claim 1 of the paper: CFG raises text adherence and lowers diversity (any backend; the corpus reference
and the zero-shot check only for the built-in model, whose corpus they come from).

For each guidance strength: held-out prompts x samples x sampling seeds; text adherence (MuLan score),
diversity under the held-out and the reward embeddings, validity; CIs over prompts and over seeds; paired
tests over prompts against gamma = 1; the corpus's own figures for the same prompts as a reference.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from generation.backend import Backend, Clips
from generation.corpus import build_split, corpus_samples, test_prompts
from generation.embeddings import Embeddings, zero_shot_accuracy
from generation.metrics import diversity, mean_ci, paired_test, text_adherence
from generation.render import render_batch
from generation.sampling import SamplingConfig, generate_for_prompts

METRICS = ("adherence", "diversity_heldout", "diversity_reward")


def mean_rate(rates: list[float | None]) -> float | None:
    """Mean validity over runs; None where the backend cannot tell (it has no grammar)."""
    return None if any(r is None for r in rates) else float(np.mean(rates))


def rate_text(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.3f}"


def score_clips(emb: Embeddings, texts: list[str], clips: Clips) -> dict[str, np.ndarray]:
    """Per-prompt metrics of clips, ``len(clips.tokens) // len(texts)`` per prompt, prompt by prompt, all on
    the decoded audio (the built-in model's reward embedding reads its tokens)."""
    p = len(texts)
    k = len(clips.tokens) // p
    result = {
        "diversity_heldout": diversity(emb.embed_heldout(clips.audio, clips.sample_rate).reshape(p, k, -1)),
        "diversity_reward": diversity(emb.embed_reward(clips).reshape(p, k, -1)),
    }
    if emb.has_mulan:
        audio_emb = emb.embed_mulan_audio(clips.audio, clips.sample_rate).reshape(p, k, -1)
        result["adherence"] = text_adherence(emb.embed_text(texts), audio_emb)
    return {m: result[m] for m in METRICS if m in result}


def evaluate(
    backend: Backend,
    emb: Embeddings,
    *,
    gammas: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0),
    temperature: float = 1.0,
    n_prompts: int = 64,
    samples: int = 4,
    seeds: tuple[int, ...] = (0, 1, 2),
    zero_shot_clips: int = 300,
    caption_noise: float = 0.0,
    constrain: bool = False,
    log=print,
) -> dict[str, Any]:
    """``caption_noise``: the share of mismatched pairs in the model's training corpus, so the "corpus"
    reference is the distribution the model was trained to match ("corpus_clean" is the same without)."""
    # gamma = 1 is the reference of every test and of the base-vs-corpus check, whatever the caller asked for.
    gammas = (1.0, *(g for g in gammas if g != 1.0))
    prompts = test_prompts(n_prompts)  # reported figures: test prompts only, never the dev set tuned on
    texts = [p.text for p in prompts]
    result: dict[str, Any] = {
        "protocol": {
            "caption_noise_of_training_corpus": caption_noise,
            "grammar_constrained_sampling": constrain,
            "gammas": list(gammas),
            "temperature": temperature,
            "n_prompts": n_prompts,
            "samples_per_prompt": samples,
            "seeds": list(seeds),
        },
        "prompts": texts,
        "variants": {},
    }
    per_prompt: dict[str, dict[str, np.ndarray]] = {}

    def summarise(name: str, runs: list[dict[str, np.ndarray]], valid: list[float], extra: dict) -> None:
        by_prompt = {m: np.mean([r[m] for r in runs], axis=0) for m in METRICS}
        per_prompt[name] = by_prompt
        result["variants"][name] = {
            **extra,
            "valid_rate": mean_rate(valid),
            **{
                m: {
                    "over_prompts": mean_ci(by_prompt[m]),
                    "over_seeds": mean_ci(np.array([r[m].mean() for r in runs])),
                }
                for m in METRICS
            },
        }
        log(
            f"evaluate: {name}: "
            + ", ".join(f"{m}={by_prompt[m].mean():.4f}" for m in METRICS)
            + f", valid={rate_text(mean_rate(valid))}"
        )

    emb.require_mulan()
    check = build_split(zero_shot_clips, seed=20_000)
    result["mulan_zero_shot"] = zero_shot_accuracy(emb, check.tokens, render_batch(check.tokens))
    log(f"evaluate: MuLan zero-shot on {zero_shot_clips} fresh corpus clips: {result['mulan_zero_shot']}")
    rng = np.random.default_rng(12345)
    references = (("corpus", caption_noise), ("corpus_clean", 0.0))[: 2 if caption_noise else 1]
    for name, noise in references if backend.symbolic_tokens else ():
        runs = [
            score_clips(
                emb,
                texts,
                backend.clips(np.stack([corpus_samples(p, samples, rng, noise) for p in prompts])),
            )
            for _ in seeds
        ]
        summarise(name, runs, [1.0], {"gamma": None, "caption_noise": noise})
    for gamma in gammas:
        t0 = time.perf_counter()
        runs, valid = [], []
        for seed in seeds:
            tokens, _ = generate_for_prompts(
                backend, texts, samples, SamplingConfig(gamma, temperature, constrain=constrain), seed
            )
            valid.append(backend.valid_rate(tokens))
            runs.append(score_clips(emb, texts, backend.clips(tokens)))
        summarise(f"gamma={gamma:g}", runs, valid, {"gamma": gamma, "seconds": time.perf_counter() - t0})
    base = per_prompt["gamma=1"]
    result["tests_vs_gamma1"] = {
        name: {m: paired_test(base[m], vals[m]) for m in METRICS}
        for name, vals in per_prompt.items()
        if not name.startswith("corpus") and name != "gamma=1"
    }
    if "corpus" in per_prompt:
        result["base_vs_corpus"] = base_vs_corpus(result, base, per_prompt["corpus"])
    result["claim1"] = [
        {
            "gamma": v["gamma"],
            "adherence_up": t["adherence"]["mean_diff"] > 0 and t["adherence"]["wilcoxon_p"] < 0.05,
            "diversity_down": t["diversity_heldout"]["mean_diff"] < 0
            and t["diversity_heldout"]["wilcoxon_p"] < 0.05,
        }
        for name, t in result["tests_vs_gamma1"].items()
        for v in [result["variants"][name]]
    ]
    return result


def base_vs_corpus(result: dict[str, Any], base: dict[str, np.ndarray], corpus: dict[str, np.ndarray]):
    base_div, corpus_div = base["diversity_heldout"].mean(), corpus["diversity_heldout"].mean()
    return {
        "valid_rate": result["variants"]["gamma=1"]["valid_rate"],
        "diversity_heldout_base": float(base_div),
        "diversity_heldout_corpus": float(corpus_div),
        "relative_difference": float(base_div / corpus_div - 1),
        "diversity_reward_base": float(base["diversity_reward"].mean()),
        "diversity_reward_corpus": float(corpus["diversity_reward"].mean()),
    }


def to_markdown(result: dict[str, Any]) -> str:
    proto = result["protocol"]
    lines = [
        "# Claim 1: CFG raises text adherence and lowers diversity",
        "",
        f"{proto['n_prompts']} test prompts x {proto['samples_per_prompt']} samples x seeds "
        f"{proto['seeds']}, temperature {proto['temperature']}. Mean [95% CI over prompts]; "
        "p: Wilcoxon signed-rank over prompts against gamma=1. Training corpus caption noise "
        f"{proto.get('caption_noise_of_training_corpus', 0.0):g}; grammar-constrained sampling "
        f"{proto.get('grammar_constrained_sampling', False)}.",
        "",
        "| variant | valid | adherence (MuLan) | diversity (held-out emb.) | diversity (reward emb.) |"
        " p adherence | p diversity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in result["variants"].items():
        cells = [
            f"{v[m]['over_prompts']['mean']:.4f} [{v[m]['over_prompts']['ci_low']:.4f}, "
            f"{v[m]['over_prompts']['ci_high']:.4f}]"
            for m in METRICS
        ]
        test = result["tests_vs_gamma1"].get(name)
        ps = (
            [f"{test[m]['wilcoxon_p']:.2g}" for m in ("adherence", "diversity_heldout")] if test else ["", ""]
        )
        lines.append(f"| {name} | {rate_text(v['valid_rate'])} | " + " | ".join(cells + ps) + " |")
    bc = result.get("base_vs_corpus")
    if bc:
        lines += [
            "",
            f"Base (gamma=1) against the corpus: valid {bc['valid_rate']:.3f}; held-out diversity "
            f"{bc['diversity_heldout_base']:.4f} vs corpus {bc['diversity_heldout_corpus']:.4f} "
            f"({100 * bc['relative_difference']:+.1f}%).",
        ]
    lines += [
        "",
        "Claim 1 at each gamma (adherence up and held-out diversity down, each p<0.05): "
        + "; ".join(
            f"gamma={c['gamma']:g}: {'yes' if c['adherence_up'] and c['diversity_down'] else 'no'}"
            for c in result["claim1"]
        ),
        "",
        f"MuLan zero-shot on fresh corpus clips: {result.get('mulan_zero_shot')}",
        "",
        "Over seeds (mean [95% CI over the seeds' means]):",
        "",
    ]
    for name, v in result["variants"].items():
        lines.append(
            f"- {name}: "
            + "; ".join(
                f"{m} {v[m]['over_seeds']['mean']:.4f} [{v[m]['over_seeds']['ci_low']:.4f}, "
                f"{v[m]['over_seeds']['ci_high']:.4f}]"
                for m in METRICS
            )
        )
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "evaluate.json", out / "evaluate.md"
    js.write_text(json.dumps(result, indent=2))
    md.write_text(to_markdown(result))
    return js, md
