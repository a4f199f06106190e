"""Every read of the ratings app that is more than a one-line query, by concern.

queue (what a rater may claim, holds, and how far they are), task_clips (what a rater sees),
raters (exclusion, onboarding), screening, dashboard, exports. Callers use the names re-exported here.
"""

from .dashboard import RaterRow, StudyDashboard, study_coverage, study_dashboard, study_diversity_coverage
from .exports import study_diversity_rows, study_excluded_rater_ids, study_flag_rows, study_quality_rows
from .queue import (
    RaterCounts,
    RaterProgress,
    assignment_kind,
    attention_check_due,
    check_items_unseen_by,
    claimable_by,
    diversity_comparisons_claimable_by,
    diversity_comparisons_open,
    prompt_quality_clips,
    quality_prompts_claimable_by,
    rater_counts,
    rater_open_assignment,
    rater_open_diversity_assignment,
    rater_open_quality_assignment,
    rater_progress,
    study_task_kinds,
)
from .raters import rater_is_excluded, rater_onboarding_step
from .screening import DROPPED_OUT_AFTER, assignment_duration_s, rater_screening_findings
from .task_clips import (
    DIVERSITY_LABELS,
    assignment_clips_in_order,
    clip_label,
    diversity_clips_in_order,
    rater_task_clip,
)

__all__ = [
    "DIVERSITY_LABELS",
    "DROPPED_OUT_AFTER",
    "RaterCounts",
    "RaterProgress",
    "RaterRow",
    "StudyDashboard",
    "assignment_clips_in_order",
    "assignment_duration_s",
    "assignment_kind",
    "attention_check_due",
    "check_items_unseen_by",
    "claimable_by",
    "clip_label",
    "diversity_clips_in_order",
    "diversity_comparisons_claimable_by",
    "diversity_comparisons_open",
    "prompt_quality_clips",
    "quality_prompts_claimable_by",
    "rater_counts",
    "rater_is_excluded",
    "rater_onboarding_step",
    "rater_open_assignment",
    "rater_open_diversity_assignment",
    "rater_open_quality_assignment",
    "rater_progress",
    "rater_screening_findings",
    "rater_task_clip",
    "study_coverage",
    "study_dashboard",
    "study_diversity_coverage",
    "study_diversity_rows",
    "study_excluded_rater_ids",
    "study_flag_rows",
    "study_quality_rows",
    "study_task_kinds",
]
