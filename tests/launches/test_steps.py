"""A recipe's steps: each writes a folder named by its key, a finished one is reused, a partial one resumes."""

import csv
import json

import pytest

from generation import steps
from generation.steps import StepFailed, model_identity, named_model, step_folder, step_result, step_run
from launches.recipe import recipe_parse, recipe_plan


def no_progress(fraction: float, note: str) -> None:
    pass


def test_a_finished_step_is_reused_and_never_run_again(tmp_path, monkeypatch):
    calls = []

    def fake_merge(params, inputs, work, runs_dir, progress):
        calls.append(work)
        (work / "model.pt").write_text("weights")
        return {"files": {"checkpoint": "model.pt"}, "lam": params["lam"]}

    monkeypatch.setitem(steps.RUNNERS, "merge", fake_merge)
    first = step_run("merge", "k1", {"lam": 0.5}, [], tmp_path, no_progress)
    second = step_run("merge", "k1", {"lam": 0.5}, [], tmp_path, no_progress)
    assert len(calls) == 1 and first == second
    assert first["files"]["checkpoint"] == str(step_folder(tmp_path, "k1") / "model.pt")
    assert not step_folder(tmp_path, "k1").with_name("k1.partial").exists()


def test_a_step_that_fails_leaves_no_finished_folder_and_runs_again(tmp_path, monkeypatch):
    attempts = []

    def flaky(params, inputs, work, runs_dir, progress):
        attempts.append(sorted(p.name for p in work.iterdir()))
        (work / "half.bin").write_text("x")
        if len(attempts) == 1:
            raise StepFailed("worker died")
        return {"files": {}}

    monkeypatch.setitem(steps.RUNNERS, "merge", flaky)
    with pytest.raises(StepFailed):
        step_run("merge", "k2", {}, [], tmp_path, no_progress)
    assert step_result(tmp_path, "k2") is None
    step_run("merge", "k2", {}, [], tmp_path, no_progress)
    assert attempts == [[], ["half.bin"]]  # the second run saw what the first left: it can resume


def test_model_identity_reads_the_committed_sidecar_and_knows_missing_models(tmp_path):
    sidecar = json.loads((steps.CHECKPOINTS_DIR / "demo.pt.json").read_text())
    assert model_identity("demo", tmp_path) == sidecar["sha256"]
    assert model_identity("demo.pt", tmp_path) == sidecar["sha256"]
    assert model_identity("nowhere", tmp_path) is None
    with pytest.raises(StepFailed, match="no checkpoint 'nowhere.pt'"):
        named_model("nowhere", tmp_path)


@pytest.mark.slow
def test_the_tiny_recipe_runs_step_by_step_to_clips_and_metrics(tmp_path):
    text = (steps.Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml").read_text()
    recipe = recipe_parse(text, base_dir=tmp_path, model_identity=lambda n: model_identity(n, tmp_path))
    results = {}
    for step in recipe_plan(recipe):
        if step.kind in steps.RUNNERS:
            inputs = [results[k] for k in step.inputs if k in results]
            results[step.key] = step_run(step.kind, step.key, step.params, inputs, tmp_path, no_progress)
    generated = [r for r in results.values() if "manifest" in r["files"]]
    assert len(generated) == len(recipe.variants)
    for result in generated:
        with open(result["files"]["manifest"], newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 4 * 2  # 4 prompts in both parts, 2 samples each
        assert all((steps.Path(result["files"]["manifest"]).parent / r["path"]).is_file() for r in rows)
    metrics = [r["metrics"] for r in results.values() if "metrics" in r]
    assert len(metrics) == len(recipe.variants)
    assert all(set(m) == {"text_adherence", "diversity_heldout", "diversity_reward"} for m in metrics)


def test_a_generate_step_reports_progress_chunk_by_chunk_so_its_heartbeat_keeps_beating(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(steps, "PROMPTS_PER_CHUNK", 1)
    notes = []
    prompts = [["q1", "Rock song", 2], ["q2", "Opera singer", 2], ["q3", "Calm piano", 1]]
    params = {"variant": "base", "model": "demo.pt", "prompts": prompts, "seeds": [0], "constrain": True}
    result = step_run("generate", "g1", params, [], tmp_path, lambda fraction, note: notes.append(note))
    assert result["clips"] == 5
    assert notes == ["1 clips rendered", "3 clips rendered", "5 clips rendered"]  # q3, then q1, then q2
