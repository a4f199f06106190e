"""The report: summary.json's §5 shape and values, files, exclusions, edge cases and the CSV command line."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.__main__ import main
from analysis.data import CRITERIA
from analysis.report import build_report, write_report
from analysis.simulate import simulate_diversity, simulate_quality

VARIANTS = ["base", "cfg", "rewarded"]
METRICS = {
    "base": {"text_adherence": 0.3, "diversity": 0.66},
    "cfg": {"text_adherence": 0.36, "diversity": 0.55},
}


@pytest.fixture(scope="module")
def study():
    ratings = simulate_quality(
        n_prompts=20, n_raters=8, variants=VARIANTS, effects={"cfg": {"text_adherence": 0.6}}
    )
    diversity = simulate_diversity(
        n_prompts=12,
        n_raters=8,
        strengths={"base": 0.0, "cfg": -0.8, "rewarded": 0.6},
        pairs=[("base", "cfg"), ("rewarded", "base"), ("cfg", "rewarded")],
    )
    return ratings, diversity


@pytest.fixture(scope="module")
def written(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    summary = write_report(*study, out, excluded_raters={"r000"}, automatic_metrics=METRICS)
    return summary, out


def test_summary_json_has_the_section_5_shape(written):
    summary, out = written
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    for variant in VARIANTS:
        for criterion in CRITERIA:
            cell = summary["quality"]["variants"][variant][criterion]
            assert {"mean", "ci_low", "ci_high", "n_prompts"} <= set(cell)
            assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"]
    assert len(summary["quality"]["pairs"]) == 3 * len(CRITERIA)
    for pair in summary["quality"]["pairs"]:
        assert {"a", "b", "criterion", "wins", "ties", "losses", "win_rate", "p_value", "p_holm"} <= set(pair)
        assert 0 <= pair["p_value"] <= pair["p_holm"] <= 1
    assert len(summary["diversity"]["pairs"]) == 3
    for pair in summary["diversity"]["pairs"]:
        assert {"a", "b", "wins", "ties", "losses", "win_rate", "p_value"} <= set(pair)
    for criterion in CRITERIA:
        assert -1 <= summary["agreement"][criterion]["krippendorff_alpha"] <= 1


def test_summary_values_follow_section_5_definitions_on_the_raw_rows(study, written):
    summary, _ = written
    ratings, diversity = study
    ratings = ratings[ratings["rater_id"] != "r000"]
    rows = ratings[ratings["criterion"] == "text_adherence"]
    prompt_means = rows.pivot_table(index="prompt_id", columns="variant", values="score")
    cell = summary["quality"]["variants"]["cfg"]["text_adherence"]
    assert cell["mean"] == pytest.approx(prompt_means["cfg"].mean())
    assert cell["n_prompts"] == prompt_means["cfg"].notna().sum()
    pair = next(
        p
        for p in summary["quality"]["pairs"]
        if {p["a"], p["b"]} == {"base", "cfg"} and p["criterion"] == "text_adherence"
    )
    scores = rows.pivot_table(index=["rater_id", "prompt_id"], columns="variant", values="score")
    assert pair["wins"] == (scores[pair["a"]] > scores[pair["b"]]).sum()
    assert pair["p_value"] == pytest.approx(
        stats.wilcoxon(prompt_means[pair["a"]] - prompt_means[pair["b"]]).pvalue
    )
    judged = diversity[diversity["rater_id"] != "r000"]
    pair = summary["diversity"]["pairs"][0]
    shown = judged[judged[["variant_a", "variant_b"]].isin([pair["a"], pair["b"]]).all(axis=1)]
    a_side = np.where(shown["variant_a"] == pair["a"], -shown["choice"], shown["choice"])
    assert (pair["wins"], pair["losses"]) == ((a_side > 0).sum(), (a_side < 0).sum())
    assert pair["p_value"] == pytest.approx(
        stats.binomtest(pair["wins"], pair["wins"] + pair["losses"]).pvalue
    )


def test_excluded_raters_are_left_out_and_counted(study, written, tmp_path):
    summary, _ = written
    ratings, diversity = study
    excluded = summary["meta"]["excluded_raters"]
    assert excluded["left_out"] == 1 and excluded["rater_ids"] == ["r000"]
    kept = (ratings["rater_id"] != "r000").sum()
    assert summary["meta"]["n_ratings"] == kept
    assert excluded["rows_left_out"] == len(ratings) - kept + (diversity["rater_id"] == "r000").sum()
    included = write_report(
        ratings, diversity, tmp_path / "all", excluded_raters={"r000"}, include_excluded=True
    )
    assert (
        included["meta"]["n_ratings"] == len(ratings) and included["meta"]["excluded_raters"]["left_out"] == 0
    )


def test_tables_are_written_as_csv_markdown_and_booktabs_latex_with_plots(written):
    summary, out = written
    for name in (
        "quality_means",
        "quality_pairs",
        "diversity_pairs",
        "diversity_strengths",
        "mixed_model",
        "agreement",
    ):
        assert {f"{name}.csv", f"{name}.md", f"{name}.tex"} <= set(summary["files"])
    assert {"mos.png", "win_rates.png", "quality_diversity.png", "report.md"} <= set(summary["files"])
    assert all((out / name).stat().st_size > 0 for name in summary["files"])
    assert (out / "mos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    latex = (out / "quality_means.tex").read_text()
    assert all(rule in latex for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\textbf{"))
    assert r"\textbf{" in latex.split(r"\midrule")[1]
    pairs_latex = (out / "quality_pairs.tex").read_text()
    assert r"\textsuperscript{*}" in pairs_latex
    assert "**" in (out / "quality_means.md").read_text()
    means = pd.read_csv(out / "quality_means.csv")
    assert {"variant", "criterion", "mean", "ci_low", "ci_high", "boot_low", "boot_high"} <= set(
        means.columns
    )


def test_edge_cases_write_a_whole_report_with_notes(tmp_path):
    flat = simulate_quality(n_prompts=5, n_raters=1, raters_per_prompt=1, variants=["a", "b"]).assign(score=3)
    summary = write_report(flat, None, tmp_path / "flat", variants=["a", "b", "never_rated"])
    assert summary["diversity"]["pairs"] == []
    assert summary["quality"]["variants"]["never_rated"]["musicality"]["n_prompts"] == 0
    assert summary["quality"]["variants"]["never_rated"]["musicality"]["mean"] is None
    assert summary["agreement"]["musicality"]["krippendorff_alpha"] is None
    notes = " ".join(summary["notes"])
    assert (
        "never_rated has no ratings" in notes
        and "tie on every prompt" in notes
        and "no two raters share a clip" in notes
    )
    json.loads((tmp_path / "flat" / "summary.json").read_text())


def test_command_line_reports_from_csv_files(study, tmp_path, capsys):
    ratings, diversity = study
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    diversity.to_csv(tmp_path / "diversity.csv", index=False)
    (tmp_path / "metrics.csv").write_text("variant,text_adherence,diversity\nbase,0.3,0.6\ncfg,0.35,0.5\n")
    argv = [
        "report",
        str(tmp_path / "ratings.csv"),
        str(tmp_path / "diversity.csv"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main([*argv, "--exclude", "r001", "--metrics", str(tmp_path / "metrics.csv")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (
        summary["meta"]["excluded_raters"]["left_out"] == 1
        and summary["automatic_metrics"]["cfg"]["diversity"] == 0.5
    )
    assert "(1 excluded rater left out)" in capsys.readouterr().out


def test_python_m_analysis_report_writes_what_main_writes_in_process(study, tmp_path):
    """The command as a researcher runs it, in its own process (which freezes the collector, see
    analysis/__main__.py), writes the same report and prints the same lines as main() in this one."""
    import subprocess
    import sys
    from pathlib import Path

    ratings, diversity = study
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    diversity.to_csv(tmp_path / "diversity.csv", index=False)
    argv = ["report", str(tmp_path / "ratings.csv"), str(tmp_path / "diversity.csv"), "--out"]
    assert main([*argv, str(tmp_path / "here")]) == 0
    ran = subprocess.run(
        [sys.executable, "-m", "analysis", *argv, str(tmp_path / "there")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.startswith("wrote 35 files to") and ran.stderr == ""
    for name in ("summary.json", "quality_means.csv", "mixed_model.csv", "win_rates.png"):
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


def test_command_line_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "ratings.csv").write_text(
        "rater_id,prompt_id,variant,criterion,score,created_at\nr1,p1,a,loudness,3,\n"
    )
    assert main(["report", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unknown criterion 'loudness'" in error
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [tmp_path / "ratings.csv"]


def test_command_line_out_that_is_a_file_is_one_line_and_leaves_it_alone(study, tmp_path, capsys):
    study[0].to_csv(tmp_path / "ratings.csv", index=False)
    (tmp_path / "taken").write_text("keep me")
    assert main(["report", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "taken")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "taken: File exists" in error
    assert (tmp_path / "taken").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ratings.csv", "taken"]


def test_command_line_power_from_effect_sizes(capsys):
    assert (
        main(["power", "--difference", "0.5", "--sd-prompt", "1", "--sd-rater", "0", "--win-rate", "0.65"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "1 rater per prompt: quality 35 prompts" in out
        and "2 raters per prompt" in out
        and "diversity" in out
    )


def test_the_power_command_and_the_statistics_do_not_import_matplotlib():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from analysis.__main__ import main; import analysis.report; "
        "main(['power', '--difference', '0.5', '--win-rate', '0.65']); "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=True, capture_output=True
    )


def test_a_failure_midway_leaves_nothing_behind(study, tmp_path, monkeypatch):
    from analysis import plots

    def broken(*args, **kwargs):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(plots, "quality_diversity_plot", broken)
    with pytest.raises(RuntimeError):
        write_report(*study, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_study_with_only_diversity_judgements_or_only_excluded_judges_still_reports(study, tmp_path):
    ratings, diversity = study
    only_diversity = write_report(None, diversity, tmp_path / "diversity_only")
    assert only_diversity["quality"]["pairs"] == [] and len(only_diversity["diversity"]["pairs"]) == 3
    assert "quality_diversity.png" not in only_diversity["files"]
    assert "no quality ratings: the quality section is empty" in only_diversity["notes"]
    judged_by_one = diversity.assign(rater_id="flagged")
    summary = write_report(ratings, judged_by_one, tmp_path / "excluded", excluded_raters={"flagged"})
    assert summary["diversity"]["pairs"] == [] and summary["meta"]["excluded_raters"]["left_out"] == 1


def ratings_of(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [(*row, "") for row in rows],
        columns=["rater_id", "prompt_id", "variant", "criterion", "score", "created_at"],
    )


@pytest.mark.parametrize("scores", [(3, 3), (2, 4)], ids=["equal scores", "different scores"])
def test_one_rater_rating_one_prompt_gets_a_whole_report(tmp_path, scores):
    ratings = ratings_of(
        [
            ("solo", "p1", variant, criterion, score)
            for variant, score in zip("ab", scores, strict=True)
            for criterion in CRITERIA
        ]
    )
    judgement = pd.DataFrame(
        [("solo", "p1", "a", "b", 1, "")],
        columns=["rater_id", "prompt_id", "variant_a", "variant_b", "choice", "created_at"],
    )
    summary = write_report(ratings, judgement, tmp_path / "out")
    cell = summary["quality"]["variants"]["a"]["musicality"]
    assert cell["n_prompts"] == 1 and cell["mean"] == scores[0] == cell["ci_low"] == cell["ci_high"]
    assert [pair["p_value"] for pair in summary["quality"]["pairs"]] == [1.0] * len(CRITERIA)
    assert summary["diversity"]["pairs"][0]["wins"] == 0 and summary["diversity"]["pairs"][0]["losses"] == 1
    assert "by 1 rater on 1 prompt;" in (tmp_path / "out" / "report.md").read_text()


def test_no_ratings_at_all_give_an_empty_but_valid_summary(tmp_path):
    summary = write_report(ratings_of([]), None, tmp_path / "out")
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["quality"] == {**on_disk["quality"], "variants": {}, "pairs": []}
    assert on_disk["diversity"]["pairs"] == []
    assert on_disk["agreement"] == {criterion: {"krippendorff_alpha": None} for criterion in CRITERIA}
    assert summary["meta"]["n_ratings"] == 0 and sorted(summary["files"]) == ["report.md", "summary.json"]
    assert "0 quality ratings by 0 raters on 0 prompts" in (tmp_path / "out" / "report.md").read_text()


def test_bootstrap_intervals_are_in_the_tables_not_only_in_summary_json(written):
    summary, out = written
    means = pd.read_csv(out / "quality_means_bootstrap.csv")
    cell = summary["quality"]["variants"]["cfg"]["text_adherence"]
    row = means[(means["variant"] == "cfg") & (means["criterion"] == "text_adherence")].iloc[0]
    assert (row["boot_low"], row["boot_high"]) == pytest.approx((cell["boot_low"], cell["boot_high"]))
    printed = f"{cell['mean']:.2f} [{cell['boot_low']:.2f}, {cell['boot_high']:.2f}]"
    assert printed in (out / "quality_means_bootstrap.md").read_text()
    assert printed in (out / "quality_means_bootstrap.tex").read_text()
    assert "BCa bootstrap" in (out / "quality_means_bootstrap.md").read_text()


def test_report_md_headings_go_down_one_level_at_a_time(written):
    _, out = written
    levels = [len(line) - len(line.lstrip("#")) for line in (out / "report.md").read_text().splitlines()]
    levels = [level for level in levels if level]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(later - earlier <= 1 for earlier, later in zip(levels, levels[1:], strict=False))
    assert (out / "quality_pairs.md").read_text().startswith("# Quality: pairwise comparisons\n")


def test_any_handful_of_rows_gives_a_report_without_errors_or_warnings():
    import warnings

    ratings = simulate_quality(n_prompts=4, raters_per_prompt=2, n_raters=3, variants=VARIANTS, seed=5)
    judgements = simulate_diversity(
        n_prompts=4, raters_per_comparison=2, n_raters=3, strengths={"base": 0, "cfg": -0.5, "rewarded": 0.5}
    )
    rng = np.random.default_rng(1)
    for _ in range(12):
        some_ratings = ratings.sample(int(rng.integers(0, 16)), random_state=rng)
        some_judgements = judgements.sample(int(rng.integers(0, 8)), random_state=rng)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            summary = build_report(some_ratings, some_judgements).summary
        assert summary["meta"]["n_ratings"] == len(some_ratings)
        assert set(summary["agreement"]) == set(CRITERIA)
