"""Every write of the ratings app, by concern: keyword-only arguments, one transaction each.

studies (studies and clips), raters (invites and onboarding), queue (the claim queue), quality and
diversity (each task kind), submissions (what every answer shares), quality_control (checks, flags,
screening), imports and exports. Callers use the names re-exported here.
"""

from .diversity import (
    DIVERSITY_PROMPTS_DEFAULT,
    DiversityPlanResult,
    DiversitySubmission,
    diversity_judgement_submit,
    diversity_plan,
)
from .errors import (
    EntryNotResumable,
    EntryRefused,
    ImportFailed,
    RaterExcluded,
    ServiceError,
    SubmissionRejected,
)
from .exports import RatingsExportResult, study_ratings_export
from .imports import RatingsImportResult, ratings_import
from .quality import QualitySubmission, quality_rating_submit
from .quality_control import assignment_reopen, gold_item_create, rater_flag, rater_flag_lift, raters_screen
from .queue import diversity_assignment_next, quality_assignment_next, task_next
from .raters import (
    HEADPHONE_PASS_MARK,
    HEADPHONE_TRIALS,
    headphone_check_start,
    headphone_check_submit,
    prolific_rater_enter,
    rater_consent,
    rater_finish,
    rater_instructions_read,
    raters_invite,
)
from .studies import ClipImportResult, clips_import, study_get_or_create
from .submissions import ClipListening, SubmitResult

__all__ = [
    "DIVERSITY_PROMPTS_DEFAULT",
    "HEADPHONE_PASS_MARK",
    "HEADPHONE_TRIALS",
    "ClipImportResult",
    "ClipListening",
    "DiversityPlanResult",
    "DiversitySubmission",
    "EntryNotResumable",
    "EntryRefused",
    "ImportFailed",
    "QualitySubmission",
    "RaterExcluded",
    "RatingsExportResult",
    "RatingsImportResult",
    "ServiceError",
    "SubmissionRejected",
    "SubmitResult",
    "assignment_reopen",
    "clips_import",
    "diversity_assignment_next",
    "diversity_judgement_submit",
    "diversity_plan",
    "gold_item_create",
    "headphone_check_start",
    "headphone_check_submit",
    "prolific_rater_enter",
    "quality_assignment_next",
    "quality_rating_submit",
    "rater_consent",
    "rater_finish",
    "rater_flag",
    "rater_flag_lift",
    "rater_instructions_read",
    "ratings_import",
    "raters_invite",
    "raters_screen",
    "study_get_or_create",
    "study_ratings_export",
    "task_next",
]
