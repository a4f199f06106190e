"""The study's rows in the long formats of ratings.csv, diversity.csv and rater_flags.csv."""

from ..kinds import KINDS
from ..models import Rater, RaterFlag, Study


def study_kind_rows(study: Study, kind: str) -> list[dict]:
    """Every answer of one kind in its export format (MISSION.md §5). Rows of every rater, excluded
    ones included (filter with study_excluded_rater_ids); attention and gold items never appear."""
    return KINDS[kind].export_rows(study)


def study_quality_rows(study: Study) -> list[dict]:
    return study_kind_rows(study, "quality")


def study_diversity_rows(study: Study) -> list[dict]:
    """variant_a and variant_b as heard as pair A and pair B, choice as answered (negative: A)."""
    return study_kind_rows(study, "diversity")


def study_excluded_rater_ids(study: Study) -> set[str]:
    """External ids of the study's raters with an active exclusion flag."""
    return set(
        Rater.objects.filter(study=study, flags__active=True).values_list("external_id", flat=True).distinct()
    )


def study_flag_rows(study: Study) -> list[dict]:
    flags = (
        RaterFlag.objects.filter(rater__study=study)
        .select_related("rater")
        .order_by("rater__external_id", "reason")
    )
    return [
        {
            "rater_id": flag.rater.external_id,
            "reason": flag.reason,
            "detail": flag.detail,
            "active": flag.active,
            "created_at": flag.created_at.isoformat(),
            "lifted_at": flag.lifted_at.isoformat() if flag.lifted_at else "",
        }
        for flag in flags
    ]
