import json
from dataclasses import replace

import numpy as np
import pytest

from generation import front as front_module
from generation.__main__ import main
from generation.corpus import prompt_set
from generation.finetune import PRESETS as FINETUNE_PRESETS
from generation.front import FRONT_PRESETS, FrontConfig, Measurements, Variant, baseline_at, claims


def test_a_baseline_is_interpolated_along_its_pareto_front_and_undefined_outside():
    front = [(0.6, 0.50), (0.4, 0.60), (0.5, 0.56), (0.45, 0.40)]  # the last is dominated: ignored
    assert np.isclose(baseline_at(front, 0.55), 0.53) and np.isclose(baseline_at(front, 0.45), 0.58)
    assert baseline_at(front, 0.7) is None and baseline_at(front, 0.3) is None


def _planted(rng, n_prompts, diversity, quality, seeds=1, noise=0.005):
    """A variant's (training seeds, prompts) values on both spaces, around the given means."""

    def values(mean):
        return mean + noise * rng.standard_normal((seeds, n_prompts))

    return {
        "diversity_heldout": values(diversity),
        "adherence": values(quality),
        "on_prompt": values(diversity),
        "satisfaction": values(quality),
        "off_prompt": values(0.1),
        "diversity_reward": values(diversity),
        "on_prompt_satisfied": values(diversity),
    }


def _planted_claims(margin: float):
    """Claims over planted data: the CFG front (0.5, 0.60)-(0.8, 0.40), a temperature point below it, a
    distilled model equal to its teacher (CFG gamma = 3) and a merge ``margin`` above the CFG front."""
    rng = np.random.default_rng(0)
    n = 40
    values = {
        "cfg gamma=1": _planted(rng, n, 0.8, 0.40),
        "cfg gamma=3": _planted(rng, n, 0.5, 0.60),
        "base T=0.5": _planted(rng, n, 0.55, 0.50),
        "distilled (beta=0)": _planted(rng, n, 0.5, 0.60, seeds=3),
        "paper merge lambda=0.5": _planted(rng, n, 0.65, 0.50 + margin, seeds=3),
        "paper reward (beta=10)": _planted(rng, n, 0.75, 0.40, seeds=3),
    }
    variants = [
        Variant("cfg gamma=1", "cfg", 1.0, 1.0),
        Variant("cfg gamma=3", "cfg", 3.0, 1.0),
        Variant("base T=0.5", "temperature", 1.0, 0.5),
    ] + [
        Variant(f"{name} seed={s}", kind, 1.0, 1.0, lam=lam, reward=reward, training_seed=s)
        for s in range(3)
        for name, kind, lam, reward in (
            ("distilled (beta=0)", "distilled", 0.0, None),
            ("paper merge lambda=0.5", "merge", 0.5, "paper"),
            ("paper reward (beta=10)", "diversity", 1.0, "paper"),
        )
    ]
    cfg = FrontConfig(
        "planted", "", "", replace(FINETUNE_PRESETS["tiny"], gamma=3.0), rewards=("paper",), bootstrap=300
    )
    return claims(Measurements(values, cfg.bootstrap), variants, cfg)


def test_claim4_rejects_for_a_planted_merge_above_both_fronts_and_not_for_one_on_them():
    above = _planted_claims(0.03)["claim4"]["ground_truth/paper"]
    test = {(t["variant"], t["front"]): t for t in above["tests"]}
    for front in ("cfg", "temperature"):
        t = test[("paper merge lambda=0.5", front)]
        # the CFG front at diversity 0.65 is 0.5 (halfway between 0.60 at 0.5 and 0.40 at 0.8)
        assert t["margin"] > 0.02 and t["reject"] and t["p_holm"] >= t["p"]
        assert t["margin_ci"]["ci_low"] > 0
    assert "paper merge lambda=0.5" in above["above_both_fronts"]
    on = _planted_claims(0.0)["claim4"]["learned/paper"]  # on the CFG front, above the temperature one
    test = {(t["variant"], t["front"]): t for t in on["tests"]}
    assert abs(test[("paper merge lambda=0.5", "cfg")]["margin"]) < 0.01
    assert not test[("paper merge lambda=0.5", "cfg")]["reject"]
    assert test[("paper merge lambda=0.5", "temperature")]["reject"]
    assert "paper merge lambda=0.5" not in on["above_both_fronts"]


def test_claim2_is_a_non_inferiority_test_with_its_stated_margin():
    c2 = _planted_claims(0.03)["claim2"]
    assert {t["metric"] for t in c2["tests"]} == {"adherence", "satisfaction"}
    for t in c2["tests"]:  # the distilled model equals its teacher: non-inferior within the margin
        assert abs(t["difference"]) < 0.01 and t["reject"] and t["statistic"] > 0
        assert f"> -{t['margin']:g}" in t["test"]


def test_tiny_front_trains_every_seed_reports_on_test_prompts_and_resumes_without_recomputing(
    tiny_checkpoint, untrained_embeddings, tmp_path, monkeypatch
):
    emb = untrained_embeddings.save(tmp_path / "embeddings.pt")
    args = ["front", "--preset", "tiny", "--base", str(tiny_checkpoint), "--embeddings", str(emb)]
    args += ["--out", str(tmp_path / "f")]
    calls = []
    real = front_module.score_variant
    monkeypatch.setattr(front_module, "score_variant", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert main(args) == 0
    cfg = FRONT_PRESETS["tiny"]
    n_seeds, n_rewards = len(cfg.training_seeds), len(cfg.rewards)
    merges_per_seed = 1 + n_rewards * (len(cfg.lambdas) - 1)  # the distilled model is shared by the rewards
    n_variants = len(cfg.gammas) + len(cfg.temperatures) + n_seeds * merges_per_seed
    assert len(calls) == n_variants
    result = json.loads((tmp_path / "f" / "front.json").read_text())
    assert len(result["finetunes"]) == n_seeds * (1 + n_rewards)
    assert len(result["rows"]) == len(cfg.gammas) + len(cfg.temperatures) + merges_per_seed
    row = next(r for r in result["rows"] if r["kind"] == "merge")
    assert row["training_seeds"] == list(cfg.training_seeds)
    for space, metric in (("learned", "adherence"), ("ground_truth", "satisfaction")):
        assert {"mean", "ci_low", "ci_high", "per_training_seed"} <= row[space][metric].keys()
    assert all(prompt_set(text) == "test" for text in result["prompts"])
    assert len(result["prompts"]) == cfg.n_prompts
    assert {"claim2", "claim3", "claim4"} <= result["claims"].keys()
    assert {"p", "p_holm", "reject", "statistic"} <= result["claims"]["claim2"]["tests"][0].keys()
    assert (tmp_path / "f" / "front.png").stat().st_size > 1000
    assert "Claim 4" in (tmp_path / "f" / "front.md").read_text()

    checkpoints = {p: p.stat().st_mtime_ns for p in (tmp_path / "f" / "finetunes").glob("*.pt")}
    calls.clear()
    assert main(args) == 0  # everything is there: nothing trained, nothing evaluated again
    again = json.loads((tmp_path / "f" / "front.json").read_text())
    assert calls == [] and again["evaluations_cached"] == n_variants
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    next(iter(sorted((tmp_path / "f" / "cache").glob("*.npz")))).unlink()  # one evaluation lost
    assert main(args) == 0 and len(calls) == 1
    assert main([*args, "--seeds", "5"]) == 0 and len(calls) == 1 + n_variants  # new sampling seeds: new keys


def test_cli_merges_two_finetunes(tiny_checkpoint, untrained_embeddings, tmp_path):
    emb = untrained_embeddings.save(tmp_path / "embeddings.pt")
    common = ["--preset", "tiny", "--base", str(tiny_checkpoint), "--embeddings", str(emb), "--steps", "1"]
    assert main(["finetune", *common, "--beta", "0", "--out", str(tmp_path / "q.pt")]) == 0
    assert (
        main(["finetune", *common, "--beta", "5", "--baseline", "batch", "--out", str(tmp_path / "d.pt")])
        == 0
    )
    pair = ["--quality", str(tmp_path / "q.pt"), "--diversity", str(tmp_path / "d.pt")]
    assert main(["merge", *pair, "--lam", "0.5", "--out", str(tmp_path / "m.pt")]) == 0
    assert main(["merge", *pair, "--lam", "0.5", "--out", str(tmp_path / "m.pt")]) == 0
    assert (
        main(
            [
                "steer",
                *pair,
                "--lam",
                "0.5",
                "--prompt",
                "Rock song",
                "--samples",
                "1",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "s").glob("*.wav"))) == 1
    assert (
        main(
            [
                "merge",
                "--quality",
                str(tmp_path / "q.pt"),
                "--diversity",
                str(tiny_checkpoint.parent / "nope.pt"),
                "--lam",
                "0.5",
                "--out",
                str(tmp_path / "x.pt"),
            ]
        )
        == 2
    )


def test_front_in_worker_processes_gives_the_results_of_one_process(
    tiny_checkpoint, untrained_embeddings, tmp_path
):
    emb = untrained_embeddings.save(tmp_path / "embeddings.pt")
    args = ["front", "--preset", "tiny", "--base", str(tiny_checkpoint), "--embeddings", str(emb)]
    args += ["--training-seeds", "0", "--rewards", "paper"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    one, pool = (json.loads((tmp_path / d / "front.json").read_text()) for d in ("one", "pool"))
    assert [r["name"] for r in pool["rows"]] == [r["name"] for r in one["rows"]]
    assert pool["evaluations_computed"] == one["evaluations_computed"] > 0
    for a, b in zip(one["rows"], pool["rows"], strict=True):
        for space, metric in (("learned", "adherence"), ("ground_truth", "satisfaction")):
            assert b[space][metric]["mean"] == pytest.approx(a[space][metric]["mean"], abs=1e-6, nan_ok=True)


def test_the_committed_demo_finetunes_are_the_full_fronts_seed_0_ones_on_the_committed_base():
    from pathlib import Path

    checkpoints = Path(__file__).resolve().parents[2] / "generation" / "checkpoints"
    base_id = json.loads((checkpoints / "demo.pt.json").read_text())["checkpoint_id"]
    cfg = FRONT_PRESETS["full"]
    assert cfg.base == "generation/checkpoints/demo.pt" and len(cfg.training_seeds) == 5
    for name, beta in (("demo-distilled", 0.0), ("demo-diverse", cfg.beta)):
        trained = json.loads((checkpoints / f"{name}.pt.json").read_text())["train_config"]
        want = cfg.finetune_config(beta, "paper", 0).to_dict()
        assert {k: trained[k] for k in want} == want
        assert trained["base_checkpoint_id"] == base_id


def test_an_evaluation_is_keyed_by_its_device_and_cached_whole(tmp_path):
    from generation.front import cached_score, evaluation_key
    from generation.sampling import SamplingConfig

    cfg = FRONT_PRESETS["tiny"]
    v = Variant("base", "cfg", 1.0, 1.0, checkpoint_ids=["abc"])
    cpu, what = evaluation_key(v, SamplingConfig(), ["Rock song"], cfg, "emb")
    assert cpu == evaluation_key(v, SamplingConfig(), ["Rock song"], cfg, "emb", "cpu")[0]
    assert cpu != evaluation_key(v, SamplingConfig(), ["Rock song"], cfg, "emb", "cuda")[0]
    metrics = {m: np.ones((1, 2)) for m in front_module.ALL_METRICS}
    result, fresh = cached_score(tmp_path, cpu, what, lambda: {"metrics": metrics, "valid": None})
    assert fresh and sorted(p.name for p in tmp_path.iterdir()) == [f"{cpu}.json", f"{cpu}.npz"]
    again, fresh = cached_score(tmp_path, cpu, what, lambda: 1 / 0)
    assert not fresh and np.array_equal(again["metrics"]["adherence"], metrics["adherence"])
