"""The quality-diversity front and claims 2-4 of MISSION.md section 2, under a protocol a reviewer accepts.

- Finetunes: for every training seed, the beta = 0 distillation and one beta > 0 finetune per diversity
  reward (``generation.rewards``: the paper's, and one that keeps the prompt). Training watches development
  prompts only (``finetune.quick_eval``); nothing here is tuned on the test prompts.
- Variants, all measured on ``corpus.test_prompts`` x samples x sampling seeds: the base under CFG at each
  gamma, the base at each temperature, and for every training seed and reward the merges between the two
  finetunes at each lambda (lambda = 0 is the distilled model, lambda = 1 the beta > 0 model).
- Metrics: learned (MuLan adherence, held-out and reward-embedding diversity) and ground truth
  (``generation.groundtruth``: prompt satisfaction, on- and off-prompt diversity).
- Statistics (``generation.stats``): the training seed is the unit, sampling seeds nested inside; intervals
  by a hierarchical bootstrap (training seeds, then test prompts); claims tested over training seeds,
  Holm-adjusted within each claim's family.
- Resumes: finetunes resume from their checkpoints, and every evaluated variant is cached on disk under
  ``out/cache/`` keyed by what produced it (checkpoints, sampling, prompts, seeds, embeddings), so a run can be
  split across sittings and a second run recomputes nothing.

Writes ``front.json``, ``front.md`` and ``front.png`` (the fronts on ground truth and on learned metrics).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

import numpy as np

from generation.backend import Backend, load_with_checkpoint
from generation.checkpoint import weights_digest
from generation.corpus import Prompt, test_prompts
from generation.embeddings import Embeddings
from generation.evaluate import METRICS, score_clips
from generation.finetune import PRESETS as FINETUNE_PRESETS
from generation.finetune import FinetuneConfig, finetune
from generation.groundtruth import score_tokens
from generation.merge import Steering
from generation.sampling import SamplingConfig, generate_for_prompts
from generation.stats import bootstrap_ci, bootstrap_indices, holm, nanmean, one_sided_t, resampled_mean

Log = Callable[[str], None]
TRUTH_METRICS = ("satisfaction", "on_prompt", "off_prompt", "on_prompt_satisfied")
ALL_METRICS = (*METRICS, *TRUTH_METRICS)
# (x, y) of each space's front: diversity against adherence
SPACES = {
    "ground_truth": ("on_prompt", "satisfaction"),
    "learned": ("diversity_heldout", "adherence"),
}
CACHE_VERSION = 1  # bump when what a cached evaluation holds changes


@dataclass(frozen=True)
class FrontConfig:
    preset: str
    base: str
    embeddings: str
    finetune: FinetuneConfig  # shared by every finetune; beta, reward and seed set per finetune
    beta: float = 10.0  # of the beta > 0 finetunes
    rewards: tuple[str, ...] = ("paper", "prompt_gated")
    training_seeds: tuple[int, ...] = (0, 1, 2)
    gammas: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    temperatures: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.1)
    lambdas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    n_prompts: int = 64  # test prompts
    samples: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)  # sampling seeds, nested inside each training seed
    bootstrap: int = 2000
    constrain: bool = False  # grammar-constrained sampling for every variant (and the finetunes)
    alpha: float = 0.05
    # claim 2: the distilled model is non-inferior to its CFG teacher within these margins
    margin_adherence: float = 0.02  # MuLan score
    margin_satisfaction: float = 0.05  # ground-truth prompt satisfaction

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def finetune_config(self, beta: float, reward: str, seed: int) -> FinetuneConfig:
        return replace(self.finetune, beta=beta, reward=reward, seed=seed, constrain=self.constrain)


FRONT_PRESETS: dict[str, FrontConfig] = {
    "tiny": FrontConfig(
        preset="tiny",
        base="runs/tiny/base.pt",
        embeddings="runs/tiny/embeddings.pt",
        finetune=replace(FINETUNE_PRESETS["tiny"], gamma=1.5),
        training_seeds=(0, 1),
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
        # sized for a shared 2-core machine (docs/front.md): 9 finetunes of 60 steps, 21 evaluated variants
        finetune=replace(FINETUNE_PRESETS["demo"], steps=60, lr=2e-4, eval_every=60),
        temperatures=(0.6, 0.8),
        lambdas=(0.0, 0.5, 1.0),
        n_prompts=32,
        seeds=(0,),
        bootstrap=1000,
        constrain=True,
    ),
    # The protocol at full size (issue 15): the finetunes at their preset's 300 steps, 5 training seeds, 64 test
    # prompts x 4 samples x 3 sampling seeds, every temperature and lambda. Meant for a machine with a GPU or
    # many cores: `front --preset full --jobs 16`.
    "full": FrontConfig(
        preset="full",
        base="generation/checkpoints/demo.pt",
        embeddings="generation/checkpoints/demo-embeddings.pt",
        finetune=FINETUNE_PRESETS["demo"],
        training_seeds=(0, 1, 2, 3, 4),
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
    reward: str | None = None
    training_seed: int | None = None
    checkpoint_ids: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        """The curve a variant belongs to: a baseline front, or one reward's lambda front."""
        return self.kind if self.lam is None else f"lambda/{self.reward}"

    @property
    def group(self) -> str:
        """The name shared across training seeds."""
        return self.name if self.training_seed is None else self.name.rsplit(" seed=", 1)[0]


def base_variants(cfg: FrontConfig, base_id: str) -> list[Variant]:
    cfg_rows = [Variant(f"cfg gamma={g:g}", "cfg", g, 1.0, checkpoint_ids=[base_id]) for g in cfg.gammas]
    temp_rows = [
        Variant(f"base T={t:g}", "temperature", 1.0, t, checkpoint_ids=[base_id]) for t in cfg.temperatures
    ]
    return cfg_rows + temp_rows


def merge_name(lam: float, reward: str, beta: float) -> tuple[str, str]:
    if lam == 0.0:
        return "distilled", "distilled (beta=0)"
    if lam == 1.0:
        return "diversity", f"{reward} reward (beta={beta:g})"
    return "merge", f"{reward} merge lambda={lam:g}"


# --- evaluation, cached -------------------------------------------------------------------------------


def evaluation_key(
    variant: Variant,
    sampling: SamplingConfig,
    texts: list[str],
    cfg: FrontConfig,
    emb_id: str,
    device: str | None = None,
):
    """What produced a variant's figures: a different model, sampling, prompt, seed, embedding or device (a
    CUDA generator draws other samples than the CPU's for the same seed) is a different key."""
    lam = variant.lam
    ids = variant.checkpoint_ids[:1] if lam == 0.0 else variant.checkpoint_ids
    what = {
        "version": CACHE_VERSION,
        "checkpoints": ids,
        "lam": None if lam in (None, 0.0) else lam,
        "sampling": asdict(sampling),
        "prompts": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        "samples": cfg.samples,
        "seeds": list(cfg.seeds),
        "embeddings": emb_id,
        "device": device or "cpu",
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:20], what


def score_variant(
    model: Backend, emb: Embeddings, prompts: list[Prompt], sampling: SamplingConfig, cfg: FrontConfig
) -> dict[str, Any]:
    """Every metric per sampling seed and prompt, (seeds, prompts), validity per seed and the seconds spent
    generating."""
    texts = [p.text for p in prompts]
    per_seed: dict[str, list[np.ndarray]] = {m: [] for m in ALL_METRICS}
    valid, gen_s = [], 0.0
    for seed in cfg.seeds:
        t0 = time.perf_counter()
        tokens, _ = generate_for_prompts(model, texts, cfg.samples, sampling, seed)
        gen_s += time.perf_counter() - t0
        valid.append(model.valid_rate(tokens))
        scores = score_clips(emb, texts, model.clips(tokens.reshape(-1, *tokens.shape[2:])))
        if model.symbolic_tokens:
            truth = score_tokens([p.spec for p in prompts], tokens)
            scores |= {
                "satisfaction": truth.satisfaction,
                "on_prompt": truth.on_prompt,
                "off_prompt": truth.off_prompt,
                "on_prompt_satisfied": truth.on_prompt_satisfied,
            }
        for m in ALL_METRICS:
            per_seed[m].append(np.asarray(scores.get(m, np.full(len(texts), np.nan)), dtype=float))
    n_tokens = len(cfg.seeds) * len(texts) * cfg.samples * model.tokens_per_sequence
    return {
        "metrics": {m: np.stack(v) for m, v in per_seed.items()},
        "valid": None if any(v is None for v in valid) else [float(v) for v in valid],
        "tokens_per_s": n_tokens / gen_s,
    }


def cached_score(
    cache: Path, key: str, what: dict[str, Any], compute: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """The cached evaluation under ``key``, or ``compute()`` stored there; and whether it was computed."""
    npz, meta = cache / f"{key}.npz", cache / f"{key}.json"
    if npz.exists() and meta.exists():
        with np.load(npz) as data:
            info = json.loads(meta.read_text())
            return {"metrics": {m: data[m] for m in ALL_METRICS}, **info["result"]}, False
    result = compute()
    cache.mkdir(parents=True, exist_ok=True)
    # each file written beside and renamed into place, the metadata last: a run killed mid-write leaves no
    # half file, and a worker writing the same key at the same time replaces it whole
    tmp = npz.with_name(f"{key}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **result["metrics"])
    tmp.replace(npz)
    rest = {k: v for k, v in result.items() if k != "metrics"}
    tmp = meta.with_name(f"{key}.{os.getpid()}.tmp.json")
    tmp.write_text(json.dumps({"what": what, "result": rest}, indent=1))
    tmp.replace(meta)
    return result, True


# --- statistics over training seeds and prompts -------------------------------------------------------


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (diversity, adherence) points no other point beats on both, ordered by diversity."""
    return sorted(p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points))


def baseline_at(front: list[tuple[float, float]], x: float) -> float | None:
    """A baseline's quality at diversity ``x``: linear along its Pareto front (its dominated points dropped,
    so the baseline is taken at its best); None outside the front's diversity range."""
    pts = pareto_front(front)
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    if x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, ys))


class Measurements:
    """Each variant group's metrics as (training seeds, prompts), sampling seeds averaged."""

    def __init__(self, values: dict[str, dict[str, np.ndarray]], n_boot: int):
        self.values = values
        n_seeds = max(len(next(iter(v.values()))) for v in values.values())
        n_prompts = len(next(iter(next(iter(values.values())).values()))[0])
        self.indices = bootstrap_indices(n_seeds, n_prompts, n_boot)

    def mean(self, group: str, metric: str, seeds=None, prompts=None) -> float:
        values = self.values[group][metric]
        if seeds is None and prompts is None:
            return float(nanmean(values))
        return resampled_mean(values, seeds, prompts)

    def per_seed(self, group: str, metric: str) -> np.ndarray:
        return nanmean(self.values[group][metric], axis=1)

    def summary(self, group: str, metric: str) -> dict[str, Any]:
        ci = bootstrap_ci(lambda s, p: self.mean(group, metric, s, p), self.indices) or {}
        return {
            "mean": self.mean(group, metric),
            **ci,
            "per_training_seed": self.per_seed(group, metric).tolist(),
        }

    def front_value(self, members: list[str], space: str, x: float, seeds=None, prompts=None) -> float | None:
        xm, ym = SPACES[space]
        pts = [(self.mean(v, xm, seeds, prompts), self.mean(v, ym, seeds, prompts)) for v in members]
        return baseline_at(pts, x)

    def margin(self, group: str, members: list[str], space: str, seeds=None, prompts=None) -> float | None:
        """Quality of ``group`` minus the baseline front's at the group's own diversity."""
        xm, ym = SPACES[space]
        at = self.front_value(members, space, self.mean(group, xm, seeds, prompts), seeds, prompts)
        return None if at is None else self.mean(group, ym, seeds, prompts) - at

    def seed_margins(self, group: str, members: list[str], space: str) -> list[float | None]:
        """The margin of each training seed's model against the baseline front (baselines at their means)."""
        xm, ym = SPACES[space]
        out = []
        for x, y in zip(self.per_seed(group, xm), self.per_seed(group, ym), strict=True):
            at = self.front_value(members, space, float(x))
            out.append(None if at is None else float(y) - at)
        return out


def apply_holm(tests: list[dict[str, Any]], alpha: float) -> None:
    """Holm over one family, in place: ``p_holm`` and the verdict ``reject``."""
    adjusted, reject = holm([t["p"] for t in tests], alpha)
    for t, p, r in zip(tests, adjusted, reject, strict=True):
        t["p_holm"], t["reject"] = p, bool(r)


def seed_test(values: np.ndarray, null: float, **extra: Any) -> dict[str, Any]:
    t = one_sided_t(values, null)
    return {
        **extra,
        "per_training_seed": np.asarray(values).tolist(),
        "statistic": t["t"],
        "df": t["df"],
        "p": t["p"],
    }


def claims(meas: Measurements, variants: list[Variant], cfg: FrontConfig) -> dict[str, Any]:
    teacher = f"cfg gamma={cfg.finetune.gamma:g}"
    distilled = "distilled (beta=0)"
    result: dict[str, Any] = {}

    # claim 2: non-inferiority of the distilled model to its CFG teacher, over training seeds
    tests = []
    for space, metric, margin in (
        ("learned", "adherence", cfg.margin_adherence),
        ("ground_truth", "satisfaction", cfg.margin_satisfaction),
    ):
        diff = meas.per_seed(distilled, metric) - meas.mean(teacher, metric)
        ci = bootstrap_ci(
            lambda s, p, m=metric: meas.mean(distilled, m, s, p) - meas.mean(teacher, m, s, p), meas.indices
        )
        tests.append(
            seed_test(
                diff,
                -margin,
                space=space,
                metric=metric,
                margin=margin,
                test=f"one-sided t over training seeds, H1: distilled - teacher > -{margin:g}",
                teacher=meas.mean(teacher, metric),
                distilled=meas.mean(distilled, metric),
                difference=float(diff.mean()),
                difference_ci=ci,
            )
        )
    apply_holm(tests, cfg.alpha)
    result["claim2"] = {"teacher": teacher, "tests": tests}

    # claim 3: beta > 0 raises diversity (held-out embedding; ground truth on-prompt), each reward
    tests = []
    for reward in cfg.rewards:
        diverse = merge_name(1.0, reward, cfg.beta)[1]
        for space, metric in (
            ("learned", "diversity_heldout"),
            ("ground_truth", "on_prompt"),
            ("ground_truth", "off_prompt"),
            ("ground_truth", "satisfaction"),
        ):
            diff = meas.per_seed(diverse, metric) - meas.per_seed(distilled, metric)
            ci = bootstrap_ci(
                lambda s, p, m=metric, d=diverse: meas.mean(d, m, s, p) - meas.mean(distilled, m, s, p),
                meas.indices,
            )
            # satisfaction and off-prompt diversity are reported, their tests are not part of the claim
            tests.append(
                seed_test(
                    diff,
                    0.0,
                    reward=reward,
                    space=space,
                    metric=metric,
                    test="one-sided t over training seeds, H1: beta>0 - beta=0 > 0",
                    beta0=meas.mean(distilled, metric),
                    beta_pos=meas.mean(diverse, metric),
                    difference=float(diff.mean()),
                    difference_ci=ci,
                    in_claim=metric in ("diversity_heldout", "on_prompt"),
                )
            )
    apply_holm([t for t in tests if t["in_claim"]], cfg.alpha)
    result["claim3"] = {"tests": tests}

    # claim 4: each lambda front against the CFG-gamma and temperature fronts, at equal diversity
    fronts = {
        "cfg": [v.name for v in variants if v.kind == "cfg"],
        "temperature": [v.name for v in variants if v.kind == "temperature" or v.name == "cfg gamma=1"],
    }
    claim4: dict[str, Any] = {}
    for space in SPACES:
        xm, _ = SPACES[space]
        ranges = {
            f: [float(min(meas.mean(v, xm) for v in m)), float(max(meas.mean(v, xm) for v in m))]
            for f, m in fronts.items()
        }
        for reward in cfg.rewards:
            groups = list(
                dict.fromkeys(
                    v.group for v in variants if v.lam is not None and (v.lam == 0 or v.reward == reward)
                )
            )
            tests = []
            for group in groups:
                for front, members in fronts.items():
                    margins = meas.seed_margins(group, members, space)
                    point = meas.margin(group, members, space)
                    ci = bootstrap_ci(
                        lambda s, p, g=group, m=members, sp=space: meas.margin(g, m, sp, s, p), meas.indices
                    )
                    base = {
                        "variant": group,
                        "front": front,
                        "diversity": meas.mean(group, xm),
                        "margin": point,
                    }
                    if point is None or any(m is None for m in margins):
                        tests.append(
                            {**base, "p": float("nan"), "note": "outside the front's diversity range"}
                        )
                        continue
                    tests.append(
                        {
                            **base,
                            **seed_test(
                                np.array(margins), 0.0, test="one-sided t over training seeds, H1: margin > 0"
                            ),
                            "margin_ci": ci,
                        }
                    )
            apply_holm(tests, cfg.alpha)
            above_both = [
                g
                for g in groups
                if all(t.get("reject") for t in tests if t["variant"] == g)
                and len([t for t in tests if t["variant"] == g]) == len(fronts)
            ]
            xs = [meas.mean(g, xm) for g in above_both]
            claim4[f"{space}/{reward}"] = {
                "space": space,
                "reward": reward,
                "front_ranges": ranges,
                "tests": tests,
                "above_both_fronts": above_both,
                "diversity_range_above_both": [min(xs), max(xs)] if xs else None,
                "verdict": (
                    f"above both fronts (Holm, alpha={cfg.alpha:g}) at {len(above_both)} of {len(groups)} lambda points"
                ),
            }
    result["claim4"] = claim4
    return result


# --- the run ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What a variant samples from, in a form a worker process can rebuild: one checkpoint (the base or a
    finetune), or the merge of two finetunes at ``lam``."""

    kind: Literal["checkpoint", "merge"]
    paths: tuple[str, ...]
    lam: float | None = None


_LOADED: dict[Any, Any] = {}  # one process's loaded models and embeddings, cleared at the end of a run


def _loaded(key: Any, load: Callable[[], Any]) -> Any:
    if key not in _LOADED:
        _LOADED[key] = load()
    return _LOADED[key]


def build_model(spec: ModelSpec, device: str | None = None) -> Backend:
    """The backend of ``spec`` on ``device`` (None: the CPU); a merge shares its pair's ``Steering``."""
    if spec.kind == "merge":
        steer = _loaded(("steer", spec.paths, device), lambda: Steering(*spec.paths, device=device))
        return steer.model(float(spec.lam))

    def load() -> Backend:
        model = load_with_checkpoint(spec.paths[0])[0]
        return model if device is None else model.to(device)

    return _loaded(("model", spec.paths, device), load)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _finetune_job(ft: FinetuneConfig, base: str, embeddings: str, path: str, device: str | None) -> dict:
    emb = _loaded(("emb", embeddings), lambda: Embeddings.load(embeddings))
    t0 = time.perf_counter()
    ckpt = finetune(ft, base, emb, path, device=device)
    return {
        "path": path,
        "checkpoint_id": ckpt["checkpoint_id"],
        "trained_s": ckpt.get("elapsed_s"),
        "dev_eval": [e for e in ckpt["log"] if "eval_diversity_heldout" in e][-1:],
        "here_s": time.perf_counter() - t0,
    }


def _evaluate_job(
    spec: ModelSpec,
    sampling: SamplingConfig,
    key: str,
    what: dict[str, Any],
    cfg: FrontConfig,
    cache: str,
    device: str | None,
) -> tuple[dict[str, Any], bool]:
    emb = _loaded(("emb", cfg.embeddings), lambda: Embeddings.load(cfg.embeddings))
    prompts = test_prompts(cfg.n_prompts)
    return cached_score(
        Path(cache), key, what, lambda: score_variant(build_model(spec, device), emb, prompts, sampling, cfg)
    )


def run_front(
    cfg: FrontConfig,
    out: str | Path,
    log: Log = print,
    baselines_only: bool = False,
    jobs: int = 1,
    device: str | None = None,
) -> dict[str, Any]:
    """Train the missing finetunes, evaluate what is not cached, write ``out/front.{json,md,png}``.
    ``baselines_only``: evaluate (and cache) the base model's variants alone, which need no finetune, so they
    can run beside the finetunes; nothing is written but the cache. ``jobs`` > 1: the finetunes, then the
    evaluations, run in that many worker processes (one torch thread each); ``device``: where models train
    and sample (None: finetunes on CUDA when present, evaluations on the CPU)."""
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, gammas=tuple(sorted(set(cfg.gammas) | {1.0, cfg.finetune.gamma})))
    emb = Embeddings.load(cfg.embeddings)
    emb.require_mulan()
    parts = (emb.text, emb.mulan_audio, emb.reward_encoder, emb.heldout_encoder)
    emb_id = weights_digest(
        {f"{i}.{k}": v for i, part in enumerate(parts) for k, v in part.state_dict().items()}
    )
    base_ckpt = load_with_checkpoint(cfg.base)[1]
    _LOADED[("emb", cfg.embeddings)] = emb
    pool = _pool(jobs)
    try:
        return _run_front(cfg, out, log, baselines_only, pool, jobs, device, emb_id, base_ckpt, t_start)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _LOADED.clear()


def _pool(jobs: int) -> ProcessPoolExecutor | None:
    if jobs <= 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # CUDA and torch's threads do not survive a fork
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(1,))


def _map(
    pool: ProcessPoolExecutor | None, fn: Callable[..., Any], calls: list[tuple[Any, ...]]
) -> Iterator[Any]:
    """``fn(*call)`` for every call, in order: inline without a pool, else in the pool's processes."""
    if pool is None:
        yield from (fn(*call) for call in calls)
        return
    futures = [pool.submit(fn, *call) for call in calls]
    yield from (f.result() for f in futures)


def _run_front(
    cfg: FrontConfig,
    out: Path,
    log: Log,
    baselines_only: bool,
    pool: ProcessPoolExecutor | None,
    jobs: int,
    device: str | None,
    emb_id: str,
    base_ckpt: dict[str, Any],
    t_start: float,
) -> dict[str, Any]:
    training_seeds = () if baselines_only else cfg.training_seeds
    wanted = []
    for seed in training_seeds:
        for name, beta, reward in (("beta0", 0.0, "paper"), *((r, cfg.beta, r) for r in cfg.rewards)):
            path = out / "finetunes" / f"{name}-seed{seed}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            wanted.append((f"{name}/seed{seed}", (cfg.finetune_config(beta, reward, seed), str(path))))
    calls = [(ft, cfg.base, cfg.embeddings, path, device) for _, (ft, path) in wanted]
    finetunes: dict[str, dict[str, Any]] = {}
    for (key, _), done in zip(wanted, _map(pool, _finetune_job, calls), strict=True):
        finetunes[key] = {k: v for k, v in done.items() if k != "here_s"}
        log(f"front: finetune {key}: {done['path']} ({done['here_s']:.0f}s here)")
    train_s = time.perf_counter() - t_start

    prompts = test_prompts(cfg.n_prompts)
    texts = [p.text for p in prompts]
    base_spec = ModelSpec("checkpoint", (cfg.base,))
    variants: list[tuple[Variant, ModelSpec, SamplingConfig]] = [
        (v, base_spec, SamplingConfig(v.gamma, v.temperature, constrain=cfg.constrain))
        for v in base_variants(cfg, base_ckpt["checkpoint_id"])
    ]
    for seed in training_seeds:
        quality = finetunes[f"beta0/seed{seed}"]
        distilled = Variant(
            f"{merge_name(0.0, '', cfg.beta)[1]} seed={seed}",
            "distilled",
            1.0,
            1.0,
            lam=0.0,
            training_seed=seed,
            checkpoint_ids=[quality["checkpoint_id"]],
        )
        variants.append(
            (distilled, ModelSpec("checkpoint", (quality["path"],)), SamplingConfig(constrain=cfg.constrain))
        )
        for reward in cfg.rewards:
            diverse = finetunes[f"{reward}/seed{seed}"]
            for lam in cfg.lambdas:
                if lam == 0.0:
                    continue  # the distilled model, above: shared by every reward
                kind, name = merge_name(lam, reward, cfg.beta)
                v = Variant(
                    f"{name} seed={seed}",
                    kind,
                    1.0,
                    1.0,
                    lam=lam,
                    reward=reward,
                    training_seed=seed,
                    checkpoint_ids=[quality["checkpoint_id"], diverse["checkpoint_id"]],
                )
                spec = ModelSpec("merge", (quality["path"], diverse["path"]), lam)
                variants.append((v, spec, SamplingConfig(constrain=cfg.constrain)))

    cache = out / "cache"
    raw: dict[str, dict[str, Any]] = {}
    computed = 0
    calls = []
    for v, spec, sampling in variants:
        key, what = evaluation_key(v, sampling, texts, cfg, emb_id, device)
        calls.append((spec, sampling, key, what, cfg, str(cache), device))
    for (v, _, _), (scored, fresh) in zip(variants, _map(pool, _evaluate_job, calls), strict=True):
        computed += fresh
        raw[v.name] = scored
        mm = scored["metrics"]
        log(
            f"front: {v.name:36s} {'computed' if fresh else 'cached  '} adherence {nanmean(mm['adherence']):.4f} "
            f"held-out div {nanmean(mm['diversity_heldout']):.4f} satisfaction {nanmean(mm['satisfaction']):.3f} "
            f"on-prompt div {nanmean(mm['on_prompt']):.3f}"
        )

    if baselines_only:
        log(f"front: base variants evaluated ({computed} computed, {len(variants) - computed} cached)")
        return {"evaluations_computed": computed, "evaluations_cached": len(variants) - computed}

    # (training seeds, prompts) per group: sampling seeds averaged, training seeds stacked
    groups: dict[str, list[Variant]] = {}
    for v, _, _ in variants:
        groups.setdefault(v.group, []).append(v)
    values = {
        g: {m: np.stack([nanmean(raw[v.name]["metrics"][m], axis=0) for v in vs]) for m in ALL_METRICS}
        for g, vs in groups.items()
    }
    meas = Measurements(values, cfg.bootstrap)
    rows = []
    for g, vs in groups.items():
        v = vs[0]
        valid = [raw[x.name]["valid"] for x in vs]
        rows.append(
            {
                "name": g,
                "kind": v.kind,
                "family": v.family,
                "gamma": v.gamma,
                "temperature": v.temperature,
                "lam": v.lam,
                "reward": v.reward,
                "training_seeds": [x.training_seed for x in vs if x.training_seed is not None],
                "checkpoint_ids": [x.checkpoint_ids for x in vs],
                "valid_rate": None if any(x is None for x in valid) else float(np.mean(valid)),
                "tokens_per_s": float(np.mean([raw[x.name]["tokens_per_s"] for x in vs])),
                "learned": {m: meas.summary(g, m) for m in METRICS},
                "ground_truth": {m: meas.summary(g, m) for m in TRUTH_METRICS},
            }
        )
    result = {
        "config": cfg.to_dict(),
        "protocol": {
            "prompts": "corpus.test_prompts (reported); finetunes watch corpus.dev_prompts only",
            "unit": "training seed; sampling seeds nested inside (averaged first)",
            "intervals": f"95% hierarchical bootstrap ({cfg.bootstrap} resamples: training seeds, then test prompts)",
            "tests": "one-sided t over training seeds; Holm within each claim's family",
            "device": device or "finetunes on CUDA when present, evaluations on the CPU",
            "worker_processes": max(1, jobs),
        },
        "base_checkpoint_id": base_ckpt["checkpoint_id"],
        "finetunes": finetunes,
        "prompts": texts,
        "prompt_ids": [p.prompt_id for p in prompts],
        "rows": rows,
        "claims": claims(meas, [v for v, _, _ in variants], cfg),
        "evaluations_computed": computed,
        "evaluations_cached": len(variants) - computed,
        "train_seconds": train_s,
        "elapsed_s": time.perf_counter() - t_start,
    }
    (out / "front.json").write_text(json.dumps(result, indent=2))
    (out / "front.md").write_text(to_markdown(result))
    plot_front(
        result["rows"],
        out / "front.png",
        f"{cfg.preset}: {cfg.n_prompts} test prompts, "
        f"{len(cfg.training_seeds)} training seeds x {len(cfg.seeds)} sampling seeds",
    )
    log(
        f"front: wrote {out / 'front.json'}, front.md and front.png ({result['elapsed_s']:.1f}s; "
        f"{computed} evaluations computed, {len(variants) - computed} cached)"
    )
    return result


# --- reports ------------------------------------------------------------------------------------------

FAMILY_STYLE = {
    "cfg": ("CFG γ front (base)", "o-", "tab:blue"),
    "temperature": ("temperature front (base)", "s--", "tab:orange"),
    "lambda/paper": ("λ front, paper's reward", "D-", "tab:green"),
    "lambda/prompt_gated": ("λ front, prompt-gated reward", "^-", "tab:purple"),
}
AXES = {
    "learned": ("diversity, held-out embedding (1 − mean cosine)", "text adherence (MuLan score)"),
    "ground_truth": ("on-prompt diversity (ground truth)", "prompt satisfaction (ground truth)"),
}


def _curves(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows per plotted curve: each baseline front with gamma = 1 in both, each lambda front with the
    distilled model (lambda = 0) in every reward's front."""
    curves: dict[str, list[dict[str, Any]]] = {f: [] for f in FAMILY_STYLE}
    for r in rows:
        if r["kind"] == "cfg":
            curves["cfg"].append(r)
        if r["kind"] == "temperature" or (r["kind"] == "cfg" and r["gamma"] == 1.0):
            curves["temperature"].append(r)
        if r["lam"] == 0.0:
            for f in curves:
                if f.startswith("lambda/"):
                    curves[f].append(r)
        elif r["lam"] is not None:
            curves.setdefault(f"lambda/{r['reward']}", []).append(r)
    return {
        f: c
        for f, c in curves.items()
        if any(r["lam"] not in (None, 0.0) for r in c) or not f.startswith("lambda/")
    }


def _tag(r: dict[str, Any]) -> str:
    if r["kind"] == "cfg":
        return f"γ={r['gamma']:g}"
    if r["kind"] == "temperature":
        return f"T={r['temperature']:g}"
    return f"λ={r['lam']:g}"


def _zoom(rows: list[dict[str, Any]], space: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y limits that hold every lambda front's means, padded (intervals may run off the edge)."""
    xm, ym = SPACES[space]
    lam = [r for r in rows if r["lam"] is not None]
    lims = []
    for m in (xm, ym):
        lo = min(r[space][m]["mean"] for r in lam)
        hi = max(r[space][m]["mean"] for r in lam)
        pad = 0.15 * (hi - lo or 0.05)
        lims.append((lo - pad, hi + pad))
    return lims[0], lims[1]


def plot_front(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Each space's fronts in full (top row, baselines labelled) and zoomed on the lambda fronts (bottom
    row, every point labelled), so the crowded region where the merges sit stays readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_lambda = any(r["lam"] is not None for r in rows)
    n_rows = 2 if has_lambda else 1
    fig, grid = plt.subplots(n_rows, 2, figsize=(14, 6 * n_rows), squeeze=False)
    for row, zoomed in enumerate((False, True)[:n_rows]):
        for ax, (space, (xm, ym)) in zip(grid[row], SPACES.items(), strict=True):
            for family, group in _curves(rows).items():
                label, fmt, color = FAMILY_STYLE.get(family, (family, "x-", "gray"))
                group = sorted(group, key=lambda r: r[space][xm]["mean"])
                x = np.array([r[space][xm]["mean"] for r in group])
                y = np.array([r[space][ym]["mean"] for r in group])

                def err(m: str, g=group, s=space) -> list[list[float]]:
                    return [
                        [r[s][m]["mean"] - r[s][m].get("ci_low", r[s][m]["mean"]) for r in g],
                        [r[s][m].get("ci_high", r[s][m]["mean"]) - r[s][m]["mean"] for r in g],
                    ]

                ax.errorbar(
                    x,
                    y,
                    xerr=err(xm),
                    yerr=err(ym),
                    fmt=fmt,
                    color=color,
                    label=label,
                    capsize=2,
                    alpha=0.85,
                    ms=5,
                    elinewidth=0.8 if zoomed else 1.0,
                )
                for r, xi, yi in zip(group, x, y, strict=True):
                    if family == "temperature" and r["kind"] == "cfg":
                        continue  # gamma = 1 is labelled once, on the CFG front
                    if not zoomed and r["lam"] is not None:
                        continue  # the merges are labelled in the zoomed row
                    ax.annotate(
                        _tag(r), (xi, yi), textcoords="offset points", xytext=(5, 3), fontsize=8, color=color
                    )
            if zoomed:
                xlim, ylim = _zoom(rows, space)
                ax.set_xlim(*xlim)
                ax.set_ylim(*ylim)
            ax.set_xlabel(AXES[space][0])
            ax.set_ylabel(AXES[space][1])
            name = "ground truth" if space == "ground_truth" else "learned metrics"
            ax.set_title(f"{name}, zoomed on the λ fronts" if zoomed else name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Quality–diversity fronts ({title}); bars: 95% hierarchical bootstrap CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ci(d: dict[str, Any], digits: int = 3) -> str:
    if "ci_low" not in d:
        return f"{d['mean']:.{digits}f}"
    return f"{d['mean']:.{digits}f} [{d['ci_low']:.{digits}f}, {d['ci_high']:.{digits}f}]"


def _p(p: float | None) -> str:
    return "n/a" if p is None or np.isnan(p) else f"{p:.3g}"


def to_markdown(result: dict[str, Any]) -> str:
    """The rows and the claims of a front, as Markdown."""
    cfg = result["config"]
    lines = [
        f"{len(result['prompts'])} test prompts x {cfg['samples']} samples x sampling seeds {list(cfg['seeds'])}, "
        f"training seeds {list(cfg['training_seeds'])}"
        f"{', grammar-constrained sampling' if cfg.get('constrain') else ''}. Mean [95% hierarchical bootstrap CI: "
        "training seeds, then test prompts].",
        "",
        "| variant | adherence (MuLan) | div. held-out emb. | div. reward emb. | satisfaction (GT) "
        "| on-prompt div. (GT) | off-prompt div. (GT) | valid | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        le, gt = r["learned"], r["ground_truth"]
        valid = "n/a" if r["valid_rate"] is None else f"{r['valid_rate']:.3f}"
        lines.append(
            f"| {r['name']} | {_ci(le['adherence'])} | {_ci(le['diversity_heldout'])} | {_ci(le['diversity_reward'])} "
            f"| {_ci(gt['satisfaction'])} | {_ci(gt['on_prompt'])} | {_ci(gt['off_prompt'])} | {valid} "
            f"| {r['tokens_per_s']:.0f} |"
        )
    claims = result["claims"]

    def ci_text(ci: dict[str, float] | None) -> str:
        return "n/a" if not ci else f"[{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]"

    c2 = claims["claim2"]
    lines += ["", f"## Claim 2: distilled (β=0) non-inferior to its teacher ({c2['teacher']})", ""]
    lines += [
        "| space | metric | teacher | distilled | difference [CI] | margin | t (df) | p | p Holm | verdict |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|"]
    for t in c2["tests"]:
        lines.append(
            f"| {t['space']} | {t['metric']} | {t['teacher']:.4f} | {t['distilled']:.4f} | {t['difference']:+.4f} "
            f"{ci_text(t['difference_ci'])} | {t['margin']:g} | {t['statistic']:.2f} ({t['df']}) | {_p(t['p'])} "
            f"| {_p(t['p_holm'])} | {'non-inferior' if t['reject'] else 'not shown'} |"
        )
    lines += [
        "",
        "## Claim 3: β>0 raises diversity (held-out embedding; ground-truth on-prompt diversity)",
        "",
    ]
    lines += [
        "| reward | space | metric | β=0 | β>0 | difference [CI] | per training seed | t (df) | p | p Holm | verdict |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in claims["claim3"]["tests"]:
        verdict = ("raised" if t["reject"] else "not shown") if t["in_claim"] else "(reported)"
        lines.append(
            f"| {t['reward']} | {t['space']} | {t['metric']} | {t['beta0']:.4f} | {t['beta_pos']:.4f} "
            f"| {t['difference']:+.4f} {ci_text(t['difference_ci'])} "
            f"| {', '.join(f'{d:+.3f}' for d in t['per_training_seed'])} | {t['statistic']:.2f} ({t['df']}) "
            f"| {_p(t['p'])} | {_p(t.get('p_holm'))} | {verdict} |"
        )
    lines += ["", "## Claim 4: the λ front against the CFG-γ and temperature fronts at equal diversity", ""]
    for c in claims["claim4"].values():
        lines += [
            f"### {c['space']}, {c['reward']} reward",
            "",
            "Front ranges (diversity): "
            + "; ".join(f"{f} [{lo:.3f}, {hi:.3f}]" for f, (lo, hi) in c["front_ranges"].items())
            + f". Verdict: {c['verdict']}"
            + (
                f", diversity {c['diversity_range_above_both'][0]:.3f} to {c['diversity_range_above_both'][1]:.3f}."
                if c["diversity_range_above_both"]
                else "."
            ),
            "",
            "| variant | front | diversity | margin [CI] | per training seed | t (df) | p | p Holm | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for t in c["tests"]:
            if "note" in t:
                lines.append(
                    f"| {t['variant']} | {t['front']} | {t['diversity']:.3f} | | | | | | {t['note']} |"
                )
                continue
            lines.append(
                f"| {t['variant']} | {t['front']} | {t['diversity']:.3f} | {t['margin']:+.4f} {ci_text(t['margin_ci'])} "
                f"| {', '.join(f'{d:+.3f}' for d in t['per_training_seed'])} | {t['statistic']:.2f} ({t['df']}) "
                f"| {_p(t['p'])} | {_p(t['p_holm'])} | {'above' if t['reject'] else 'not shown'} |"
            )
        lines.append("")
    lines.append(
        f"Wall time: {result['elapsed_s']:.0f} s in this sitting ({result['evaluations_computed']} evaluations computed, "
        f"{result['evaluations_cached']} cached); finetunes: "
        + ", ".join(
            f"{k} {v['trained_s']:.0f}s" for k, v in result["finetunes"].items() if v.get("trained_s")
        )
        + "."
    )
    return "\n".join(lines) + "\n"
