"""Every read of the ratings app that is more than a one-line query, by concern.

queue (what a rater may claim, holds, and how far they are), task_clips (what a rater sees),
raters (exclusion, onboarding), screening, dashboard, exports. What differs between task kinds is
read through the kind (ratings/kinds/). Callers use the names re-exported here.
"""

from ..kinds.quality import prompt_quality_clips
from .dashboard import (
    METRICS,
    KindCoverage,
    RaterRow,
    StudyDashboard,
    invites_unused,
    study_coverage,
    study_dashboard,
    study_diversity_coverage,
    study_variants_summary,
)
from .exports import (
    study_diversity_rows,
    study_excluded_rater_ids,
    study_flag_rows,
    study_kind_rows,
    study_listening_rows,
    study_prompt_rows,
    study_quality_rows,
)
from .fingerprint import study_answers_fingerprint
from .listening import served_fraction, task_heard_problems, task_min_seconds, task_served
from .queue import (
    RaterCounts,
    RaterProgress,
    StudySession,
    TaskBrief,
    attention_check_due,
    check_items_unseen_by,
    claimable_by,
    rater_claim_lapsed,
    rater_counts,
    rater_open_task,
    rater_progress,
    rater_task_briefs,
    study_raters_needed,
    study_raters_progress,
    study_session,
    study_session_items,
    study_task_kinds,
)
from .raters import REMINDER_AFTER, rater_is_excluded, rater_onboarding_step, rater_reminder_due
from .screening import (
    DROPPED_OUT_AFTER,
    rater_screening_findings,
    study_screening_findings,
    task_duration_s,
)
from .task_clips import rater_task_at, task_clips_in_order

__all__ = [
    "study_listening_rows",
    "study_prompt_rows",
    "DROPPED_OUT_AFTER",
    "KindCoverage",
    "RaterCounts",
    "RaterProgress",
    "StudySession",
    "RaterRow",
    "StudyDashboard",
    "attention_check_due",
    "check_items_unseen_by",
    "invites_unused",
    "claimable_by",
    "prompt_quality_clips",
    "rater_claim_lapsed",
    "rater_counts",
    "rater_task_briefs",
    "TaskBrief",
    "rater_is_excluded",
    "rater_reminder_due",
    "REMINDER_AFTER",
    "rater_onboarding_step",
    "rater_open_task",
    "rater_progress",
    "rater_screening_findings",
    "rater_task_at",
    "served_fraction",
    "task_heard_problems",
    "task_min_seconds",
    "task_served",
    "study_answers_fingerprint",
    "study_coverage",
    "study_dashboard",
    "METRICS",
    "study_variants_summary",
    "study_diversity_coverage",
    "study_diversity_rows",
    "study_excluded_rater_ids",
    "study_flag_rows",
    "study_kind_rows",
    "study_quality_rows",
    "study_raters_progress",
    "study_session",
    "study_session_items",
    "study_raters_needed",
    "study_screening_findings",
    "study_task_kinds",
    "task_clips_in_order",
    "task_duration_s",
]
