"""Every write of the ratings app, by concern: keyword-only arguments, one transaction each.

studies (studies and clips), raters (invites and onboarding), queue (the claim queue), submissions
(an answer to a task of any kind), diversity (planning the comparisons), quality_control (checks,
flags, screening), imports and exports. What differs between task kinds lives in ratings/kinds/.
Callers use the names re-exported here.
"""

from ..errors import (
    EntryNotResumable,
    EntryRefused,
    ImportFailed,
    RaterExcluded,
    ServiceError,
    SubmissionRejected,
)
from ..kinds import ClipListening, DiversitySubmission, QualitySubmission
from .diversity import DIVERSITY_PROMPTS_DEFAULT, DiversityPlanResult, diversity_plan
from .exports import RatingsExportResult, study_ratings_export
from .imports import RatingsImportResult, ratings_import
from .listening import (
    audio_request_record,
    task_audio_name,
    task_audio_prepare,
    task_audio_request,
    task_page_open,
)
from .quality_control import gold_item_create, rater_flag, rater_flag_lift, raters_screen, task_reopen
from .queue import (
    Claim,
    claims_expire_forget,
    diversity_assignment_next,
    quality_assignment_next,
    task_claim,
    task_claim_by_token,
    task_next,
    tasks_expire,
)
from .raters import (
    headphone_check_start,
    headphone_check_submit,
    prolific_rater_enter,
    rater_consent,
    rater_finish,
    rater_instructions_read,
    raters_invite,
)
from .studies import ClipImportResult, clips_import, study_get_or_create
from .submissions import SubmitResult, task_submit

__all__ = [
    "DIVERSITY_PROMPTS_DEFAULT",
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
    "clips_import",
    "diversity_assignment_next",
    "diversity_plan",
    "gold_item_create",
    "headphone_check_start",
    "headphone_check_submit",
    "prolific_rater_enter",
    "quality_assignment_next",
    "rater_consent",
    "rater_finish",
    "rater_flag",
    "rater_flag_lift",
    "rater_instructions_read",
    "raters_invite",
    "raters_screen",
    "ratings_import",
    "study_get_or_create",
    "study_ratings_export",
    "task_next",
    "task_claim",
    "task_claim_by_token",
    "Claim",
    "tasks_expire",
    "claims_expire_forget",
    "audio_request_record",
    "task_audio_name",
    "task_audio_prepare",
    "task_audio_request",
    "task_page_open",
    "task_reopen",
    "task_submit",
]
