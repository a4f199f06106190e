"""Raters and onboarding: invites, consent, instructions, the headphone check, Prolific entry."""

import random
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from formats import validation

from .. import plain_sql
from ..errors import EntryNotResumable, EntryRefused, ServiceError, SubmissionRejected
from ..headphones import HEADPHONE_PASS_MARK, HEADPHONE_TRIALS
from ..models import (
    Rater,
    Study,
)

# --- raters and invites ------------------------------------------------------------------------


@transaction.atomic
def raters_invite(*, study: Study, count: int, prefix: str = "rater") -> list[Rater]:
    """Create `count` raters with fresh secret tokens (each rater's invite link carries one)."""
    if count < 1:
        raise ServiceError("count must be at least 1")
    taken = set(study.raters.values_list("external_id", flat=True))
    raters = []
    number = len(taken)
    while len(raters) < count:
        number += 1
        external_id = f"{prefix}-{number:04d}"
        if external_id not in taken:
            raters.append(Rater.objects.create(study=study, external_id=external_id))
    return raters


# --- before the first task: consent, instructions, headphone check ----------------------------------


@transaction.atomic
def rater_consent(*, rater: Rater) -> None:
    """Record the rater's consent (the first time only); the instance given says so too."""
    _record_once(rater, "consented_at")


@transaction.atomic
def rater_instructions_read(*, rater: Rater) -> None:
    """Record that the rater read the instructions (the first time only); the instance given says so too."""
    _record_once(rater, "instructions_read_at")


def _record_once(rater: Rater, field_name: str) -> None:
    """Set an onboarding step's time on the rater's row if it has none yet, and on the instance given
    the time the row now holds (another click a moment ago may have set it first): one conditional
    UPDATE.

    Plain statements (ratings/plain_sql.py), as the rater's other requests: every rater of a launch
    takes these steps within its first minute, the server's busiest."""
    now = timezone.now()
    if _time_set_once(rater.pk, field_name, now):
        setattr(rater, field_name, now)
    else:
        rater.refresh_from_db(fields=[field_name])


def _time_set_once(rater_id: int, field_name: str, now: datetime) -> bool:
    """Set a time field of the rater's row to `now` where it has none yet; whether it was set."""
    column = plain_sql.column(Rater, field_name)
    return bool(
        plain_sql.execute(
            f"UPDATE {plain_sql.table(Rater)} SET {column} = %s WHERE id = %s AND {column} IS NULL",
            [plain_sql.prepared(Rater, field_name, now), rater_id],
        )
    )


# What the headphone check reads of the rater's row under its lock.
HEADPHONE_FIELDS = ("headphone_passed", "headphone_answers", "headphone_trials")


@transaction.atomic
def headphone_check_start(*, rater: Rater) -> list[dict]:
    """The rater's trials, drawn once: per trial the position (0–2) of the quieter tone and of the antiphase one."""
    _headphone_state_locked(rater)
    # Answers kept but no verdict: a researcher cleared the verdict for another attempt; draw anew.
    retry = rater.headphone_passed is None and bool(rater.headphone_answers)
    if not rater.headphone_trials or retry:
        rng = random.SystemRandom()
        trials = []
        for _ in range(HEADPHONE_TRIALS):
            quiet, antiphase = rng.sample(range(3), 2)
            trials.append({"quiet": quiet, "antiphase": antiphase})
        rater.headphone_trials, rater.headphone_answers = trials, []
        plain_sql.update(rater, ["headphone_trials", "headphone_answers"])
    return rater.headphone_trials


@transaction.atomic
def headphone_check_submit(*, rater: Rater, answers: list[int]) -> bool:
    """Score the check once (answers: the position picked as quietest per trial). Passing needs
    HEADPHONE_PASS_MARK of HEADPHONE_TRIALS right; a failure is final."""
    _headphone_state_locked(rater)
    if rater.headphone_passed is not None:
        return rater.headphone_passed
    if not rater.headphone_trials:
        raise ServiceError("Open the headphone check first.")
    if len(answers) != len(rater.headphone_trials):
        raise SubmissionRejected(f"Answer all {len(rater.headphone_trials)} questions.")
    right = sum(
        answer == trial["quiet"] for answer, trial in zip(answers, rater.headphone_trials, strict=True)
    )
    rater.headphone_answers = list(answers)
    rater.headphone_passed = right >= HEADPHONE_PASS_MARK
    plain_sql.update(rater, ["headphone_answers", "headphone_passed"])
    return rater.headphone_passed


def _headphone_state_locked(rater: Rater) -> None:
    """Lock the rater's row and read its headphone check as it is now onto the instance given (another
    request may have drawn or scored it since this one read the rater). A plain statement
    (ratings/plain_sql.py): each rater of a launch opens and answers the check in its first minute."""
    state = plain_sql.locked_fields(Rater, rater.pk, HEADPHONE_FIELDS)
    for name, value in zip(HEADPHONE_FIELDS, state, strict=True):
        setattr(rater, name, value)


# --- crowd platforms -------------------------------------------------------------------------------


def _prolific_parameter(value: str, name: str) -> str:
    try:
        return validation.matching(
            value, name=name, pattern=r"[A-Za-z0-9_-]+", described="letters, digits, '-' or '_'"
        )
    except validation.Invalid as exc:
        raise EntryRefused(
            f"The link's {name} is malformed ({exc}); open the study again from Prolific."
        ) from None


def prolific_rater_enter(
    *,
    study: Study,
    prolific_pid: str,
    study_id: str = "",
    session_id: str = "",
    resuming_rater_id: int | None = None,
) -> Rater:
    """The rater for a Prolific participant: created on the first visit, the same one on a return.

    A return is resumed only from the browser the participant first entered with (the caller passes
    the rater that browser's session holds as ``resuming_rater_id``) or with the SESSION_ID Prolific
    gave that participant. Anyone else who knows the study's slug and the participant's PID is
    refused (EntryNotResumable) and never sees the rater's secret link.
    """
    pid = prolific_pid.strip()
    if not study.accepts_prolific:
        raise EntryRefused("This study does not take participants from Prolific.")
    if not pid:
        raise EntryRefused(
            "The link is missing your Prolific ID (PROLIFIC_PID); open the study again from Prolific."
        )
    _prolific_parameter(pid, "PROLIFIC_PID")
    for name, value in (("STUDY_ID", study_id), ("SESSION_ID", session_id)):
        if value:
            _prolific_parameter(value, name)
    if study.prolific_study_id and study_id != study.prolific_study_id:
        raise EntryRefused("This link belongs to another Prolific study; open the study again from Prolific.")
    try:
        with transaction.atomic():
            rater, created = Rater.objects.get_or_create(
                study=study,
                external_id=pid,
                defaults={
                    "source": Rater.Source.PROLIFIC,
                    "platform_study_id": study_id,
                    "platform_session_id": session_id,
                },
            )
    except IntegrityError:  # the same participant opened the link twice at once
        rater, created = Rater.objects.get(study=study, external_id=pid), False
    if created:
        return rater
    if rater.source != Rater.Source.PROLIFIC:
        raise EntryRefused("This ID is already taken by another rater of the study.")
    same_browser = resuming_rater_id == rater.pk
    same_session = bool(session_id) and session_id == rater.platform_session_id
    if not (same_browser or same_session):
        raise EntryNotResumable(
            "This Prolific ID has already started the study in another browser: continue there, or "
            "message the researchers on Prolific."
        )
    if session_id and rater.platform_session_id != session_id:
        Rater.objects.filter(pk=rater.pk).update(platform_session_id=session_id)
    return rater


@transaction.atomic
def rater_finish(*, rater: Rater) -> None:
    """Record when the rater first saw their completion page."""
    _time_set_once(rater.pk, "finished_at", timezone.now())
