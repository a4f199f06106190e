"""The ground-truth table: the corpus and the base model under CFG and temperature, judged by ground truth
(generation.groundtruth) beside the learned metrics (generation.metrics on the trained embeddings), with rank
correlations between the two, over samples and over variants.

    python -m generation.groundtruth_table [--prompts 64] [--samples 8] [--out docs/groundtruth.md]

Test prompts only (corpus.test_prompts). Rewrites the part of ``--out`` between the table markers (the whole
file if it has none) and writes every figure as JSON to ``--json`` (var/generation/groundtruth.json).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from generation.corpus import corpus_samples, test_prompts
from generation.groundtruth import ON_PARTS, GroundTruthScores, score_tokens
from generation.metrics import diversity, mean_ci, paired_test, text_adherence

PART_LABELS = {
    "free_attributes": "unstated caption attributes",
    "key": "key",
    "melody": "melody",
    "rhythm": "rhythm",
    "bass_line": "bass line",
    "drums": "drums",
}
BEGIN, END = "<!-- groundtruth-table:begin -->", "<!-- groundtruth-table:end -->"
Log = Callable[[str], None]


@dataclass(frozen=True)
class TableConfig:
    checkpoint: str = "generation/checkpoints/demo.pt"
    embeddings: str = "generation/checkpoints/demo-embeddings.pt"
    n_prompts: int = 64
    samples: int = 8
    gammas: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    temperatures: tuple[float, ...] = (0.6, 0.8)  # the issue's grid; T = 1 with --temperatures
    seed: int = 0
    threads: int = 1


@dataclass
class Variant:
    """One row: its samples' ground-truth scores and learned per-sample / per-pair values."""

    name: str
    gamma: float | None
    temperature: float | None
    valid: float
    truth: GroundTruthScores
    adherence: np.ndarray  # (P, K) MuLan cosine of each sample with its prompt
    adherence_per_prompt: np.ndarray  # (P,) generation.metrics.text_adherence
    dissim_heldout: np.ndarray  # (P, pairs) 1 - cosine of the held-out embeddings of each pair
    dissim_reward: np.ndarray  # (P, pairs) the same under the reward embedding
    dissim_mulan: np.ndarray  # (P, pairs) the same under the adherence (MuLan) model's audio tower
    diversity_heldout: np.ndarray  # (P,) generation.metrics.diversity
    diversity_reward: np.ndarray


def _pairs(emb: Any) -> np.ndarray:
    """(P, K, D) unit vectors -> (P, pairs) 1 - cosine in ``itertools.combinations`` order."""
    e = np.asarray(emb)
    return np.stack(
        [1.0 - np.einsum("pd,pd->p", e[:, i], e[:, j]) for i, j in combinations(range(e.shape[1]), 2)], 1
    )


def measure(name: str, tokens: np.ndarray, specs: list, texts: list[str], emb: Any, **extra: Any) -> Variant:
    from generation.backend import Clips
    from generation.backend_builtin import validity_rate
    from generation.render import SAMPLE_RATE, render_batch

    p, k, _ = tokens.shape
    flat = tokens.reshape(p * k, -1)
    audio = render_batch(flat)
    text_emb = emb.embed_text(texts)
    mulan = emb.embed_mulan_audio(audio).reshape(p, k, -1)
    heldout = emb.embed_heldout(audio).reshape(p, k, -1)
    reward = emb.embed_reward(Clips(flat, SAMPLE_RATE, symbolic=True, given_audio=audio)).reshape(p, k, -1)
    return Variant(
        name=name,
        valid=validity_rate(tokens),
        truth=score_tokens(specs, tokens),
        adherence=np.einsum("pd,pkd->pk", text_emb.numpy(), mulan.numpy()),
        adherence_per_prompt=text_adherence(text_emb, mulan),
        dissim_heldout=_pairs(heldout),
        dissim_reward=_pairs(reward),
        dissim_mulan=_pairs(mulan),
        diversity_heldout=diversity(heldout),
        diversity_reward=diversity(reward),
        **extra,
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"rho": float("nan"), "p": float("nan"), "n": len(a)}
    r = stats.spearmanr(a, b)
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": len(a)}


def correlations(rows: list[Variant]) -> dict[str, dict[str, dict[str, float]]]:
    """Learned against ground-truth metrics, pooled over every sample (pair) of every row, and over rows."""
    cat = np.concatenate
    over_samples = {
        "adherence~satisfied": _spearman(
            cat([r.adherence.ravel() for r in rows]), cat([r.truth.sample_satisfied.ravel() for r in rows])
        )
    }
    over_variants = {
        "adherence~satisfaction": _spearman(
            np.array([r.adherence_per_prompt.mean() for r in rows]),
            np.array([r.truth.satisfaction.mean() for r in rows]),
        )
    }
    for emb in ("heldout", "reward"):
        for gt in ("on", "off"):
            over_samples[f"dissimilarity_{emb}~{gt}_prompt"] = _spearman(
                cat([getattr(r, f"dissim_{emb}").ravel() for r in rows]),
                cat([getattr(r.truth, f"pair_{gt}").ravel() for r in rows]),
            )
            over_variants[f"diversity_{emb}~{gt}_prompt"] = _spearman(
                np.array([getattr(r, f"diversity_{emb}").mean() for r in rows]),
                np.array([getattr(r.truth, f"{gt}_prompt").mean() for r in rows]),
            )
    return {"over_samples": over_samples, "over_variants": over_variants}


EMBEDDING_PAIRS = (("reward", "heldout"), ("reward", "mulan"), ("heldout", "mulan"))


def embedding_agreement(rows: list[Variant]) -> dict[str, dict[str, float]]:
    """Spearman correlation between two embeddings' dissimilarities of the same pairs of samples, pooled over
    the base model's rows (test prompts): how far the held-out embedding is from the reward one, and each from
    the adherence model's audio tower."""
    base = [r for r in rows if r.gamma is not None] or rows
    return {
        f"{a}~{b}": _spearman(
            np.concatenate([getattr(r, f"dissim_{a}").ravel() for r in base]),
            np.concatenate([getattr(r, f"dissim_{b}").ravel() for r in base]),
        )
        for a, b in EMBEDDING_PAIRS
    }


def run_table(cfg: TableConfig, log: Log = print) -> dict[str, Any]:
    import torch

    from generation.backend import load_with_checkpoint
    from generation.embeddings import Embeddings
    from generation.sampling import SamplingConfig, generate_for_prompts

    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    model, ckpt = load_with_checkpoint(cfg.checkpoint)
    emb = Embeddings.load(cfg.embeddings)
    noise = float(ckpt.get("train_config", {}).get("caption_noise", 0.0))
    prompts = test_prompts(cfg.n_prompts)
    texts, specs = [p.text for p in prompts], [p.spec for p in prompts]
    rows: list[Variant] = []
    rng = np.random.default_rng(cfg.seed + 12_345)
    for name, share in (("corpus", noise), ("corpus (exact captions)", 0.0)):
        tokens = np.stack([corpus_samples(p, cfg.samples, rng, share) for p in prompts])
        rows.append(measure(name, tokens, specs, texts, emb, gamma=None, temperature=None))
        log(f"groundtruth table: {name} ({time.perf_counter() - t0:.0f}s)")
    for temperature in cfg.temperatures:
        for gamma in cfg.gammas:
            tokens, _ = generate_for_prompts(
                model, texts, cfg.samples, SamplingConfig(gamma, temperature), seed=cfg.seed
            )
            name = f"base gamma={gamma:g} T={temperature:g}"
            rows.append(measure(name, tokens, specs, texts, emb, gamma=gamma, temperature=temperature))
            log(f"groundtruth table: {name} ({time.perf_counter() - t0:.0f}s)")
    by_name = {r.name: r for r in rows}
    comparisons = [("corpus", f"base gamma=1 T={t:g}") for t in cfg.temperatures] + [
        (f"base gamma=1 T={t:g}", f"base gamma={g:g} T={t:g}")
        for t in cfg.temperatures
        for g in cfg.gammas
        if g != 1
    ]
    tests = [
        {
            "a": a,
            "b": b,
            **{
                part: _paired(_on(by_name[a], part), _on(by_name[b], part))
                for part in ("on_prompt", "on_prompt_satisfied", *ON_PARTS)
            },
        }
        for a, b in comparisons
        if a in by_name and b in by_name
    ]
    return {
        "protocol": {
            **asdict(cfg),
            "caption_noise_of_training_corpus": noise,
            "prompt_set": "test",
            "seconds": round(time.perf_counter() - t0, 1),
        },
        "rows": [
            {
                "name": r.name,
                "gamma": r.gamma,
                "temperature": r.temperature,
                "valid": r.valid,
                **{m: mean_ci(getattr(r.truth, m)) for m in ("satisfaction", "on_prompt", "off_prompt")},
                "on_prompt_satisfied": _mean_ci(r.truth.on_prompt_satisfied),
                "on_parts": {part: mean_ci(_on(r, part)) for part in ON_PARTS},
                "adherence": mean_ci(r.adherence_per_prompt),
                "diversity_heldout": mean_ci(r.diversity_heldout),
                "diversity_reward": mean_ci(r.diversity_reward),
            }
            for r in rows
        ],
        "correlations": correlations(rows),
        "embedding_agreement": embedding_agreement(rows),
        "on_prompt_tests": tests,
        "on_prompt_gamma3_vs_gamma1": {
            t["b"].split()[-1]: t["on_prompt"] for t in tests if t["b"].startswith("base gamma=3 ")
        },
    }


def _on(row: Variant, part: str) -> np.ndarray:
    """Per-prompt on-prompt diversity: whole, over satisfying pairs only (NaN where a prompt has none), or
    one part (0 where a prompt leaves nothing of that part free)."""
    if part in ("on_prompt", "on_prompt_satisfied"):
        return getattr(row.truth, part)
    return np.nan_to_num(row.truth.on_parts[part], nan=0.0)


def _mean_ci(values: np.ndarray) -> dict[str, float]:
    """``mean_ci`` over the prompts where the value exists."""
    values = values[np.isfinite(values)]
    return mean_ci(values) if len(values) else {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``paired_test`` over the prompts where both values exist."""
    keep = np.isfinite(a) & np.isfinite(b)
    if not keep.any():
        return {"mean_diff": np.nan, "wilcoxon_p": np.nan, "ttest_p": np.nan, "n_prompts": 0}
    return paired_test(a[keep], b[keep])


def _cell(v: dict[str, float]) -> str:
    return f"{v['mean']:.3f} ±{(v['ci_high'] - v['ci_low']) / 2:.3f}"


def to_markdown(result: dict[str, Any]) -> str:
    proto = result["protocol"]
    lines = [
        f"{proto['n_prompts']} test prompts x {proto['samples']} samples per row (seed {proto['seed']}), "
        f"`{proto['checkpoint']}` (training corpus caption noise {proto['caption_noise_of_training_corpus']:g}), "
        f"embeddings `{proto['embeddings']}`; {proto['seconds']:.0f} s with {proto['threads']} torch thread. "
        "Mean ±half the 95% t-interval over prompts.",
        "",
        "| variant | valid | satisfaction | on-prompt div. | on-prompt div., satisfying pairs "
        "| off-prompt div. | adherence (MuLan) | div. held-out emb. | div. reward emb. |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    metrics = (
        "satisfaction",
        "on_prompt",
        "on_prompt_satisfied",
        "off_prompt",
        "adherence",
        "diversity_heldout",
        "diversity_reward",
    )
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | {row['valid']:.3f} | " + " | ".join(_cell(row[m]) for m in metrics) + " |"
        )
    lines += [
        "",
        "On-prompt diversity part by part (mean over prompts of the mean difference over pairs):",
        "",
        "| variant | " + " | ".join(PART_LABELS[p] for p in ON_PARTS) + " |",
        "|---|" + "---|" * len(ON_PARTS),
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | " + " | ".join(f"{row['on_parts'][p]['mean']:.3f}" for p in ON_PARTS) + " |"
        )
    lines += ["", "Spearman rank correlations, learned against ground truth:", ""]
    lines += ["| learned ~ ground truth | over samples (pairs) | over variants |", "|---|---|---|"]
    corr = result["correlations"]
    for (s_key, s), (v_key, v) in zip(
        corr["over_samples"].items(), corr["over_variants"].items(), strict=True
    ):
        lines.append(
            f"| {s_key} / {v_key} | {s['rho']:.3f} (n={s['n']}, p={s['p']:.2g}) "
            f"| {v['rho']:.3f} (n={v['n']}, p={v['p']:.2g}) |"
        )
    agreement = result.get("embedding_agreement", {})
    names = {"reward": "reward", "heldout": "held-out", "mulan": "MuLan audio tower"}
    lines += [
        "",
        "Spearman rank correlation between two embeddings' dissimilarities (1 - cosine) of the same pairs of "
        "base-model samples (every base row pooled):",
        "",
        "| embeddings | rho |",
        "|---|---|",
    ]
    for key, v in agreement.items():
        a, b = key.split("~")
        lines.append(f"| {names[a]} ~ {names[b]} | {v['rho']:.3f} (n={v['n']}, p={v['p']:.2g}) |")
    parts = ("on_prompt", "on_prompt_satisfied", *ON_PARTS)
    lines += [
        "",
        "On-prompt diversity, B against A per test prompt: mean difference B - A (two-sided Wilcoxon p; "
        "satisfying pairs: over the prompts where both rows have a pair of satisfying samples, n given):",
        "",
        "| A | B | on-prompt | satisfying pairs | " + " | ".join(PART_LABELS[p] for p in ON_PARTS) + " |",
        "|---|---|" + "---|" * len(parts),
    ]
    for t in result["on_prompt_tests"]:
        cells = [f"{t[p]['mean_diff']:+.4f} ({t[p]['wilcoxon_p']:.2g})" for p in parts]
        cells[1] = cells[1][:-1] + f", n={t['on_prompt_satisfied']['n_prompts']})"
        lines.append(f"| {t['a']} | {t['b']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_doc(markdown: str, path: Path) -> Path:
    """Put ``markdown`` between the table markers of ``path`` (the whole file if it has none)."""
    block = f"{BEGIN}\n{markdown}{END}"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    d = TableConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=d.checkpoint)
    parser.add_argument("--embeddings", default=d.embeddings)
    parser.add_argument("--prompts", type=int, default=d.n_prompts)
    parser.add_argument("--samples", type=int, default=d.samples)
    parser.add_argument("--gammas", type=float, nargs="+", default=list(d.gammas))
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures))
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--out", default="docs/groundtruth.md")
    parser.add_argument("--json", default="var/generation/groundtruth.json")
    args = parser.parse_args(argv)
    if args.samples < 2 or args.prompts < 2:
        parser.error("--samples and --prompts must be at least 2 (diversity needs pairs, tests need prompts)")
    for path in (args.checkpoint, args.embeddings):
        if not Path(path).exists():
            parser.error(f"{path} does not exist")
    cfg = TableConfig(
        args.checkpoint,
        args.embeddings,
        args.prompts,
        args.samples,
        tuple(args.gammas),
        tuple(args.temperatures),
        args.seed,
        args.threads,
    )
    result = run_table(cfg)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(write_doc(to_markdown(result), Path(args.out)))


if __name__ == "__main__":
    main()
