"""The whole analysis of a study (MISSION.md §4–5): one entry point that writes summary.json, tables and plots.

``write_report`` is what the Django command, ``export_results`` and ``python -m analysis report`` call;
``build_report`` returns the same content in memory for the staff page.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from formats.validation import markdown_escape

from . import tables
from .agreement import agreement
from .data import CRITERIA, QUALITY_COLUMNS, StudyData, study_data
from .diversity import DiversityResult, analyse_diversity
from .power import diversity_power_table, quality_power_table
from .quality import QualityResult, analyse_quality

SCHEMA = "counterpoint.analysis/1"


@dataclass
class Report:
    summary: dict[str, Any]
    tables: list[tables.Table]
    figures: dict[str, bytes]


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dict(orient="records")] if len(frame) else []


def _quality_section(result: QualityResult) -> dict[str, Any]:
    variants: dict[str, dict[str, Any]] = {}
    for row in result.variants.to_dict(orient="records"):
        variant, criterion = row.pop("variant"), row.pop("criterion")
        variants.setdefault(variant, {})[criterion] = _plain(row)
    mixed: dict[str, Any] = {}
    for criterion, group in (
        result.mixed_effects.groupby("criterion", sort=False) if len(result.mixed_effects) else []
    ):
        components = result.variance_components[result.variance_components["criterion"] == criterion]
        intercept = group.iloc[0]
        mixed[criterion] = {
            "reference": intercept["variant"],
            "intercept": _plain({k: intercept[k] for k in ("estimate", "ci_low", "ci_high")}),
            "effects": {
                row["variant"]: _plain({k: row[k] for k in ("estimate", "ci_low", "ci_high", "p_value")})
                for _, row in group.iloc[1:].iterrows()
            },
            "variance_components": _plain(
                dict(zip(components["component"], components["variance"], strict=True))
            ),
        }
    return {
        "variants": variants,
        "overall": {row.pop("variant"): _plain(row) for row in result.overall.to_dict(orient="records")},
        "pairs": _records(result.pairs),
        "mixed_model": mixed,
        "ordinal_model": _records(result.ordinal_effects),
    }


def _diversity_position(result: DiversityResult) -> pd.DataFrame | None:
    """Where each variant sits on the human diversity axis: BT strength, or the one pair's win rate."""
    if len(result.strengths):
        position = result.strengths.rename(
            columns={"strength": "position", "ci_low": "low", "ci_high": "high"}
        )
        position.attrs["label"] = "Human diversity: Bradley–Terry strength"
        return position
    if len(result.pairs) == 1 and not math.isnan(result.pairs["win_rate"].iloc[0]):
        pair = result.pairs.iloc[0]
        position = pd.DataFrame(
            {
                "variant": [pair["a"], pair["b"]],
                "position": [pair["win_rate"], 1 - pair["win_rate"]],
                "low": [pair["wilson_low"], 1 - pair["wilson_high"]],
                "high": [pair["wilson_high"], 1 - pair["wilson_low"]],
            }
        )
        position.attrs["label"] = "Human diversity: win rate against the other variant"
        return position
    return None


@dataclass
class Analyses:
    """Every analysis of one study, before it is shaped into a summary, tables and figures."""

    data: StudyData
    order: list[str]
    quality: QualityResult
    agreement: pd.DataFrame
    diversity: DiversityResult | None
    quality_power: pd.DataFrame
    diversity_power: pd.DataFrame
    notes: list[str]


def analyse(
    ratings: pd.DataFrame | None,
    diversity: pd.DataFrame | None,
    *,
    excluded_raters: Collection[str] = frozenset(),
    include_excluded: bool = False,
    variants: Sequence[str] | None = None,
    seed: int = 0,
    ordinal: bool = True,
) -> Analyses:
    if ratings is None:
        ratings = pd.DataFrame(columns=list(QUALITY_COLUMNS))
    data = study_data(ratings, diversity, excluded_raters=excluded_raters, include_excluded=include_excluded)
    notes = list(data.notes)
    if data.ratings.empty:
        notes.append("no quality ratings: the quality section is empty")
    quality = analyse_quality(data.ratings, variants, seed=seed, ordinal=ordinal)
    order = (
        list(dict.fromkeys(quality.variants["variant"])) if len(quality.variants) else list(variants or [])
    )
    notes += quality.notes
    agreement_table, agreement_notes = agreement(data.ratings)
    notes += agreement_notes
    diversity_result = None
    if data.diversity is not None:
        diversity_result = analyse_diversity(data.diversity, order, seed=seed)
        notes += diversity_result.notes
        compared = pd.unique(diversity_result.pairs[["a", "b"]].to_numpy().ravel())
        order += [v for v in compared if v not in order]
    elif not data.ratings.empty:
        notes.append("no diversity judgements: the diversity section is empty")
    return Analyses(
        data=data,
        order=order,
        quality=quality,
        agreement=agreement_table,
        diversity=diversity_result,
        quality_power=quality_power_table(data.ratings, order) if not data.ratings.empty else pd.DataFrame(),
        diversity_power=(
            diversity_power_table(data.diversity, order) if data.diversity is not None else pd.DataFrame()
        ),
        notes=notes,
    )


def _summary(analyses: Analyses, *, study: str | None, seed: int) -> dict[str, Any]:
    data, judgements, diversity = analyses.data, analyses.data.diversity, analyses.diversity
    agreement_by_criterion = {
        row.pop("criterion"): _plain(row) for row in analyses.agreement.to_dict(orient="records")
    }
    strengths = diversity.strengths if diversity is not None else pd.DataFrame()
    return {
        "schema": SCHEMA,
        "meta": {
            "study": study,
            "n_ratings": len(data.ratings),
            "n_raters": int(data.ratings["rater_id"].nunique()),
            "n_prompts": int(data.ratings["prompt_id"].nunique()),
            "n_judgements": 0 if judgements is None else len(judgements),
            "n_diversity_prompts": 0 if judgements is None else int(judgements["prompt_id"].nunique()),
            "variants": analyses.order,
            "seed": seed,
            "excluded_raters": {
                "left_out": len(data.left_out_raters),
                "rater_ids": list(data.left_out_raters),
                "rows_left_out": data.left_out_rows,
                "flagged": len(data.excluded_raters),
                "included_on_request": data.include_excluded,
            },
        },
        "quality": _quality_section(analyses.quality),
        "diversity": {
            "pairs": _records(diversity.pairs) if diversity is not None else [],
            "bradley_terry": {row.pop("variant"): _plain(row) for row in strengths.to_dict(orient="records")},
        },
        "agreement": {c: agreement_by_criterion.get(c, {"krippendorff_alpha": None}) for c in CRITERIA},
        "power": {
            "quality": _records(analyses.quality_power),
            "diversity": _records(analyses.diversity_power),
        },
        "notes": analyses.notes,
    }


def _tables(analyses: Analyses) -> list[tables.Table]:
    quality, diversity = analyses.quality, analyses.diversity
    candidates = [
        (quality.variants, lambda: tables.quality_means_table(quality.variants, quality.pairs)),
        (
            quality.variants,
            lambda: tables.quality_means_table(quality.variants, quality.pairs, bootstrap=True),
        ),
        (quality.pairs, lambda: tables.quality_pairs_table(quality.pairs)),
        (
            quality.mixed_effects,
            lambda: tables.mixed_model_table(quality.mixed_effects, quality.variance_components),
        ),
        (quality.ordinal_effects, lambda: tables.ordinal_model_table(quality.ordinal_effects)),
        (diversity.pairs if diversity else [], lambda: tables.diversity_pairs_table(diversity.pairs)),
        (diversity.strengths if diversity else [], lambda: tables.strengths_table(diversity.strengths)),
        (analyses.agreement, lambda: tables.agreement_table(analyses.agreement)),
        (analyses.quality_power, lambda: tables.power_table(analyses.quality_power, quality=True)),
        (analyses.diversity_power, lambda: tables.power_table(analyses.diversity_power, quality=False)),
    ]
    return [make() for rows, make in candidates if len(rows)]


def _figures(
    analyses: Analyses, automatic_metrics: Mapping[str, Mapping[str, float]] | None
) -> dict[str, bytes]:
    from . import plots  # matplotlib: imported by what draws, not by what only computes (power)

    quality, diversity = analyses.quality, analyses.diversity
    figures = {}
    if quality.variants["mean"].notna().any():
        figures["mos.png"] = plots.mos_plot(quality.variants)
    diversity_pairs = diversity.pairs if diversity is not None else pd.DataFrame()
    if len(quality.pairs) or len(diversity_pairs):
        figures["win_rates.png"] = plots.win_rate_plot(quality.pairs, diversity_pairs, analyses.order)
    position = _diversity_position(diversity) if diversity is not None else None
    plane = plots.quality_diversity_plot(quality.overall, position, automatic_metrics)
    if plane is not None:
        figures["quality_diversity.png"] = plane
    return figures


def build_report(
    ratings: pd.DataFrame | None,
    diversity: pd.DataFrame | None,
    *,
    excluded_raters: Collection[str] = frozenset(),
    include_excluded: bool = False,
    automatic_metrics: Mapping[str, Mapping[str, float]] | None = None,
    variants: Sequence[str] | None = None,
    seed: int = 0,
    ordinal: bool = True,
    study: str | None = None,
) -> Report:
    """Every statistic, table and figure of the report, in memory."""
    analyses = analyse(
        ratings,
        diversity,
        excluded_raters=excluded_raters,
        include_excluded=include_excluded,
        variants=variants,
        seed=seed,
        ordinal=ordinal,
    )
    summary = _summary(analyses, study=study, seed=seed)
    if automatic_metrics:
        summary["automatic_metrics"] = _plain({v: dict(m) for v, m in automatic_metrics.items()})
    return Report(summary=summary, tables=_tables(analyses), figures=_figures(analyses, automatic_metrics))


def counted(n: int, noun: str) -> str:
    """'1 rater', '3 raters', '0 raters'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def markdown_report(report: Report) -> str:
    meta = report.summary["meta"]
    lines = [
        f"# Listening study report{': ' + markdown_escape(meta['study']) if meta['study'] else ''}",
        "",
        f"{counted(meta['n_ratings'], 'quality rating')} by {counted(meta['n_raters'], 'rater')} on "
        f"{counted(meta['n_prompts'], 'prompt')}; {counted(meta['n_judgements'], 'diversity judgement')} on "
        f"{counted(meta['n_diversity_prompts'], 'prompt')}; "
        f"{counted(meta['excluded_raters']['left_out'], 'excluded rater')} left out.",
        "",
    ]
    if report.figures:
        lines += ["## Figures", "", *[f"![{name}]({name})" for name in report.figures], ""]
    lines += [tables.to_markdown(table, level=2) for table in report.tables]
    if report.summary["notes"]:
        lines += ["## Notes", "", *[f"- {markdown_escape(note)}" for note in report.summary["notes"]], ""]
    return "\n".join(lines)


def write_report(
    ratings: pd.DataFrame | None,
    diversity: pd.DataFrame | None,
    out_dir: Path,
    *,
    excluded_raters: Collection[str] = frozenset(),
    include_excluded: bool = False,
    automatic_metrics: Mapping[str, Mapping[str, float]] | None = None,
    variants: Sequence[str] | None = None,
    seed: int = 0,
    study: str | None = None,
) -> dict[str, Any]:
    """Analyse, then write summary.json, report.md, each table as CSV/MD/TeX, and the PNG plots.

    Everything is written into a temporary folder beside ``out_dir`` first and moved in only when the
    whole analysis has succeeded, so a failure leaves nothing partial behind.
    """
    report = build_report(
        ratings,
        diversity,
        excluded_raters=excluded_raters,
        include_excluded=include_excluded,
        automatic_metrics=automatic_metrics,
        variants=variants,
        seed=seed,
        study=study,
    )
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {}
    for table in report.tables:
        files[f"{table.name}.csv"] = tables.to_csv(table)
        files[f"{table.name}.md"] = tables.to_markdown(table)
        files[f"{table.name}.tex"] = tables.to_latex(table)
    files.update(report.figures)
    files["report.md"] = markdown_report(report)
    report.summary["files"] = sorted([*files, "summary.json"])
    files["summary.json"] = json.dumps(report.summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with tempfile.TemporaryDirectory(prefix=".analysis-", dir=out_dir.parent) as staging:
        for name, content in files.items():
            path = Path(staging) / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        out_dir.mkdir(exist_ok=True)
        for name in files:
            shutil.move(Path(staging) / name, out_dir / name)
    return report.summary
