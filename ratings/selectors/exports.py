"""The study's rows in the long formats of ratings.csv, diversity.csv and rater_flags.csv."""

from ..kinds import KINDS
from ..models import Rater, RaterFlag, Study, Task, TaskStatus


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


def study_prompt_rows(study: Study) -> list[dict]:
    """Every prompt of the study with its text (ratings.csv and diversity.csv name prompts by id)."""
    return [
        {"prompt_id": external_id, "prompt_text": text}
        for external_id, text in study.prompts.order_by("external_id").values_list("external_id", "text")
    ]


def study_listening_rows(study: Study) -> list[dict]:
    """The listening evidence of every submitted task (check items included and marked), a row per clip."""
    tasks = (
        Task.objects.filter(rater__study=study, status=TaskStatus.SUBMITTED)
        .select_related("rater", "prompt")
        .order_by("rater__external_id", "submitted_at", "id")
    )
    return [
        {
            "rater_id": task.rater.external_id,
            "kind": task.kind,
            "prompt_id": task.prompt.external_id,
            "check_item": task.check_item_id is not None,
            "clip_label": label,
            "plays": heard.get("plays", 0),
            "seconds": heard.get("seconds", 0.0),
            "ended": heard.get("ended", False),
            "created_at": task.created_at.isoformat(),
            "submitted_at": task.submitted_at.isoformat() if task.submitted_at else "",
        }
        for task in tasks
        for label, heard in sorted(task.listening.items())
        if isinstance(heard, dict)  # imported answers record their source file, not a player
    ]
