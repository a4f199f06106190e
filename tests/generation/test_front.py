import json

import numpy as np

from generation.__main__ import main
from generation.front import FRONT_PRESETS, baseline_at, front_margins


def test_a_baseline_is_interpolated_along_its_pareto_front_and_undefined_outside():
    front = [(0.6, 0.50), (0.4, 0.60), (0.5, 0.56), (0.45, 0.40)]  # the last is dominated: ignored
    assert np.isclose(baseline_at(front, 0.55), 0.53) and np.isclose(baseline_at(front, 0.45), 0.58)
    assert baseline_at(front, 0.7) is None and baseline_at(front, 0.3) is None


def test_front_margins_find_a_planted_dominating_point():
    rng = np.random.default_rng(0)
    n = 40

    def variant(div, adh):
        return {
            "diversity_heldout": div + 0.01 * rng.standard_normal(n),
            "adherence": adh + 0.01 * rng.standard_normal(n),
        }

    per_prompt = {
        "g1": variant(0.7, 0.50),
        "g2": variant(0.5, 0.60),
        "good": variant(0.6, 0.60),
        "bad": variant(0.6, 0.50),
    }
    margins = front_margins(per_prompt, ["good", "bad"], {"cfg": ["g1", "g2"]}, n_boot=200)
    assert margins["good"]["cfg"]["verdict"] == "dominates" and margins["good"]["cfg"]["margin"] > 0.03
    assert margins["bad"]["cfg"]["verdict"] == "loses"


def test_tiny_front_trains_what_is_missing_and_writes_one_row_per_variant(
    tiny_checkpoint, untrained_embeddings, tmp_path
):
    emb = untrained_embeddings.save(tmp_path / "embeddings.pt")
    args = ["front", "--preset", "tiny", "--base", str(tiny_checkpoint), "--embeddings", str(emb)]
    args += [
        "--quality",
        str(tmp_path / "q.pt"),
        "--diversity",
        str(tmp_path / "d.pt"),
        "--out",
        str(tmp_path / "f"),
    ]
    assert main(args) == 0
    result = json.loads((tmp_path / "f" / "front.json").read_text())
    cfg = FRONT_PRESETS["tiny"]
    assert len(result["rows"]) == len(cfg.gammas) + len(cfg.temperatures) + len(cfg.lambdas)
    kinds = [r["kind"] for r in result["rows"]]
    assert {"cfg", "temperature", "distilled", "diversity", "merge"} == set(kinds)
    row = next(r for r in result["rows"] if r["kind"] == "merge")
    for key in (
        "gamma",
        "beta",
        "lam",
        "temperature",
        "adherence",
        "diversity_reward",
        "diversity_heldout",
        "tokens_per_s",
        "seeds",
    ):
        assert key in row
    assert {"ci_low", "ci_high"} <= row["diversity_heldout"].keys() and len(
        result["prompts"]
    ) == cfg.n_prompts
    assert {"claim2", "claim3", "claim4"} <= result["claims"].keys()
    assert (tmp_path / "f" / "front.png").stat().st_size > 1000
    first_ids = result["finetunes"]
    assert main(args + ["--seeds", "5"]) == 0  # finetunes exist now: reused, not retrained
    again = json.loads((tmp_path / "f" / "front.json").read_text())
    assert [again["finetunes"][k]["checkpoint_id"] for k in first_ids] == [
        first_ids[k]["checkpoint_id"] for k in first_ids
    ]
    assert again["rows"][0]["seeds"] == [5]


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
