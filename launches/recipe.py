"""Study recipes: one YAML file describes a whole experiment, from the base model to an open study.

A recipe names the study, the model, the prompts, the variants (how each is made) and the diversity
comparisons. ``recipe_parse`` checks it and reports every fault at once, one line each, naming the key
(``variants[2].lam: must lie in [0, 1], not 1.5``); ``recipe_plan`` turns a valid recipe into the steps a
worker runs, each keyed by a hash of what makes it (its kind, its parameters and the keys of its inputs),
so a relaunch after a crash finds the outputs already made under the same keys and redoes only the rest.

Plain Python: the web process, the command line and the workers validate with this module without Django
or torch. Replicates: a trained variant may give ``seeds: [0, 1, 2]``; each seed is its own training run
(the training seed is the unit of the science), and the study's clips of that variant are drawn from the
seeds in turn, prompt by prompt, so a listening study costs the same and every clip records its seed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RECIPE_KINDS = ("base", "distill", "diversity", "merge", "import")
# generation.rewards.REWARDS (not imported: it imports torch, which the web process never does)
REWARDS = ("paper", "prompt_gated")
# Held-out captions (never in training): "test" for studies whose figures are reported, "dev" for
# tuning, "heldout" for either (the demo's set, kept for its committed figures).
PROMPT_SETS = ("test", "dev", "heldout")
TOP_KEYS = (
    "study",
    "title",
    "model",
    "embeddings",
    "prompts",
    "samples_per_prompt",
    "raters_per_item",
    "settings",
    "variants",
    "diversity",
)
SETTINGS_KEYS = (
    "onboarding",
    "attention_rate",
    "attention_failures_allowed",
    "claim_timeout_minutes",
    "prolific",
)
PROLIFIC_KEYS = ("study_id", "completion_code", "completion_url")
# The keys each variant recipe takes beyond name, recipe and model, with their defaults.
VARIANT_KEYS: dict[str, dict[str, Any]] = {
    "base": {"gamma": 1.0, "temperature": 1.0, "constrain": False},
    "distill": {"gamma": 3.0, "steps": 300, "seed": 0, "seeds": None, "constrain": True},
    "diversity": {
        "gamma": 3.0,
        "beta": 10.0,
        "steps": 300,
        "seed": 0,
        "seeds": None,
        "reward": "paper",
        "constrain": True,
    },
    "merge": {"of": None, "lam": 0.5, "constrain": True},
    "import": {"manifest": None},
}
TRAINED = ("distill", "diversity")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
MAX_STEPS = 100_000
MAX_SEED = 2**31 - 1


class RecipeError(ValueError):
    """A recipe that cannot run; ``faults`` holds one line per fault, each naming its key."""

    def __init__(self, faults: list[str]):
        self.faults = faults
        super().__init__("; ".join(faults))


@dataclass(frozen=True)
class PromptSet:
    """Where a part's prompts come from: ``count`` held-out prompts, or the rows of a CSV file."""

    count: int
    set: str = "heldout"
    file: Path | None = None
    rows: tuple[tuple[str, str], ...] = ()  # (prompt_id, prompt_text) read from ``file``


@dataclass(frozen=True)
class VariantSpec:
    name: str
    recipe: str
    model: str
    params: dict[str, Any]
    seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Recipe:
    study: str
    title: str
    model: str
    quality: PromptSet | None
    diversity_prompts: PromptSet | None
    samples_per_prompt: int
    raters_per_item: int
    settings: dict[str, Any]
    variants: tuple[VariantSpec, ...]
    diversity: str | dict[str, str] | None
    embeddings: str = ""  # the embeddings bundle for a model folder (built-in checkpoints bring their own)
    model_identities: dict[str, str] = field(default_factory=dict)  # model -> identity (step keys)
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def variant(self, name: str) -> VariantSpec:
        return next(v for v in self.variants if v.name == name)


# A model is a built-in checkpoint name (``demo``, ``demo.pt``), ``tiny`` (pretrained when missing) or a
# folder holding a transformers model (``config.json`` inside). The caller says which names exist by
# giving each its identity (a checkpoint's id or digest), or None; the identity goes into the step keys,
# so a checkpoint replaced under the same name is not mistaken for the old one.
ModelIdentity = Callable[[str], str | None]


def recipe_load(path: str | Path, *, model_identity: ModelIdentity) -> Recipe:
    """Read and check a recipe file; relative paths in it are taken from the file's folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RecipeError([f"recipe: cannot read {path}: {exc.strerror}"]) from None
    return recipe_parse(text, base_dir=path.parent, model_identity=model_identity)


def recipe_parse(text: str | dict[str, Any], *, base_dir: Path, model_identity: ModelIdentity) -> Recipe:
    """Check a recipe (YAML text or an already parsed mapping); RecipeError lists every fault."""
    if isinstance(text, str):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise RecipeError([f"recipe: not valid YAML{where}"]) from None
    else:
        data = text
    if not isinstance(data, dict):
        raise RecipeError(["recipe: must be a mapping of keys (study, model, prompts, variants, …)"])
    checker = _Checker(base_dir, model_identity)
    recipe = checker.recipe(data)
    if checker.faults:
        raise RecipeError(checker.faults)
    assert recipe is not None
    return recipe


class _Checker:
    """Collects every fault of a recipe, each naming the key, instead of stopping at the first."""

    def __init__(self, base_dir: Path, model_identity: ModelIdentity):
        self.base_dir = base_dir
        self.model_identity = model_identity
        self.identities: dict[str, str] = {}
        self.faults: list[str] = []

    def fault(self, key: str, message: str) -> None:
        self.faults.append(f"{key}: {message}")

    def unknown(self, data: dict[str, Any], known: tuple[str, ...] | dict[str, Any], where: str) -> None:
        for key in data:
            if key not in known:
                self.fault(f"{where}{key}", f"unknown key (known: {', '.join(known)})")

    def integer(self, data: dict[str, Any], key: str, where: str, low: int, high: int, default=None) -> int:
        value = data.get(key, default)
        if value is None:
            self.fault(f"{where}{key}", "is required")
            return low
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fault(f"{where}{key}", f"must be a whole number from {low} to {high}, not {value!r}")
            return low
        return value

    def number(self, data: dict[str, Any], key: str, where: str, low: float, high: float, default) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.fault(f"{where}{key}", f"must be a number in [{low:g}, {high:g}], not {value!r}")
            return float(low)
        return float(value)

    def boolean(self, data: dict[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fault(f"{where}{key}", f"must be true or false, not {value!r}")
            return default
        return value

    def model(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fault(key, "must name a built-in checkpoint (demo, tiny) or a MusicGen folder")
            return ""
        if value == "tiny":
            self.identities[value] = "pretrain:tiny"
            return value
        identity = self.model_identity(value)
        if identity is None and (self.base_dir / value / "config.json").is_file():
            value = str((self.base_dir / value).resolve())
            identity = self.model_identity(value)
        if identity is not None:
            self.identities[value] = identity
            return value
        self.fault(
            key,
            f"no checkpoint or model folder {value!r} (a built-in name, tiny, or a folder with config.json)",
        )
        return ""

    def recipe(self, data: dict[str, Any]) -> Recipe | None:
        self.unknown(data, TOP_KEYS, "")
        study = data.get("study")
        if not isinstance(study, str) or not SLUG.match(study):
            self.fault("study", f"must be a slug of lowercase letters, digits, '-' or '_', not {study!r}")
        title = data.get("title", "")
        if not isinstance(title, str) or len(title) > 200:
            self.fault("title", "must be text of at most 200 characters")
        model = self.model(data.get("model"), "model")
        samples = self.integer(data, "samples_per_prompt", "", 1, 16, default=2)
        raters = self.integer(data, "raters_per_item", "", 1, 50, default=3)
        settings = self.settings(data.get("settings", {}))
        prompts = data.get("prompts")
        quality = diversity_prompts = None
        if not isinstance(prompts, dict) or not prompts:
            self.fault(
                "prompts", "must give quality and/or diversity, each {set: heldout, count: N} or {file: F}"
            )
        else:
            self.unknown(prompts, ("quality", "diversity"), "prompts.")
            if "quality" in prompts:
                quality = self.prompt_set(prompts["quality"], "prompts.quality")
            if "diversity" in prompts:
                diversity_prompts = self.prompt_set(prompts["diversity"], "prompts.diversity")
        variants = self.variants(data.get("variants"), model)
        embeddings = self.embeddings(data.get("embeddings"), [model] + [v.model for v in variants])
        names = {v.name for v in variants}
        diversity = self.diversity(data.get("diversity"), names, diversity_prompts, samples)
        if self.faults:
            return None
        return Recipe(
            study=study,
            title=title or study,
            model=model,
            quality=quality,
            diversity_prompts=diversity_prompts,
            samples_per_prompt=samples,
            raters_per_item=raters,
            settings=settings,
            variants=tuple(variants),
            diversity=diversity,
            embeddings=embeddings,
            model_identities=dict(self.identities),
            source=data,
        )

    def embeddings(self, value: Any, models: list[str]) -> str:
        """A model folder (MusicGen) needs the embeddings its clips are measured and rewarded with
        (``python -m generation embeddings --audio DIR``); built-in checkpoints bring their own."""
        if value is None:
            folders = [m for m in models if m and Path(m).is_dir()]
            if folders:
                self.fault(
                    "embeddings",
                    f"is required for the model folder {folders[0]} (python -m generation embeddings)",
                )
            return ""
        path = (self.base_dir / value).resolve() if isinstance(value, str) else None
        if path is None or not path.is_file():
            self.fault("embeddings", f"no embeddings file {value!r}")
            return ""
        return str(path)

    def settings(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fault("settings", "must be a mapping")
            return {}
        self.unknown(data, SETTINGS_KEYS, "settings.")
        out: dict[str, Any] = {}
        if "onboarding" in data:
            out["onboarding"] = self.boolean(data, "onboarding", "settings.", False)
        if "attention_rate" in data:
            out["attention_rate"] = self.number(data, "attention_rate", "settings.", 0.0, 1.0, 0.0)
        if "attention_failures_allowed" in data:
            out["attention_failures_allowed"] = self.integer(
                data, "attention_failures_allowed", "settings.", 0, 100
            )
        if "claim_timeout_minutes" in data:
            out["claim_timeout_minutes"] = self.integer(
                data, "claim_timeout_minutes", "settings.", 1, 24 * 60
            )
        if "prolific" in data:
            prolific = data["prolific"]
            if not isinstance(prolific, dict):
                self.fault(
                    "settings.prolific", "must be a mapping of study_id, completion_code, completion_url"
                )
            else:
                self.unknown(prolific, PROLIFIC_KEYS, "settings.prolific.")
                for key in PROLIFIC_KEYS:
                    value = prolific.get(key, "")
                    if not isinstance(value, str) or len(value) > 100 + 400 * (key == "completion_url"):
                        self.fault(f"settings.prolific.{key}", "must be short text")
                out["prolific"] = {key: str(prolific.get(key, "")) for key in PROLIFIC_KEYS}
        return out

    def prompt_set(self, data: Any, where: str) -> PromptSet | None:
        if not isinstance(data, dict):
            self.fault(where, "must be {set: heldout, count: N} or {file: prompts.csv}")
            return None
        self.unknown(data, ("set", "count", "file"), f"{where}.")
        if "file" in data:
            if "set" in data:
                self.fault(where, "give either set or file, not both")
            return self.prompt_file(data["file"], f"{where}.file", data.get("count"))
        if data.get("set") not in PROMPT_SETS:
            self.fault(f"{where}.set", f"must be one of {', '.join(PROMPT_SETS)}, not {data.get('set')!r}")
        return PromptSet(count=self.integer(data, "count", f"{where}.", 1, 1000), set=str(data.get("set")))

    def prompt_file(self, value: Any, where: str, count: Any) -> PromptSet | None:
        if not isinstance(value, str):
            self.fault(where, "must be a CSV file name")
            return None
        path = (self.base_dir / value).resolve()
        try:
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != ("prompt_id", "prompt_text"):
                    self.fault(where, f"{value} must have the columns prompt_id,prompt_text")
                    return None
                rows = [(r["prompt_id"].strip(), r["prompt_text"].strip()) for r in reader]
        except OSError:
            self.fault(where, f"no prompts file {value} (looked at {path})")
            return None
        ids = [r[0] for r in rows]
        bad = [i for i in ids if not NAME.match(i)]
        if not rows:
            self.fault(where, f"{value} has no prompts")
        elif bad:
            self.fault(where, f"{value}: prompt_id {bad[0]!r} must be letters, digits, '.', '_', '+' or '-'")
        elif len(set(ids)) != len(ids):
            self.fault(where, f"{value}: prompt_id {next(i for i in ids if ids.count(i) > 1)!r} repeats")
        elif any(not text or len(text) > 500 for _, text in rows):
            self.fault(where, f"{value}: every prompt_text must be 1 to 500 characters")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            self.fault(where.replace(".file", ".count"), f"must be a positive whole number, not {count!r}")
            count = None
        kept = tuple(rows[:count] if count else rows)
        return PromptSet(count=len(kept), file=path, rows=kept)

    def variants(self, data: Any, model: str) -> list[VariantSpec]:
        if not isinstance(data, list) or not data:
            self.fault("variants", "must be a list of variants, each with a name and a recipe")
            return []
        out: list[VariantSpec] = []
        seen: set[str] = set()
        for i, item in enumerate(data):
            where = f"variants[{i}]"
            if not isinstance(item, dict):
                self.fault(where, "must be a mapping with name and recipe")
                continue
            name, kind = item.get("name"), item.get("recipe")
            if not isinstance(name, str) or not NAME.match(name):
                self.fault(f"{where}.name", f"must be letters, digits, '.', '_', '+' or '-', not {name!r}")
                continue
            where = f"variants[{i}] ({name})"
            if name in seen:
                self.fault(f"{where}.name", "is used by another variant")
                continue
            seen.add(name)
            if kind not in RECIPE_KINDS:
                self.fault(f"{where}.recipe", f"must be one of {', '.join(RECIPE_KINDS)}, not {kind!r}")
                continue
            known = VARIANT_KEYS[kind]
            self.unknown(
                {k: v for k, v in item.items() if k not in ("name", "recipe", "model")}, known, f"{where}."
            )
            variant_model = self.model(item["model"], f"{where}.model") if "model" in item else model
            out.append(self.variant(item, name, kind, variant_model, where, out))
        return out

    def variant(
        self, item: dict[str, Any], name: str, kind: str, model: str, where: str, before: list[VariantSpec]
    ) -> VariantSpec:
        w = f"{where}."
        params: dict[str, Any] = {}
        seeds: tuple[int, ...] = (0,)
        if kind in ("base", "distill", "diversity"):
            params["gamma"] = self.number(item, "gamma", w, 0.0, 10.0, VARIANT_KEYS[kind]["gamma"])
        if kind == "base":
            params["temperature"] = self.number(item, "temperature", w, 0.05, 5.0, 1.0)
        if kind in TRAINED:
            params["steps"] = self.integer(
                item, "steps", w, 1, MAX_STEPS, default=VARIANT_KEYS[kind]["steps"]
            )
            seeds = self.seeds(item, w)
        if kind == "diversity":
            params["beta"] = self.number(item, "beta", w, 0.0, 1000.0, 10.0)
            reward = item.get("reward", "paper")
            if reward not in REWARDS:
                self.fault(f"{w}reward", f"must be one of {', '.join(REWARDS)}, not {reward!r}")
            params["reward"] = reward
        if kind != "import":
            params["constrain"] = self.boolean(item, "constrain", w, VARIANT_KEYS[kind]["constrain"])
            if params["constrain"] and model and Path(model).is_dir():
                self.fault(f"{w}constrain", "applies to the built-in model only, not a MusicGen folder")
        if kind == "merge":
            params["lam"] = self.number(item, "lam", w, 0.0, 1.0, 0.5)
            seeds = self.merge_parents(item.get("of"), w, model, before, params)
        if kind == "import":
            manifest = item.get("manifest")
            path = (self.base_dir / manifest).resolve() if isinstance(manifest, str) else None
            if path is None or not path.is_file():
                self.fault(f"{w}manifest", f"no manifest file {manifest!r}")
            params["manifest"] = str(path)
        return VariantSpec(name=name, recipe=kind, model=model, params=params, seeds=seeds)

    def seeds(self, item: dict[str, Any], w: str) -> tuple[int, ...]:
        if "seeds" in item and "seed" in item:
            self.fault(f"{w}seeds", "give seed or seeds, not both")
        if "seeds" in item:
            seeds = item["seeds"]
            ok = (
                isinstance(seeds, list)
                and seeds
                and len(seeds) <= 20
                and len(set(map(str, seeds))) == len(seeds)
            )
            if not ok or any(
                isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds
            ):
                self.fault(
                    f"{w}seeds", f"must be a list of 1 to 20 distinct whole numbers from 0 to {MAX_SEED}"
                )
                return (0,)
            return tuple(seeds)
        return (self.integer(item, "seed", w, 0, MAX_SEED, default=0),)

    def merge_parents(
        self, of: Any, w: str, model: str, before: list[VariantSpec], params: dict[str, Any]
    ) -> tuple[int, ...]:
        if not isinstance(of, list) or len(of) != 2 or not all(isinstance(n, str) for n in of):
            self.fault(f"{w}of", "must name two variants listed before it, [quality, diversity]")
            return (0,)
        parents = []
        for name in of:
            parent = next((v for v in before if v.name == name), None)
            if parent is None:
                self.fault(f"{w}of", f"{name!r} is not a variant listed before this one")
            elif parent.recipe not in TRAINED:
                self.fault(
                    f"{w}of",
                    f"{name!r} is a {parent.recipe} variant; merge two finetunes (distill, diversity)",
                )
            else:
                parents.append(parent)
        if len(parents) != 2:
            return (0,)
        a, b = parents
        if a.name == b.name:
            self.fault(f"{w}of", "names the same variant twice")
        elif a.model != b.model or a.model != model:
            self.fault(
                f"{w}of",
                f"{a.name!r} and {b.name!r} are finetunes of different models; both must start from one base",
            )
        elif a.seeds != b.seeds:
            self.fault(
                f"{w}of", f"{a.name!r} and {b.name!r} have different seeds; merges pair them seed by seed"
            )
        params["of"] = [a.name, b.name]
        return a.seeds

    def diversity(
        self, data: Any, names: set[str], prompts: PromptSet | None, samples: int
    ) -> str | dict[str, str] | None:
        if data is None:
            if prompts is not None:
                self.fault("diversity", "prompts.diversity is given: say all-pairs or {baseline: NAME}")
            return None
        if prompts is None:
            self.fault("prompts.diversity", "is required when diversity comparisons are asked for")
        if samples < 2:
            self.fault(
                "samples_per_prompt", "must be at least 2 for diversity comparisons (two clips a pair)"
            )
        if data == "all-pairs":
            return "all-pairs"
        if isinstance(data, dict) and set(data) == {"baseline"}:
            if data["baseline"] not in names:
                self.fault("diversity.baseline", f"{data['baseline']!r} is not a variant of this recipe")
            return {"baseline": str(data["baseline"])}
        self.fault("diversity", f"must be all-pairs or {{baseline: NAME}}, not {data!r}")
        return None


# --- the plan ------------------------------------------------------------------------------------------

STEP_KINDS = ("pretrain", "finetune", "merge", "generate", "metrics", "plan_diversity", "open")
# Worker seconds per unit on this project's 2-core reference machine (measured on the built-in demo model;
# a GPU is faster, a MusicGen slower): a rough guide for the launch page, not a promise.
COST_SECONDS = {"pretrain_tiny": 12.0, "finetune_step": 2.0, "merge": 1.0, "clip": 0.2, "metrics_clip": 0.05}


@dataclass(frozen=True)
class Step:
    """One unit of work; ``key`` is a hash of its kind, parameters and its inputs' keys."""

    key: str
    kind: str
    name: str  # what the page shows: "finetune diverse (seed 1)"
    params: dict[str, Any]
    inputs: tuple[str, ...]  # keys of the steps whose outputs it uses
    queue: str  # "gpu" for training and generation, "default" for light steps
    cost_seconds: float


def step_key(kind: str, params: dict[str, Any], inputs: tuple[str, ...]) -> str:
    blob = json.dumps({"kind": kind, "params": params, "inputs": list(inputs)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _step(
    kind: str, name: str, params: dict[str, Any], inputs: tuple[str, ...], queue: str, cost: float
) -> Step:
    return Step(step_key(kind, params, inputs), kind, name, params, inputs, queue, cost)


def prompt_rows(prompts: PromptSet) -> list[tuple[str, str]]:
    """(prompt_id, prompt_text) of a prompt set: the file's rows, or the first prompts of a held-out set."""
    if prompts.file is not None:
        return list(prompts.rows)
    from generation import corpus  # numpy only: safe in the web process

    draw = {"test": corpus.test_prompts, "dev": corpus.dev_prompts, "heldout": corpus.held_out_prompts}
    return [(p.prompt_id, p.text) for p in draw[prompts.set](prompts.count)]


def recipe_prompts(recipe: Recipe) -> list[tuple[str, str, int]]:
    """Every prompt the study's clips are made for, once, with how many samples each variant renders:
    ``samples_per_prompt`` for a prompt of the diversity part (two clips a pair), one for a quality-only
    prompt (a quality item plays each variant's first sample). A prompt in both parts is rendered once."""
    rows: dict[str, tuple[str, int]] = {}
    for prompts, samples in ((recipe.quality, 1), (recipe.diversity_prompts, recipe.samples_per_prompt)):
        for prompt_id, text in prompt_rows(prompts) if prompts is not None else []:
            rows[prompt_id] = (text, max(rows.get(prompt_id, (text, 0))[1], samples))
    return [(prompt_id, text, samples) for prompt_id, (text, samples) in rows.items()]


def recipe_plan(recipe: Recipe) -> list[Step]:
    """The steps in an order that respects their inputs: models, then clips, then metrics, then the study."""
    steps: list[Step] = []
    base_key: dict[str, str] = {}  # model -> key of what provides it ("" for a model that exists)
    for model in dict.fromkeys(v.model for v in recipe.variants if v.recipe != "import"):
        if model == "tiny":
            step = _step(
                "pretrain",
                "pretrain tiny",
                {"preset": "tiny", "seed": 0},
                (),
                "gpu",
                COST_SECONDS["pretrain_tiny"],
            )
            steps.append(step)
            base_key[model] = step.key
        else:
            base_key[model] = step_key("model", {"model": model, "id": recipe.model_identities[model]}, ())
    trained: dict[tuple[str, int], str] = {}  # (variant, seed) -> key of its checkpoint
    for v in recipe.variants:
        for seed in v.seeds:
            if v.recipe in TRAINED:
                params = {**v.params, "seed": seed, "model": v.model, "beta": v.params.get("beta", 0.0)}
                if recipe.embeddings:
                    params["embeddings"] = recipe.embeddings
                cost = COST_SECONDS["finetune_step"] * v.params["steps"]
                step = _step(
                    "finetune", f"finetune {v.name} (seed {seed})", params, (base_key[v.model],), "gpu", cost
                )
            elif v.recipe == "merge":
                a, b = v.params["of"]
                params = {"lam": v.params["lam"], "seed": seed}
                inputs = (trained[(a, seed)], trained[(b, seed)])
                step = _step(
                    "merge", f"merge {v.name} (seed {seed})", params, inputs, "gpu", COST_SECONDS["merge"]
                )
            else:
                continue
            steps.append(step)
            trained[(v.name, seed)] = step.key
    prompts = [list(p) for p in recipe_prompts(recipe)]
    clips = sum(samples for _, _, samples in prompts)
    for v in recipe.variants:
        params = {
            "variant": v.name,
            "model": v.model,
            **({"embeddings": recipe.embeddings} if recipe.embeddings else {}),
            "prompts": prompts,
            "seeds": list(v.seeds),
            **{k: v.params[k] for k in ("gamma", "temperature", "constrain", "manifest") if k in v.params},
        }
        if v.recipe == "import":
            inputs: tuple[str, ...] = ()
        elif v.recipe == "base":
            inputs = (base_key[v.model],)
        else:
            inputs = tuple(trained[(v.name, s)] for s in v.seeds)
        generate = _step("generate", f"clips {v.name}", params, inputs, "gpu", COST_SECONDS["clip"] * clips)
        metrics = _step(
            "metrics",
            f"metrics {v.name}",
            {"variant": v.name},
            (generate.key,),
            "gpu",
            COST_SECONDS["metrics_clip"] * clips,
        )
        steps += [generate, metrics]
    clip_keys = tuple(s.key for s in steps if s.kind == "generate")
    if recipe.diversity is not None:
        steps.append(
            _step(
                "plan_diversity",
                "plan the diversity comparisons",
                {"diversity": recipe.diversity},
                clip_keys,
                "default",
                1.0,
            )
        )
    steps.append(
        _step(
            "open",
            "open the study",
            {"study": recipe.study},
            tuple(s.key for s in steps if s.kind in ("metrics", "plan_diversity")),
            "default",
            1.0,
        )
    )
    return steps


def plan_cost(steps: list[Step]) -> dict[str, float]:
    """What the plan costs: worker minutes by queue and the clips it renders."""
    minutes = {"gpu": 0.0, "default": 0.0}
    clips = 0
    for step in steps:
        minutes[step.queue] += step.cost_seconds / 60
        if step.kind == "generate":
            clips += sum(samples for _, _, samples in step.params["prompts"])
    return {
        "gpu_minutes": round(minutes["gpu"], 1),
        "default_minutes": round(minutes["default"], 1),
        "clips": clips,
    }
