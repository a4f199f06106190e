"""Study recipes: every fault named by its key, and a plan whose step keys follow what makes each step."""

from pathlib import Path

import pytest
import yaml

from launches.recipe import RecipeError, plan_cost, recipe_load, recipe_parse, recipe_plan, recipe_prompts

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
KNOWN_MODELS = {"demo.pt": "ckpt-demo", "other.pt": "ckpt-other"}


def identity(name: str) -> str | None:
    return KNOWN_MODELS.get(name)


def recipe(**changes) -> dict:
    data = yaml.safe_load((RECIPES / "tiny.yaml").read_text())
    data.update(changes)
    return data


def faults_of(data: dict, base_dir: Path = RECIPES) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        recipe_parse(data, base_dir=base_dir, model_identity=identity)
    return caught.value.faults


def variants_with(*extra: dict) -> list[dict]:
    return recipe()["variants"] + list(extra)


@pytest.mark.parametrize("name", ["demo.yaml", "tiny.yaml"])
def test_the_shipped_recipes_are_valid_and_plan_every_variant(name):
    parsed = recipe_load(RECIPES / name, model_identity=identity)
    steps = recipe_plan(parsed)
    assert {s.params["variant"] for s in steps if s.kind == "generate"} == {v.name for v in parsed.variants}
    assert steps[-1].kind == "open"
    planned = {s.key for s in steps}
    done: set[str] = set()
    for step in steps:  # a step's inputs are made before it, or are models that exist already
        assert {key for key in step.inputs if key in planned} <= done, step.name
        done.add(step.key)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"variants": variants_with({"name": "x", "recipe": "ppo"})},
            "variants[5] (x).recipe: must be one of",
        ),
        (
            {"variants": variants_with({"name": "m", "recipe": "merge", "of": ["distilled", "nope"]})},
            "variants[5] (m).of: 'nope' is not a variant listed before this one",
        ),
        (
            {"variants": variants_with({"name": "m", "recipe": "merge", "of": ["distilled", "cfg"]})},
            "variants[5] (m).of: 'cfg' is a base variant",
        ),
        (
            {
                "variants": variants_with(
                    {"name": "d2", "recipe": "diversity", "model": "other.pt", "constrain": False},
                    {"name": "m", "recipe": "merge", "of": ["distilled", "d2"]},
                )
            },
            "variants[6] (m).of: 'distilled' and 'd2' are finetunes of different models",
        ),
        (
            {
                "variants": variants_with(
                    {"name": "m", "recipe": "merge", "of": ["distilled", "diverse"], "lam": 1.5}
                )
            },
            "variants[5] (m).lam: must be a number in [0, 1], not 1.5",
        ),
        (
            {"prompts": {"quality": {"file": "missing.csv"}}},
            "prompts.quality.file: no prompts file missing.csv",
        ),
        (
            {"variants": variants_with({"name": "cfg", "recipe": "base"})},
            "variants[5] (cfg).name: is used by another",
        ),
        ({"colour": "blue"}, "colour: unknown key"),
        (
            {"variants": variants_with({"name": "b2", "recipe": "base", "gama": 2})},
            "variants[5] (b2).gama: unknown key",
        ),
        ({"model": "nowhere.pt"}, "model: no checkpoint or model folder 'nowhere.pt'"),
        ({"study": "Bad Slug!"}, "study: must be a slug"),
        ({"samples_per_prompt": 1}, "samples_per_prompt: must be at least 2 for diversity comparisons"),
        ({"diversity": {"baseline": "ghost"}}, "diversity.baseline: 'ghost' is not a variant"),
        (
            {"variants": variants_with({"name": "s", "recipe": "distill", "seeds": [1, 1]})},
            "variants[5] (s).seeds: must be a list of 1 to 20 distinct",
        ),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_offending_key(changes, expected):
    faults = faults_of(recipe(**changes))
    assert any(f.startswith(expected) for f in faults), faults


def test_every_fault_is_reported_at_once():
    faults = faults_of(recipe(study="", raters_per_item=0, colour=1))
    assert [f.split(":")[0] for f in faults] == ["colour", "study", "raters_per_item"]


def test_not_yaml_and_not_a_mapping_are_one_line_errors():
    with pytest.raises(RecipeError, match="not valid YAML at line 2"):
        recipe_parse("study: a\n  - : [", base_dir=RECIPES, model_identity=identity)
    with pytest.raises(RecipeError, match="must be a mapping"):
        recipe_parse("- a\n- b\n", base_dir=RECIPES, model_identity=identity)


def test_prompts_from_a_file_are_read_relative_to_the_recipe(tmp_path):
    (tmp_path / "prompts.csv").write_text("prompt_id,prompt_text\nq1,Rock song\nq2,Calm piano\n")
    parsed = recipe_parse(
        recipe(
            prompts={"quality": {"file": "prompts.csv"}, "diversity": {"file": "prompts.csv", "count": 1}}
        ),
        base_dir=tmp_path,
        model_identity=identity,
    )
    assert recipe_prompts(parsed) == [("q1", "Rock song", 2), ("q2", "Calm piano", 1)]


def test_a_prompts_file_with_a_repeated_id_is_refused(tmp_path):
    (tmp_path / "prompts.csv").write_text("prompt_id,prompt_text\nq1,Rock song\nq1,Calm piano\n")
    faults = faults_of(
        recipe(prompts={"quality": {"file": "prompts.csv"}}, diversity=None), base_dir=tmp_path
    )
    assert faults == ["prompts.quality.file: prompts.csv: prompt_id 'q1' repeats"]


def test_seeds_train_one_replicate_each_and_merges_pair_them_seed_by_seed():
    variants = recipe()["variants"]
    for v in variants:
        if v["recipe"] in ("distill", "diversity"):
            v.pop("seed", None)
            v["seeds"] = [0, 1, 2]
    steps = recipe_plan(recipe_parse(recipe(variants=variants), base_dir=RECIPES, model_identity=identity))
    assert sorted(s.name for s in steps if s.kind == "merge") == [
        f"merge lerp-50 (seed {i})" for i in range(3)
    ]
    assert len([s for s in steps if s.kind == "finetune"]) == 6


def test_a_step_key_changes_with_what_makes_it_and_only_with_that():
    def keys(data):
        return {
            s.name: s.key for s in recipe_plan(recipe_parse(data, base_dir=RECIPES, model_identity=identity))
        }

    before = keys(recipe())
    variants = recipe()["variants"]
    variants[3]["beta"] = 5.0  # the diversity finetune: it, its merge, their clips and metrics change
    after = keys(recipe(variants=variants))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {
        "finetune diverse (seed 0)",
        "merge lerp-50 (seed 0)",
        "clips diverse",
        "metrics diverse",
        "clips lerp-50",
        "metrics lerp-50",
        "plan the diversity comparisons",
        "open the study",
    }
    assert keys(recipe()) == before  # and nothing random goes into a key


def test_a_replaced_checkpoint_changes_the_keys_of_what_is_made_from_it(monkeypatch):
    data = recipe(model="demo.pt")
    first = recipe_plan(recipe_parse(data, base_dir=RECIPES, model_identity=identity))
    monkeypatch.setitem(KNOWN_MODELS, "demo.pt", "ckpt-demo-retrained")
    second = recipe_plan(recipe_parse(data, base_dir=RECIPES, model_identity=identity))
    assert {s.key for s in first}.isdisjoint({s.key for s in second})


def test_the_plan_cost_counts_every_clip():
    parsed = recipe_load(RECIPES / "tiny.yaml", model_identity=identity)
    cost = plan_cost(recipe_plan(parsed))
    # 4 prompts in both parts × 2 samples × 5 variants
    assert cost["clips"] == 40
    assert cost["gpu_minutes"] > 0


def test_the_test_and_dev_sets_give_disjoint_held_out_prompts():
    from generation.corpus import prompt_set

    test = recipe_prompts(recipe_parse(recipe(), base_dir=RECIPES, model_identity=identity))
    dev = recipe_prompts(
        recipe_parse(
            recipe(prompts={"quality": {"set": "dev", "count": 4}}, diversity=None),
            base_dir=RECIPES,
            model_identity=identity,
        )
    )
    assert [text for _, text, _ in test][:2] == ["Rock song", "Opera singer"]
    assert {prompt_set(text) for _, text, _ in test} == {"test"}
    assert {prompt_set(text) for _, text, _ in dev} == {"dev"}


def test_a_recipe_may_name_every_reward_the_finetuning_code_has_and_no_other():
    from generation.rewards import REWARDS as TRAINABLE
    from launches.recipe import REWARDS

    assert REWARDS == TRAINABLE
