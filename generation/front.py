"""The quality-diversity front (claims 2-4 of MISSION.md section 2), on any backend (the presets: the built-in
model).

Trains what is missing (the beta = 0 and beta > 0 finetunes of the base), then evaluates on held-out prompts x
samples x seeds: the base under CFG at each gamma, the base at each temperature, and the merges between the two
finetunes at each lambda (lambda = 0 is the distilled model, lambda = 1 the diversity model). Writes
``front.json`` (one row per variant, the claims with their tests) and ``front.png`` (the fronts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from generation.backend import Backend, load_with_checkpoint
from generation.corpus import held_out_prompts
from generation.embeddings import Embeddings
from generation.evaluate import METRICS, mean_rate, rate_text, score_clips
from generation.finetune import PRESETS as FINETUNE_PRESETS
from generation.finetune import FinetuneConfig, finetune
from generation.merge import Steering
from generation.metrics import mean_ci, paired_test
from generation.sampling import SamplingConfig, generate_for_prompts

Log = Callable[[str], None]


@dataclass(frozen=True)
class FrontConfig:
    preset: str
    base: str
    embeddings: str
    quality: str  # the beta = 0 finetune (CFG distillation)
    diversity: str  # the beta > 0 finetune
    quality_finetune: FinetuneConfig
    diversity_finetune: FinetuneConfig
    gammas: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    temperatures: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.1)
    lambdas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    n_prompts: int = 64
    samples: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)
    bootstrap: int = 2000
    constrain: bool = False  # grammar-constrained sampling for every variant (and the finetunes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finetunes(preset: str, gamma: float, beta: float) -> dict[str, FinetuneConfig]:
    ft = FINETUNE_PRESETS[preset]
    return {
        "quality_finetune": replace(ft, gamma=gamma, beta=0.0),
        "diversity_finetune": replace(ft, gamma=gamma, beta=beta),
    }


FRONT_PRESETS: dict[str, FrontConfig] = {
    "tiny": FrontConfig(
        preset="tiny",
        base="runs/tiny/base.pt",
        embeddings="runs/tiny/embeddings.pt",
        quality="runs/tiny/distilled.pt",
        diversity="runs/tiny/diverse.pt",
        **_finetunes("tiny", gamma=1.5, beta=10.0),
        gammas=(1.0, 1.5, 2.0),
        temperatures=(0.8,),
        lambdas=(0.0, 0.5, 1.0),
        n_prompts=3,
        samples=2,
        seeds=(0, 1),
        bootstrap=50,
    ),
    "demo": FrontConfig(
        preset="demo",
        base="generation/checkpoints/demo.pt",
        embeddings="generation/checkpoints/demo-embeddings.pt",
        quality="generation/checkpoints/demo-distilled.pt",
        diversity="generation/checkpoints/demo-diverse.pt",
        **_finetunes("demo", gamma=3.0, beta=10.0),
        constrain=True,
    ),
}


@dataclass
class Variant:
    name: str
    kind: str  # cfg | temperature | distilled | diversity | merge
    gamma: float
    temperature: float
    lam: float | None = None
    beta: float | None = None
    teacher_gamma: float | None = None
    checkpoint_ids: list[str] = field(default_factory=list)


def base_variants(cfg: FrontConfig, base_id: str) -> list[Variant]:
    cfg_rows = [Variant(f"cfg gamma={g:g}", "cfg", g, 1.0, checkpoint_ids=[base_id]) for g in cfg.gammas]
    temp_rows = [
        Variant(f"base T={t:g}", "temperature", 1.0, t, checkpoint_ids=[base_id]) for t in cfg.temperatures
    ]
    return cfg_rows + temp_rows


def merge_variants(cfg: FrontConfig, quality: dict, diversity: dict) -> list[Variant]:
    rows = []
    for lam in cfg.lambdas:
        kind, name = "merge", f"merge lambda={lam:g}"
        if lam == 0.0:
            kind, name = "distilled", "distilled (beta=0)"
        elif lam == 1.0:
            kind, name = "diversity", f"diversity (beta={cfg.diversity_finetune.beta:g})"
        rows.append(
            Variant(
                name,
                kind,
                1.0,
                1.0,
                lam=lam,
                beta=(1 - lam) * cfg.quality_finetune.beta + lam * cfg.diversity_finetune.beta,
                teacher_gamma=cfg.quality_finetune.gamma,
                checkpoint_ids=[quality["checkpoint_id"], diversity["checkpoint_id"]],
            )
        )
    return rows


def evaluate_variant(
    model: Backend, emb: Embeddings, texts: list[str], variant: Variant, cfg: FrontConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The variant's row, its per-prompt metrics (averaged over seeds) and its per-seed means."""
    runs, valid, gen_s = [], [], 0.0
    for seed in cfg.seeds:
        t0 = time.perf_counter()
        sampling = SamplingConfig(variant.gamma, variant.temperature, constrain=cfg.constrain)
        tokens, _ = generate_for_prompts(model, texts, cfg.samples, sampling, seed)
        gen_s += time.perf_counter() - t0
        valid.append(model.valid_rate(tokens))
        runs.append(score_clips(emb, texts, model.clips(tokens)))
    by_prompt = {m: np.mean([r[m] for r in runs], axis=0) for m in METRICS}
    by_seed = {m: np.array([r[m].mean() for r in runs]) for m in METRICS}
    n_tokens = len(cfg.seeds) * len(texts) * cfg.samples * model.tokens_per_sequence
    row = {
        **asdict(variant),
        "valid_rate": mean_rate(valid),
        **{m: mean_ci(by_prompt[m]) for m in METRICS},
        "over_seeds": {m: mean_ci(by_seed[m]) for m in METRICS},
        "tokens_per_s": n_tokens / gen_s,
        "forward_passes_per_token": 2 if variant.gamma != 1.0 else 1,
        "seeds": list(cfg.seeds),
        "n_prompts": len(texts),
        "samples_per_prompt": cfg.samples,
    }
    return row, by_prompt, by_seed


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (diversity, adherence) points no other point beats on both, ordered by diversity."""
    return sorted(p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points))


def baseline_at(front: list[tuple[float, float]], x: float) -> float | None:
    """Adherence of a baseline at held-out diversity ``x``: linear along its Pareto front (its dominated points
    dropped, so the baseline is taken at its best); None outside the front's diversity range."""
    pts = pareto_front(front)
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    if x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, ys))


def front_margins(
    per_prompt: dict[str, dict[str, np.ndarray]],
    candidates: list[str],
    fronts: dict[str, list[str]],
    n_boot: int,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """For each candidate and baseline front: adherence minus the front's adherence at the candidate's held-out
    diversity, with a bootstrap 95% CI over prompts (resampling prompts jointly for every variant)."""
    n = len(next(iter(per_prompt.values()))["adherence"])
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, n, n) for _ in range(n_boot)]

    def margin(name: str, members: list[str], idx: np.ndarray | None) -> float | None:
        def mean(v: str, m: str) -> float:
            vals = per_prompt[v][m]
            return float(vals.mean() if idx is None else vals[idx].mean())

        at = baseline_at(
            [(mean(v, "diversity_heldout"), mean(v, "adherence")) for v in members],
            mean(name, "diversity_heldout"),
        )
        return None if at is None else mean(name, "adherence") - at

    out: dict[str, dict[str, Any]] = {}
    for name in candidates:
        out[name] = {}
        for front_name, members in fronts.items():
            point = margin(name, members, None)
            samples = [m for m in (margin(name, members, b) for b in boots) if m is not None]
            if point is None or len(samples) < n_boot // 2:
                out[name][front_name] = {"margin": point, "verdict": "outside the front's diversity range"}
                continue
            lo, hi = np.percentile(samples, [2.5, 97.5])
            verdict = "dominates" if lo > 0 else "loses" if hi < 0 else "matches (CI contains 0)"
            out[name][front_name] = {
                "margin": point,
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p_not_above": float(np.mean(np.array(samples) <= 0)),
                "verdict": verdict,
            }
    return out


def claims(rows: dict[str, dict], per_prompt: dict, per_seed: dict, cfg: FrontConfig) -> dict[str, Any]:
    teacher = f"cfg gamma={cfg.quality_finetune.gamma:g}"
    distilled, diverse = "distilled (beta=0)", f"diversity (beta={cfg.diversity_finetune.beta:g})"
    result: dict[str, Any] = {}
    if teacher in rows and distilled in rows:
        diff = per_prompt[distilled]["adherence"] - per_prompt[teacher]["adherence"]
        ci = mean_ci(diff)
        result["claim2"] = {
            "teacher": teacher,
            "adherence_teacher": rows[teacher]["adherence"]["mean"],
            "adherence_distilled": rows[distilled]["adherence"]["mean"],
            "difference": ci,
            "test": paired_test(per_prompt[teacher]["adherence"], per_prompt[distilled]["adherence"]),
            "within_0.01_or_ci": abs(ci["mean"]) <= 0.01 or ci["ci_low"] <= 0 <= ci["ci_high"],
            "tokens_per_s_ratio_distilled_over_cfg": rows[distilled]["tokens_per_s"]
            / rows[teacher]["tokens_per_s"],
            "valid_rate": {
                "teacher": rows[teacher]["valid_rate"],
                "distilled": rows[distilled]["valid_rate"],
            },
        }
    if distilled in rows and diverse in rows:
        a, b = per_prompt[distilled], per_prompt[diverse]
        seeds_a, seeds_b = per_seed[distilled]["diversity_heldout"], per_seed[diverse]["diversity_heldout"]
        result["claim3"] = {
            "diversity_heldout": {
                "beta=0": rows[distilled]["diversity_heldout"],
                "beta>0": rows[diverse]["diversity_heldout"],
            },
            "diversity_reward": {
                "beta=0": rows[distilled]["diversity_reward"],
                "beta>0": rows[diverse]["diversity_reward"],
            },
            "over_prompts": paired_test(a["diversity_heldout"], b["diversity_heldout"]),
            "over_seeds": {
                "per_seed_difference": (seeds_b - seeds_a).tolist(),
                "paired_t_p": float(stats.ttest_rel(seeds_b, seeds_a).pvalue) if len(seeds_a) > 1 else None,
            },
            "adherence_cost": mean_ci(a["adherence"] - b["adherence"]),
            "adherence_test": paired_test(a["adherence"], b["adherence"]),
            "valid_rate": {"beta=0": rows[distilled]["valid_rate"], "beta>0": rows[diverse]["valid_rate"]},
        }
    fronts = {
        "cfg": [n for n, r in rows.items() if r["kind"] == "cfg"],
        "temperature": [n for n, r in rows.items() if r["kind"] == "temperature" or n == "cfg gamma=1"],
    }
    merges = [n for n, r in rows.items() if r["lam"] is not None]
    result["claim4"] = front_margins(per_prompt, merges, fronts, cfg.bootstrap)
    return result


def plot_front(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    styles = {
        "cfg": ("CFG gamma front (base)", "o-", "tab:blue"),
        "temperature": ("temperature front (base)", "s--", "tab:orange"),
    }
    groups = {
        "cfg": [r for r in rows if r["kind"] == "cfg"],
        "temperature": [
            r for r in rows if r["kind"] == "temperature" or (r["kind"] == "cfg" and r["gamma"] == 1.0)
        ],
        "merge": [r for r in rows if r["lam"] is not None],
    }
    styles["merge"] = ("lambda front (merges)", "D-", "tab:green")
    for kind, group in groups.items():
        group = sorted(group, key=lambda r: r["diversity_heldout"]["mean"])
        label, fmt, color = styles[kind]
        x = [r["diversity_heldout"]["mean"] for r in group]
        y = [r["adherence"]["mean"] for r in group]
        xerr = [
            [r["diversity_heldout"]["mean"] - r["diversity_heldout"]["ci_low"] for r in group],
            [r["diversity_heldout"]["ci_high"] - r["diversity_heldout"]["mean"] for r in group],
        ]
        yerr = [
            [r["adherence"]["mean"] - r["adherence"]["ci_low"] for r in group],
            [r["adherence"]["ci_high"] - r["adherence"]["mean"] for r in group],
        ]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=fmt, color=color, label=label, capsize=2, alpha=0.85)
        for r, xi, yi in zip(group, x, y, strict=True):
            tag = (
                f"γ={r['gamma']:g}"
                if kind == "cfg"
                else f"T={r['temperature']:g}"
                if kind == "temperature"
                else f"λ={r['lam']:g}"
            )
            ax.annotate(tag, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8, color=color)
    ax.set_xlabel("diversity (held-out embedding), 1 - mean pairwise cosine")
    ax.set_ylabel("text adherence (MuLan score)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def to_markdown(result: dict[str, Any]) -> str:
    """The rows and the claims of a front, as Markdown."""

    def ci(d: dict[str, float]) -> str:
        return f"{d['mean']:.4f} [{d['ci_low']:.4f}, {d['ci_high']:.4f}]"

    cfg = result["config"]
    lines = [
        f"{len(result['prompts'])} held-out prompts x {cfg['samples']} samples x seeds {list(cfg['seeds'])}"
        f"{', grammar-constrained sampling' if cfg.get('constrain') else ''}; mean [95% CI over prompts].",
        "",
        "| variant | kind | γ | T | λ | adherence (MuLan) | diversity, held-out emb. | diversity, reward emb. "
        "| valid | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lam = "" if r["lam"] is None else f"{r['lam']:g}"
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['gamma']:g} | {r['temperature']:g} | {lam} | {ci(r['adherence'])} "
            f"| {ci(r['diversity_heldout'])} | {ci(r['diversity_reward'])} | {rate_text(r['valid_rate'])} "
            f"| {r['tokens_per_s']:.0f} |"
        )
    claims = result["claims"]
    if "claim2" in claims:
        c = claims["claim2"]
        lines += [
            "",
            f"Claim 2: distilled adherence {c['adherence_distilled']:.4f} vs its teacher ({c['teacher']}) "
            f"{c['adherence_teacher']:.4f}: difference {ci(c['difference'])}, Wilcoxon p = "
            f"{c['test']['wilcoxon_p']:.3g}; within 0.01 or the CI: {c['within_0.01_or_ci']}; tokens/s ratio in "
            f"this run {c['tokens_per_s_ratio_distilled_over_cfg']:.2f}.",
        ]
    if "claim3" in claims:
        c = claims["claim3"]
        p = c["over_seeds"]["paired_t_p"]
        seeds_p = "n/a (one seed)" if p is None else f"{p:.3g}"
        lines += [
            "",
            f"Claim 3: held-out diversity beta=0 {ci(c['diversity_heldout']['beta=0'])} -> beta>0 "
            f"{ci(c['diversity_heldout']['beta>0'])}: +{c['over_prompts']['mean_diff']:.4f}, Wilcoxon over prompts "
            f"p = {c['over_prompts']['wilcoxon_p']:.3g}, paired t over seeds p = {seeds_p} "
            f"(per-seed differences {', '.join(f'{d:+.3f}' for d in c['over_seeds']['per_seed_difference'])}); "
            f"adherence cost {ci(c['adherence_cost'])}.",
        ]
    lines += [
        "",
        "Claim 4: adherence minus the baseline's Pareto front at the same held-out diversity "
        "(95% bootstrap CI over prompts).",
        "",
        "| variant | vs CFG γ front | vs temperature front |",
        "|---|---|---|",
    ]
    for name, fronts in claims.get("claim4", {}).items():
        cells = []
        for f in ("cfg", "temperature"):
            m = fronts[f]
            cells.append(
                m["verdict"]
                if "ci_low" not in m
                else f"{m['margin']:+.4f} [{m['ci_low']:+.4f}, {m['ci_high']:+.4f}] {m['verdict']}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_front(cfg: FrontConfig, out: str | Path, log: Log = print) -> dict[str, Any]:
    """Train the missing finetunes, evaluate every variant, write ``out/front.json`` and ``out/front.png``."""
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replace(
        cfg,
        gammas=tuple(sorted(set(cfg.gammas) | {cfg.quality_finetune.gamma})),
        quality_finetune=replace(cfg.quality_finetune, constrain=cfg.constrain),
        diversity_finetune=replace(cfg.diversity_finetune, constrain=cfg.constrain),
    )

    def progress(name: str) -> Callable[[int, int, dict[str, float]], None]:
        def report(step: int, total: int, metrics: dict[str, float]) -> None:
            if "eval_diversity_heldout" in metrics:
                log(
                    f"finetune {name}: step {step}/{total} kl {metrics['kl']:.3f} reward {metrics['reward']:.3f} "
                    f"entropy {metrics['entropy']:.3f} held-out diversity {metrics['eval_diversity_heldout']:.3f} "
                    f"({metrics['elapsed_s']:.0f}s)"
                )

        return report

    trained = {}
    for name, path, ft in (
        ("beta=0", cfg.quality, cfg.quality_finetune),
        ("beta>0", cfg.diversity, cfg.diversity_finetune),
    ):
        t0 = time.perf_counter()
        ckpt = finetune(ft, cfg.base, cfg.embeddings, path, progress=progress(name))
        trained[name] = {
            "path": path,
            "checkpoint_id": ckpt["checkpoint_id"],
            "seconds": time.perf_counter() - t0,
        }
        log(
            f"finetune {name}: {path} ({trained[name]['seconds']:.1f}s, trained in {ckpt.get('elapsed_s', 0):.0f}s)"
        )
    train_s = time.perf_counter() - t_start
    base, base_ckpt = load_with_checkpoint(cfg.base)
    emb = Embeddings.load(cfg.embeddings)
    emb.require_mulan()
    steering = Steering(cfg.quality, cfg.diversity)
    prompts = held_out_prompts(cfg.n_prompts)
    texts = [p.text for p in prompts]
    rows: dict[str, dict] = {}
    per_prompt: dict[str, dict[str, np.ndarray]] = {}
    per_seed: dict[str, dict[str, np.ndarray]] = {}
    variants = [(v, base) for v in base_variants(cfg, base_ckpt["checkpoint_id"])]
    variants += [(v, steering.model(v.lam)) for v in merge_variants(cfg, steering.a, steering.b)]
    for variant, model in variants:
        row, per_prompt[variant.name], per_seed[variant.name] = evaluate_variant(
            model, emb, texts, variant, cfg
        )
        rows[variant.name] = row
        log(
            f"front: {variant.name:24s} adherence {row['adherence']['mean']:.4f} held-out diversity "
            f"{row['diversity_heldout']['mean']:.4f} reward diversity {row['diversity_reward']['mean']:.4f} "
            f"valid {rate_text(row['valid_rate'])} {row['tokens_per_s']:.0f} tok/s"
        )
    result = {
        "config": cfg.to_dict(),
        "finetunes": trained,
        "prompts": texts,
        "prompt_ids": [p.prompt_id for p in prompts],
        "rows": list(rows.values()),
        "claims": claims(rows, per_prompt, per_seed, cfg),
        "train_seconds": train_s,
        "elapsed_s": time.perf_counter() - t_start,
    }
    (out / "front.json").write_text(json.dumps(result, indent=2))
    (out / "front.md").write_text(to_markdown(result))
    plot_front(
        result["rows"],
        out / "front.png",
        f"Quality-diversity fronts ({cfg.preset}, {cfg.n_prompts} held-out prompts)",
    )
    log(f"front: wrote {out / 'front.json'}, front.md and front.png ({result['elapsed_s']:.1f}s)")
    return result
