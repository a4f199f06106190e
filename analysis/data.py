"""The two long formats of MISSION.md §5, checked and cleaned into the frames every analysis reads."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

CRITERIA = ("acoustic_quality", "text_adherence", "musicality")
QUALITY_COLUMNS = ("rater_id", "prompt_id", "variant", "criterion", "score", "created_at")
DIVERSITY_COLUMNS = ("rater_id", "prompt_id", "variant_a", "variant_b", "choice", "created_at")


class RatingsFormatError(ValueError):
    """A ratings or diversity table that does not follow MISSION.md §5."""


def _require_columns(frame: pd.DataFrame, columns: Collection[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise RatingsFormatError(
            f"{what} lacks the column(s) {', '.join(missing)}; expected header {','.join(columns)}"
        )


def clean_quality(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratings with string ids, a known criterion and an integer score 1–5 (created_at optional)."""
    _require_columns(frame, QUALITY_COLUMNS[:5], "ratings table")
    ratings = frame.loc[:, list(QUALITY_COLUMNS[:5])].copy()
    for column in ("rater_id", "prompt_id", "variant", "criterion"):
        ratings[column] = ratings[column].astype(str)
    unknown = sorted(set(ratings["criterion"]) - set(CRITERIA))
    if unknown:
        raise RatingsFormatError(f"unknown criterion {unknown[0]!r}; use one of {', '.join(CRITERIA)}")
    scores = pd.to_numeric(ratings["score"], errors="coerce")
    if scores.isna().any() or not scores.between(1, 5).all() or (scores % 1 != 0).any():
        raise RatingsFormatError("every score must be an integer from 1 to 5")
    ratings["score"] = scores.astype(float)
    return ratings.reset_index(drop=True)


def clean_diversity(frame: pd.DataFrame) -> pd.DataFrame:
    """Judgements with string ids, two different variants and an integer choice −2..+2."""
    _require_columns(frame, DIVERSITY_COLUMNS[:5], "diversity table")
    judgements = frame.loc[:, list(DIVERSITY_COLUMNS[:5])].copy()
    for column in ("rater_id", "prompt_id", "variant_a", "variant_b"):
        judgements[column] = judgements[column].astype(str)
    choices = pd.to_numeric(judgements["choice"], errors="coerce")
    if choices.isna().any() or not choices.between(-2, 2).all() or (choices % 1 != 0).any():
        raise RatingsFormatError("every diversity choice must be an integer from -2 to 2")
    if (judgements["variant_a"] == judgements["variant_b"]).any():
        raise RatingsFormatError("a diversity judgement compares a variant with itself")
    judgements["choice"] = choices.astype(int)
    return judgements.reset_index(drop=True)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV read with every id kept as text (prompt ids such as 007 keep their zeros)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise RatingsFormatError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise RatingsFormatError(f"{path}: the file is empty") from None


@dataclass(frozen=True)
class StudyData:
    """What one analysis runs on, and who was left out of it."""

    ratings: pd.DataFrame
    diversity: pd.DataFrame | None
    excluded_raters: frozenset[str] = frozenset()
    include_excluded: bool = False
    left_out_raters: tuple[str, ...] = ()
    left_out_rows: int = 0
    notes: list[str] = field(default_factory=list)


def study_data(
    ratings: pd.DataFrame,
    diversity: pd.DataFrame | None,
    *,
    excluded_raters: Collection[str] = frozenset(),
    include_excluded: bool = False,
) -> StudyData:
    """Clean both tables and drop the excluded raters unless asked to keep them."""
    quality = clean_quality(ratings)
    judgements = clean_diversity(diversity) if diversity is not None and len(diversity) else None
    excluded = frozenset(str(rater) for rater in excluded_raters)
    notes: list[str] = []
    present = set(quality["rater_id"]) | (set(judgements["rater_id"]) if judgements is not None else set())
    flagged_present = tuple(sorted(excluded & present))
    left_out_rows = 0
    if flagged_present and not include_excluded:
        keep = ~quality["rater_id"].isin(excluded)
        left_out_rows += int((~keep).sum())
        quality = quality[keep].reset_index(drop=True)
        if judgements is not None:
            keep = ~judgements["rater_id"].isin(excluded)
            left_out_rows += int((~keep).sum())
            judgements = judgements[keep].reset_index(drop=True) if keep.any() else None
        notes.append(
            f"{len(flagged_present)} excluded rater(s) left out ({left_out_rows} rows); "
            "the report can include them on request"
        )
    elif flagged_present:
        notes.append(f"{len(flagged_present)} rater(s) flagged for exclusion were kept on request")
    return StudyData(
        ratings=quality,
        diversity=judgements,
        excluded_raters=excluded,
        include_excluded=include_excluded,
        left_out_raters=flagged_present if not include_excluded else (),
        left_out_rows=left_out_rows,
        notes=notes,
    )
