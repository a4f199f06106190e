"""The quality task: one prompt, its clips side by side, each rated on three 1–5 scales."""

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from formats import CRITERIA

from .. import selectors
from ..models import (
    AssignmentStatus,
    CheckItem,
    Clip,
    Criterion,
    Prompt,
    QualityAssignment,
    QualityRating,
    Rater,
    TaskKind,
)
from .errors import SubmissionRejected
from .quality_control import check_recorded
from .submissions import ClipListening, SubmitResult, listening_problems, locked_for_submission

# The attention item of the quality study: a prompt the clips plainly do not match.
ATTENTION_QUALITY_EXPECTED = {Criterion.TEXT_ADHERENCE.value: [1, 2]}


def quality_claim(rater: Rater) -> QualityAssignment | None:
    limit = rater.study.raters_per_prompt
    candidates = selectors.quality_prompts_claimable_by(rater)
    # On PostgreSQL, first take the least-covered prompt no other request holds (SKIP LOCKED), so
    # raters arriving together spread over prompts instead of queueing on one row; then, if every
    # candidate was held, wait on them in order. SQLite serialises writers and ignores the lock.
    unheld = (
        Prompt.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=candidates.values("id"))
        .order_by("quality_slots_taken", "id")
        .values_list("id", flat=True)[:1]
    )
    for prompt_id in [*unheld, *candidates.values_list("id", flat=True)]:
        claimed = Prompt.objects.filter(pk=prompt_id, quality_slots_taken__lt=limit).update(
            quality_slots_taken=F("quality_slots_taken") + 1
        )
        if claimed:
            prompt = Prompt.objects.get(pk=prompt_id)
            clip_ids = [clip.pk for clip in selectors.prompt_quality_clips(prompt)]
            random.SystemRandom().shuffle(clip_ids)
            return QualityAssignment.objects.create(rater=rater, prompt=prompt, clip_order=clip_ids)
    return None


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 2}


def quality_attention_item(rater: Rater, rng: random.Random) -> CheckItem | None:
    """Clips of one prompt shown with the text of another, the one sharing the fewest words with it."""
    sources = list(Prompt.objects.filter(study_id=rater.study_id, clips__isnull=False).distinct())
    seen = set(rater.quality_assignments.values_list("prompt_id", flat=True))
    unseen = [p for p in sources if p.pk not in seen]
    # A prompt the rater could still rate would be spent on the check: prefer one already covered.
    claimable = set(selectors.quality_prompts_claimable_by(rater).values_list("id", flat=True))
    shown_candidates = [p for p in unseen if p.pk not in claimable] or unseen
    if not shown_candidates:
        return None
    shown = rng.choice(shown_candidates)
    others = [p for p in sources if p.pk != shown.pk]
    if not others:
        return None
    rng.shuffle(others)
    source = min(others, key=lambda p: len(_words(p.text) & _words(shown.text)))
    return CheckItem.objects.create(
        study_id=rater.study_id,
        kind=TaskKind.QUALITY,
        source=CheckItem.Source.ATTENTION,
        prompt=shown,
        clips=[clip.pk for clip in selectors.prompt_quality_clips(source)],
        expected=ATTENTION_QUALITY_EXPECTED,
        note=f"clips of {source.external_id} shown with the text of {shown.external_id}",
    )


def _quality_check_passed(assignment: QualityAssignment) -> bool:
    expected = assignment.check_item.expected
    for rating in assignment.ratings.all():
        if rating.criterion in expected:
            low, high = expected[rating.criterion]
            if not low <= rating.score <= high:
                return False
    return True


@dataclass
class QualitySubmission:
    scores: Mapping[tuple[str, str], int]  # (clip label, criterion) → 1..5
    listening: Mapping[str, ClipListening] = field(default_factory=dict)  # clip label → evidence


def quality_rating_submit(*, assignment: QualityAssignment, submission: QualitySubmission) -> SubmitResult:
    """Store the ratings of one assignment, exactly once.

    Refused, with nothing saved, when a score is missing or outside 1..5, a clip was not played to
    the end, the item was withdrawn or the rater is excluded. A second submission changes nothing.
    """
    with transaction.atomic():
        locked = locked_for_submission(QualityAssignment, assignment)
        if isinstance(locked, SubmitResult):
            return locked
        assignment = locked
        labelled = selectors.assignment_clips_in_order(assignment)
        problems = _quality_submission_problems(labelled, submission)
        if problems:
            raise SubmissionRejected(problems[0], problems)
        now = timezone.now()
        QualityRating.objects.bulk_create(
            QualityRating(
                assignment=assignment,
                clip=clip,
                criterion=criterion,
                score=submission.scores[(label, criterion)],
                created_at=now,
            )
            for label, clip in labelled
            for criterion in CRITERIA
        )
        assignment.status = AssignmentStatus.SUBMITTED
        assignment.submitted_at = now
        assignment.listening = {label: submission.listening[label].as_dict() for label, _ in labelled}
        assignment.save(update_fields=["status", "submitted_at", "listening"])
        if assignment.check_item_id is not None:
            check_recorded(assignment, _quality_check_passed(assignment))
    return SubmitResult(assignment, already_submitted=False)


def _quality_submission_problems(
    labelled: list[tuple[str, Clip]], submission: QualitySubmission
) -> list[str]:
    problems = []
    labels = {label for label, _ in labelled}
    unknown = sorted({label for label, _ in submission.scores} - labels)
    if unknown:
        problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
    for label, _clip in labelled:
        for criterion in CRITERIA:
            score = submission.scores.get((label, criterion))
            name = Criterion(criterion).label.lower()
            if score is None:
                problems.append(f"Clip {label}: choose a score for {name}.")
            elif not 1 <= score <= 5:
                problems.append(f"Clip {label}: {name} must be between 1 and 5, not {score}.")
    return problems + listening_problems(labelled, submission.listening)
