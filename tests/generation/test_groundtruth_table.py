import json

import pytest

from generation.groundtruth_table import BEGIN, END, TableConfig, main, run_table, to_markdown, write_doc


def test_the_table_judges_corpus_and_base_by_ground_truth_beside_the_learned_metrics(
    tiny_checkpoint, untrained_embeddings, tmp_path
):
    emb_path = untrained_embeddings.save(tmp_path / "emb.pt")
    cfg = TableConfig(
        str(tiny_checkpoint), str(emb_path), n_prompts=4, samples=3, gammas=(1.0, 3.0), temperatures=(1.0,)
    )
    result = run_table(cfg, log=lambda _: None)
    rows = {row["name"]: row for row in result["rows"]}
    assert list(rows) == ["corpus", "corpus (exact captions)", "base gamma=1 T=1", "base gamma=3 T=1"]
    exact = rows["corpus (exact captions)"]
    assert exact["satisfaction"]["mean"] == 1 and exact["off_prompt"]["mean"] == 0 and exact["valid"] == 1
    assert all(0 <= row["on_prompt"]["mean"] <= 1 and row["satisfaction"]["n"] == 4 for row in rows.values())
    over_samples = result["correlations"]["over_samples"]
    assert over_samples["adherence~satisfied"]["n"] == 4 * 4 * 3
    assert over_samples["dissimilarity_heldout~on_prompt"]["n"] == 4 * 4 * 3  # 3 pairs per prompt and row
    assert result["correlations"]["over_variants"]["diversity_reward~off_prompt"]["n"] == 4
    assert result["on_prompt_gamma3_vs_gamma1"]["T=1"]["n_prompts"] == 4
    agreement = result["embedding_agreement"]
    assert set(agreement) == {"reward~heldout", "reward~mulan", "heldout~mulan"}
    assert agreement["reward~heldout"]["n"] == 2 * 4 * 3  # the two base rows' pairs
    md = to_markdown(json.loads(json.dumps(result)))
    assert "| base gamma=3 T=1 |" in md and "Wilcoxon" in md and "| reward ~ held-out |" in md
    assert [(t["a"], t["b"]) for t in result["on_prompt_tests"]] == [
        ("corpus", "base gamma=1 T=1"),
        ("base gamma=1 T=1", "base gamma=3 T=1"),
    ]


def test_the_table_replaces_only_its_block_of_the_doc(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nprose\n\n{BEGIN}\nold\n{END}\n\nmore prose\n")
    write_doc("new table\n", doc)
    assert doc.read_text() == f"# Title\n\nprose\n\n{BEGIN}\nnew table\n{END}\n\nmore prose\n"


def test_bad_table_arguments_exit_with_a_reason_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "t.md"
    with pytest.raises(SystemExit):
        main(["--samples", "1", "--out", str(out), "--json", str(tmp_path / "t.json")])
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)])
    err = capsys.readouterr().err
    assert "at least 2" in err and "missing.pt does not exist" in err
    assert not list(tmp_path.iterdir())
