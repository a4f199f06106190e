"""Report tables: numbers for CSV, and the same rows formatted for Markdown and LaTeX (booktabs).

A table keeps its numbers (``data``, written as CSV) apart from what a paper prints (``cells``):
formatted strings, the cells to set in bold, and a note that explains the marks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from formats.validation import markdown_escape, neutralise_formula

from .stats import BOOTSTRAP_RESAMPLES, significance_mark

SIGNIFICANCE_NOTE = "* p < 0.05, ** p < 0.01, *** p < 0.001 (Holm-corrected)"
CRITERION_LABELS = {
    "acoustic_quality": "Acoustic quality",
    "text_adherence": "Text adherence",
    "musicality": "Musicality",
}


@dataclass
class Table:
    name: str
    title: str
    data: pd.DataFrame
    cells: pd.DataFrame
    bold: set[tuple[int, str]] = field(default_factory=set)
    note: str = ""


def number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def p_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def interval(mean: float, low: float, high: float, digits: int = 2) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    return f"{number(mean, digits)} [{number(low, digits)}, {number(high, digits)}]"


def tally(wins: int, ties: int, losses: int) -> str:
    return f"{wins}/{ties}/{losses}"


def best_cells(numbers: pd.DataFrame, columns: Iterable[str]) -> set[tuple[int, str]]:
    """Every row holding the largest value of each column (ties all bold)."""
    cells = set()
    for column in columns:
        values = pd.to_numeric(numbers[column], errors="coerce")
        if values.notna().any():
            cells |= {(row, column) for row in values.index[values == values.max()]}
    return cells


def quality_means_table(variants: pd.DataFrame, pairs: pd.DataFrame, *, bootstrap: bool = False) -> Table:
    """Variants × criteria: mean [95% t-interval, or BCa bootstrap]; best bold; † where the best is significantly better."""
    low, high = ("boot_low", "boot_high") if bootstrap else ("ci_low", "ci_high")
    order = list(dict.fromkeys(variants["variant"]))
    criteria = [c for c in CRITERION_LABELS if c in set(variants["criterion"])]
    cells = pd.DataFrame({"Variant": order})
    numbers = pd.DataFrame(index=range(len(order)))
    for criterion in criteria:
        label = CRITERION_LABELS[criterion]
        rows = variants[variants["criterion"] == criterion].set_index("variant").reindex(order)
        numbers[label] = rows["mean"].to_numpy()
        best = rows["mean"].idxmax() if rows["mean"].notna().any() else None
        texts = []
        for variant, row in rows.iterrows():
            text = interval(row["mean"], row[low], row[high])
            if best is not None and variant != best and _significant(pairs, best, variant, criterion):
                text += " †"
            texts.append(text)
        cells[label] = texts
    bold = best_cells(numbers, numbers.columns)
    what = (
        f"the 95% BCa bootstrap interval (resampling prompts, {BOOTSTRAP_RESAMPLES} resamples)"
        if bootstrap
        else "the 95% t-interval over prompts"
    )
    note = (
        f"Mean over prompts of each prompt's mean score, with {what}. Best per column in bold; "
        "† significantly below the best (Wilcoxon signed-rank, Holm p < 0.05)."
    )
    if bootstrap:
        return Table(
            "quality_means_bootstrap", "Quality (MOS, 1–5), bootstrap intervals", variants, cells, bold, note
        )
    return Table("quality_means", "Quality (MOS, 1–5)", variants, cells, bold, note)


def _significant(pairs: pd.DataFrame, first: str, second: str, criterion: str) -> bool:
    if pairs.empty:
        return False
    match = pairs[
        (pairs["criterion"] == criterion)
        & (
            ((pairs["a"] == first) & (pairs["b"] == second))
            | ((pairs["a"] == second) & (pairs["b"] == first))
        )
    ]
    return bool(len(match)) and bool(match["p_holm"].iloc[0] < 0.05)


def quality_pairs_table(pairs: pd.DataFrame) -> Table:
    cells = pd.DataFrame(
        {
            "A": pairs["a"],
            "B": pairs["b"],
            "Criterion": pairs["criterion"].map(CRITERION_LABELS),
            "W/T/L (rater)": [tally(*r) for r in pairs[["wins", "ties", "losses"]].itertuples(index=False)],
            "Win rate": pairs["win_rate"].map(number),
            "W/T/L (prompt)": [
                tally(*r)
                for r in pairs[["prompt_wins", "prompt_ties", "prompt_losses"]].itertuples(index=False)
            ],
            "Δ mean": pairs["mean_difference"].map(lambda v: f"{v:+.2f}"),
            "r (rank-biserial)": pairs["rank_biserial"].map(lambda v: f"{v:+.2f}"),
            "p": pairs["p_value"].map(p_value),
            "p (Holm)": [p_value(p) + significance_mark(p) for p in pairs["p_holm"]],
        }
    )
    bold = {(i, "p (Holm)") for i in pairs.index[pairs["p_holm"] < 0.05]}
    note = (
        "A against B. W/T/L (rater): each rater and prompt with both clips rated counts once; win rate "
        "W/(W+L). W/T/L (prompt): prompt means compared. Δ mean, r, p: Wilcoxon signed-rank test on "
        f"per-prompt mean differences A − B. {SIGNIFICANCE_NOTE}; significant in bold."
    )
    return Table("quality_pairs", "Quality: pairwise comparisons", pairs, cells, bold, note)


def diversity_pairs_table(pairs: pd.DataFrame) -> Table:
    cells = pd.DataFrame(
        {
            "A": pairs["a"],
            "B": pairs["b"],
            "W/T/L": [tally(*r) for r in pairs[["wins", "ties", "losses"]].itertuples(index=False)],
            "Win rate [Wilson 95%]": [
                interval(*r) for r in pairs[["win_rate", "wilson_low", "wilson_high"]].itertuples(index=False)
            ],
            "p (binomial)": [
                p_value(p) + significance_mark(h)
                for p, h in zip(pairs["p_value"], pairs["p_holm"], strict=True)
            ],
            "W/T/L (prompt majority)": [
                tally(*r)
                for r in pairs[["prompt_wins", "prompt_ties", "prompt_losses"]].itertuples(index=False)
            ],
            "p (prompt)": pairs["prompt_p_value"].map(p_value),
        }
    )
    bold = {(i, "p (binomial)") for i in pairs.index[pairs["p_holm"] < 0.05]}
    note = (
        "A judged more diverse than B: each judgement counts once; win rate W/(W+L) with its Wilson "
        "interval; exact two-sided binomial test at 0.5. Prompt majority: a prompt's judgements summed. "
        f"Marks: {SIGNIFICANCE_NOTE} over the diversity pairs; significant in bold."
    )
    return Table("diversity_pairs", "Diversity: pairwise preferences", pairs, cells, bold, note)


def strengths_table(strengths: pd.DataFrame) -> Table:
    cells = pd.DataFrame(
        {
            "Variant": strengths["variant"],
            "Strength [95% bootstrap]": [
                interval(*r) for r in strengths[["strength", "ci_low", "ci_high"]].itertuples(index=False)
            ],
            "Judgements": strengths["judgements"].astype(str),
        }
    )
    numbers = pd.DataFrame({"Strength [95% bootstrap]": strengths["strength"]})
    note = (
        "Bradley–Terry log-strengths (sum zero; a tie is half a win each), percentile intervals from "
        "resampling prompts. Higher: judged more diverse. Best in bold."
    )
    return Table(
        "diversity_strengths",
        "Diversity: Bradley–Terry strengths",
        strengths,
        cells,
        best_cells(numbers, numbers.columns),
        note,
    )


def mixed_model_table(effects: pd.DataFrame, components: pd.DataFrame) -> Table:
    rows = []
    for criterion, group in effects.groupby("criterion", sort=False):
        variance = components[components["criterion"] == criterion].set_index("component")["variance"]
        for position, effect in enumerate(group.itertuples()):
            # The variance components belong to the criterion's model: printed once, on its first row.
            rows.append(
                {
                    "Criterion": CRITERION_LABELS[criterion],
                    "Term": effect.term,
                    "Estimate [95%]": interval(effect.estimate, effect.ci_low, effect.ci_high),
                    "p": p_value(effect.p_value)
                    + ("" if effect.term.startswith("intercept") else significance_mark(effect.p_value)),
                    "σ² rater": number(variance.get("rater"), 3) if position == 0 else "",
                    "σ² prompt": number(variance.get("prompt"), 3) if position == 0 else "",
                    "σ² residual": number(variance.get("residual"), 3) if position == 0 else "",
                }
            )
    cells = pd.DataFrame(rows)
    note = (
        "Linear mixed model score ~ variant + (1 | rater) + (1 | prompt), REML (statsmodels MixedLM), per "
        "criterion; effects against the first variant. Marks: * p < 0.05, ** p < 0.01, *** p < 0.001 (uncorrected)."
    )
    data = (
        effects.merge(
            components.pivot(index="criterion", columns="component", values="variance"),
            on="criterion",
            how="left",
        )
        if len(effects)
        else effects
    )
    return Table("mixed_model", "Quality: mixed model", data, cells, set(), note)


def ordinal_model_table(ordinal: pd.DataFrame) -> Table:
    cells = pd.DataFrame(
        {
            "Criterion": ordinal["criterion"].map(CRITERION_LABELS),
            "Variant": ordinal["variant"] + " vs " + ordinal["reference"],
            "Odds ratio [95%]": [
                interval(*r) for r in ordinal[["odds_ratio", "ci_low", "ci_high"]].itertuples(index=False)
            ],
            "p": ordinal["p_value"].map(p_value),
        }
    )
    note = "Proportional-odds (logit) model score ~ variant per criterion; ratings treated as independent."
    return Table("ordinal_model", "Quality: ordinal model", ordinal, cells, set(), note)


def agreement_table(agreement: pd.DataFrame) -> Table:
    cells = pd.DataFrame(
        {
            "Criterion": agreement["criterion"].map(CRITERION_LABELS),
            "Krippendorff α (ordinal)": agreement["krippendorff_alpha"].map(number),
            "ICC(1,1)": agreement["icc1"].map(number),
            "ICC(1,k)": agreement["icc1k"].map(number),
            "Raters per clip": agreement["raters_per_clip"].map(lambda v: number(v, 1)),
        }
    )
    numbers = agreement.rename(
        columns={"krippendorff_alpha": "Krippendorff α (ordinal)", "icc1": "ICC(1,1)", "icc1k": "ICC(1,k)"}
    )
    bold = best_cells(numbers, ["Krippendorff α (ordinal)", "ICC(1,1)", "ICC(1,k)"])
    note = "Units: clips (prompt × variant); ICC one-way random effects (Shrout & Fleiss 1979). Best in bold."
    return Table("agreement", "Rater agreement", agreement, cells, bold, note)


def _needed(value: int | None) -> str:
    return "–" if value is None or pd.isna(value) else str(int(value))


def power_table(power: pd.DataFrame, *, quality: bool) -> Table:
    needed = [c for c in power.columns if c.startswith("prompts_for_80_with_")]
    cells = pd.DataFrame({"A": power["a"], "B": power["b"]})
    if quality:
        cells["Criterion"] = power["criterion"].map(CRITERION_LABELS)
        cells["Δ mean"] = power["difference"].map(lambda v: f"{v:+.2f}")
        cells["sd prompt / rater"] = [
            f"{number(p)} / {number(r)}" for p, r in zip(power["sd_prompt"], power["sd_rater"], strict=True)
        ]
    else:
        cells["Win rate"] = power["win_rate"].map(number)
        cells["Tie rate"] = power["tie_rate"].map(number)
        cells["ρ within prompt"] = power["within_prompt_correlation"].map(number)
    cells["Power now"] = power["power_now"].map(number)
    for column in needed:
        raters = column.removeprefix("prompts_for_80_with_").removesuffix("_raters")
        cells[f"Prompts, {raters} rater{'s' if raters != '1' else ''}"] = power[column].map(_needed)
    what = "paired signed-rank test on prompt means" if quality else "exact binomial test of the win rate"
    note = (
        f"Prompts needed for 80% power at α = 0.05 ({what}), if the pilot's effect is the true one; "
        "– means beyond 100000 or no effect."
    )
    name = "power_quality" if quality else "power_diversity"
    title = "Power: quality" if quality else "Power: diversity"
    return Table(name, title, power, cells, set(), note)


def to_markdown(table: Table, *, level: int = 1) -> str:
    """The table under a heading of ``level`` (1 in its own file, 2 inside report.md)."""

    def cell(row: int, column: str) -> str:
        # Cells carry variant names from outside: no markup, tags or links of theirs reach the page.
        text = markdown_escape(str(table.cells.at[row, column]))
        return f"**{text}**" if (row, column) in table.bold else text

    columns = list(table.cells.columns)
    lines = [f"{'#' * level} {table.title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in table.cells.index]
    return "\n".join([*lines, "", table.note, ""])


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\(<\)",
    ">": r"\(>\)",
    "−": r"\(-\)",
    "–": r"--",
    "†": r"\textsuperscript{\dag}",
    "Δ": r"\(\Delta\)",
    "α": r"\(\alpha\)",
    "σ": r"\(\sigma\)",
    "²": r"\textsuperscript{2}",
    "ρ": r"\(\rho\)",
    "×": r"\(\times\)",
    "*": r"\textsuperscript{*}",
}


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_SPECIALS.get(character, character) for character in text)
    # A run of significance stars is one superscript: ^{***}, not three.
    star = re.escape(_LATEX_SPECIALS["*"])
    return re.sub(
        f"(?:{star})+",
        lambda run: rf"\textsuperscript{{{'*' * (len(run.group(0)) // len(_LATEX_SPECIALS['*']))}}}",
        escaped,
    )


def to_csv(table: Table) -> str:
    """The table's numbers as CSV, every text cell a spreadsheet would run as a formula neutralised."""
    return table.data.map(neutralise_formula).to_csv(index=False)


def to_latex(table: Table) -> str:
    def cell(row: int, column: str) -> str:
        text = latex_escape(str(table.cells.at[row, column]))
        return rf"\textbf{{{text}}}" if (row, column) in table.bold else text

    columns = list(table.cells.columns)
    text_columns = 1
    while text_columns < len(columns) and table.cells[columns[text_columns]].map(_is_label).all():
        text_columns += 1
    spec = "l" * text_columns + "r" * (len(columns) - text_columns)
    lines = [
        r"% Needs \usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}. {latex_escape(table.note)}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(row, c) for c in columns) + r" \\" for row in table.cells.index]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _is_label(text: object) -> bool:
    """A leading column of names (variants, criteria, terms) is left-aligned; numbers right-aligned."""
    return not any(character.isdigit() for character in str(text)[:1]) and str(text)[:1] not in "+-–<"
