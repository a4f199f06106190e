"""Quality control: gold items, check outcomes, exclusion flags, screening, re-opening, slots."""

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from formats import CRITERIA

from .. import selectors
from ..models import (
    Assignment,
    AssignmentStatus,
    CheckItem,
    Clip,
    DiversityAssignment,
    DiversityComparison,
    Prompt,
    QualityAssignment,
    Rater,
    RaterFlag,
    Study,
    TaskKind,
)
from .errors import ServiceError


def _clip_by_key(study: Study, key: str) -> Clip:
    try:
        prompt_id, variant, sample_index = key.rsplit(":", 2)
        return Clip.objects.get(
            prompt__study=study,
            prompt__external_id=prompt_id,
            variant__name=variant,
            sample_index=int(sample_index),
        )
    except (ValueError, Clip.DoesNotExist):
        raise ServiceError(
            f"no clip {key!r} in study {study.slug}; name clips as PROMPT_ID:VARIANT:SAMPLE_INDEX"
        ) from None


def _expected_range(low_high: Iterable[int], scale: range, what: str) -> list[int]:
    low, high = low_high
    if low > high or low not in scale or high not in scale:
        raise ServiceError(
            f"{what}: expected range {low}..{high} must lie within {scale.start}..{scale.stop - 1}"
        )
    return [low, high]


@transaction.atomic
def gold_item_create(
    *,
    study: Study,
    kind: str,
    prompt_id: str,
    expected: Mapping[str, Iterable[int]],
    clips: Iterable[str] = (),
    pair_a: Iterable[str] = (),
    pair_b: Iterable[str] = (),
    note: str = "",
) -> CheckItem:
    """A researcher's item with a known answer. Clips are named PROMPT_ID:VARIANT:SAMPLE_INDEX.

    Quality: the clips, shown with the prompt's text; expected maps criteria to [low, high] for every clip.
    Diversity: two clips per pair; expected is {"choice": [low, high]} within −2..+2.
    """
    prompt = Prompt.objects.filter(study=study, external_id=prompt_id).first()
    if prompt is None:
        raise ServiceError(f"prompt {prompt_id!r} is not in study {study.slug}")
    if kind == TaskKind.QUALITY:
        layout = [_clip_by_key(study, key).pk for key in clips]
        if not layout:
            raise ServiceError("a quality gold item needs at least one clip")
        unknown = sorted(set(expected) - set(CRITERIA))
        if unknown or not expected:
            raise ServiceError(f"expected criteria must be among {', '.join(CRITERIA)}")
        answer = {c: _expected_range(v, range(1, 6), c) for c, v in expected.items()}
    elif kind == TaskKind.DIVERSITY:
        layout = {
            "A": [_clip_by_key(study, k).pk for k in pair_a],
            "B": [_clip_by_key(study, k).pk for k in pair_b],
        }
        if len(layout["A"]) != 2 or len(layout["B"]) != 2:
            raise ServiceError("a diversity gold item needs exactly two clips in each pair")
        if set(expected) != {"choice"}:
            raise ServiceError('a diversity gold item expects {"choice": [low, high]}')
        answer = {"choice": _expected_range(expected["choice"], range(-2, 3), "choice")}
    else:
        raise ServiceError(f"kind must be quality or diversity, not {kind!r}")
    return CheckItem.objects.create(
        study=study,
        kind=kind,
        source=CheckItem.Source.GOLD,
        prompt=prompt,
        clips=layout,
        expected=answer,
        note=note,
    )


def check_recorded(assignment: Assignment, passed: bool) -> None:
    """Keep the check's outcome; a failure past the study's allowance excludes the rater at once."""
    type(assignment).objects.filter(pk=assignment.pk).update(check_passed=passed)
    assignment.check_passed = passed
    if not passed:
        rater = assignment.rater
        for reason, detail in selectors.rater_screening_findings(rater):
            if reason == RaterFlag.Reason.ATTENTION:
                rater_flag(rater=rater, reason=reason, detail=detail)


# --- exclusion flags, screening and re-opening -----------------------------------------------------


_SLOT_COUNTERS = (
    (QualityAssignment, Prompt, "prompt_id", "quality_slots_taken"),
    (DiversityAssignment, DiversityComparison, "comparison_id", "slots_taken"),
)


def release_slot(assignment: Assignment) -> None:
    """Stop counting an assignment toward its prompt's or comparison's N, withdrawing it if open."""
    for model, counter_model, key, counter in _SLOT_COUNTERS:
        if isinstance(assignment, model):
            released = model.objects.filter(pk=assignment.pk, holds_slot=True).update(holds_slot=False)
            model.objects.filter(pk=assignment.pk, status=AssignmentStatus.OPEN).update(
                status=AssignmentStatus.WITHDRAWN
            )
            if released and getattr(assignment, key) is not None:
                counter_model.objects.filter(pk=getattr(assignment, key)).update(**{counter: F(counter) - 1})


def _rater_release(rater: Rater) -> None:
    # Counters in one order (by prompt or comparison id) in every release, so that two raters excluded
    # at once, who met the same prompts in other orders, never wait on each other's counters: a deadlock.
    for model, _, key, _ in _SLOT_COUNTERS:
        assignments = model.objects.filter(rater=rater).exclude(status=AssignmentStatus.WITHDRAWN)
        for assignment in assignments.order_by(key, "pk"):
            if assignment.holds_slot or assignment.status == AssignmentStatus.OPEN:
                release_slot(assignment)


def _rater_restore(rater: Rater) -> None:
    """Count the submitted items of a rater again (the prompts may then pass N: more data, not less)."""
    for model, counter_model, key, counter in _SLOT_COUNTERS:
        for assignment in model.objects.filter(
            rater=rater, status=AssignmentStatus.SUBMITTED, holds_slot=False, check_item__isnull=True
        ).order_by(key, "pk"):  # one order, as in _rater_release
            if model.objects.filter(pk=assignment.pk, holds_slot=False).update(holds_slot=True):
                counter_model.objects.filter(pk=getattr(assignment, key)).update(**{counter: F(counter) + 1})


def lock_rater(rater_id: int) -> Rater:
    """Every write that touches a rater's assignments locks the rater row first, then the assignments,
    then the prompt or comparison counters: one order everywhere, so no two writes deadlock."""
    return Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater_id)


@transaction.atomic
def rater_flag(*, rater: Rater, reason: str, detail: str) -> RaterFlag:
    """Exclude a rater for a reason, once: a flag a researcher lifted stays lifted unless the reason is
    manual. The rater's prompts and comparisons go back into the pool."""
    lock_rater(rater.pk)
    flag, created = RaterFlag.objects.get_or_create(
        rater=rater, reason=reason, defaults={"detail": detail[:300]}
    )
    if not created and reason == RaterFlag.Reason.MANUAL and not flag.active:
        flag.active, flag.detail, flag.lifted_at, flag.lifted_by = True, detail[:300], None, ""
        flag.save(update_fields=["active", "detail", "lifted_at", "lifted_by"])
    if flag.active:
        Rater.objects.filter(pk=rater.pk).update(excluded=True)
        rater.excluded = True
        _rater_release(rater)
    return flag


@transaction.atomic
def rater_flag_lift(*, flag: RaterFlag, by: str = "") -> RaterFlag:
    """Reverse an exclusion; with no other active flag the rater counts again and may continue."""
    lock_rater(flag.rater_id)
    flag = RaterFlag.objects.select_related("rater").get(pk=flag.pk)
    if flag.active:
        flag.active, flag.lifted_at, flag.lifted_by = False, timezone.now(), by[:150]
        flag.save(update_fields=["active", "lifted_at", "lifted_by"])
        if not selectors.rater_is_excluded(flag.rater):
            Rater.objects.filter(pk=flag.rater_id).update(excluded=False)
            _rater_restore(flag.rater)
    return flag


def raters_screen(*, study: Study) -> list[RaterFlag]:
    """Apply every screening rule to every rater of the study; returns the flags that are active now
    and were not before. Nothing is deleted; lifted flags stay lifted."""
    new_flags = []
    for rater in study.raters.select_related("study"):
        for reason, detail in selectors.rater_screening_findings(rater):
            existed = RaterFlag.objects.filter(rater=rater, reason=reason).exists()
            flag = rater_flag(rater=rater, reason=reason, detail=detail)
            if not existed and flag.active:
                new_flags.append(flag)
    return new_flags


@transaction.atomic
def assignment_reopen(*, assignment: Assignment) -> bool:
    """Give an open item back to the pool (a rater left it): withdrawn, its slot free for another rater."""
    lock_rater(assignment.rater_id)
    locked = type(assignment).objects.select_for_update().get(pk=assignment.pk)
    if locked.status != AssignmentStatus.OPEN:
        return False
    release_slot(locked)
    return True
