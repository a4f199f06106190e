"""The study's rows in the long formats of ratings.csv, diversity.csv and rater_flags.csv."""

from ..models import (
    AssignmentStatus,
    DiversityAssignment,
    QualityRating,
    Rater,
    RaterFlag,
    Study,
)

# --- exports and the analysis ------------------------------------------------------------------


def study_quality_rows(study: Study) -> list[dict]:
    """Every quality rating of the study in the long format of ratings.csv (MISSION.md §5).

    Ratings of every rater, excluded ones included (filter with study_excluded_rater_ids);
    attention and gold items never appear.
    """
    ratings = (
        QualityRating.objects.filter(assignment__prompt__study=study, assignment__check_item__isnull=True)
        .select_related("assignment__rater", "assignment__prompt", "clip__variant")
        .order_by(
            "assignment__rater__external_id",
            "assignment__prompt__external_id",
            "clip__variant__name",
            "criterion",
        )
    )
    return [
        {
            "rater_id": rating.assignment.rater.external_id,
            "prompt_id": rating.assignment.prompt.external_id,
            "variant": rating.clip.variant.name,
            "criterion": rating.criterion,
            "score": rating.score,
            "created_at": rating.created_at.isoformat(),
        }
        for rating in ratings
    ]


def study_diversity_rows(study: Study) -> list[dict]:
    """Every diversity judgement in the format of diversity.csv (MISSION.md §5): variant_a and
    variant_b as heard as pair A and pair B, choice as answered (negative: A more diverse).

    Judgements of every rater, excluded ones included; attention and gold items never appear.
    """
    judged = (
        DiversityAssignment.objects.filter(
            prompt__study=study, check_item__isnull=True, status=AssignmentStatus.SUBMITTED
        )
        .select_related("rater", "prompt", "variant_a", "variant_b")
        .order_by("rater__external_id", "prompt__external_id", "variant_a__name", "variant_b__name")
    )
    return [
        {
            "rater_id": judgement.rater.external_id,
            "prompt_id": judgement.prompt.external_id,
            "variant_a": judgement.variant_a.name,
            "variant_b": judgement.variant_b.name,
            "choice": judgement.choice,
            "created_at": judgement.submitted_at.isoformat(),
        }
        for judgement in judged
    ]


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
