"""Quality control: gold items, check outcomes, exclusion flags, screening, re-opening, slots."""

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.utils import timezone

from .. import plain_sql, selectors
from ..errors import ServiceError
from ..kinds import KINDS, kind_of
from ..models import CheckItem, Clip, Prompt, Rater, RaterFlag, Study, Task, TaskStatus


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
    try:
        task_kind = kind_of(kind)
    except ValueError as unknown:
        raise ServiceError(str(unknown)) from None
    named = {"clips": clips, "A": pair_a, "B": pair_b}
    layout, answer = task_kind.gold_item(
        study, expected, {part: [_clip_by_key(study, key).pk for key in keys] for part, keys in named.items()}
    )
    return CheckItem.objects.create(
        study=study,
        kind=kind,
        source=CheckItem.Source.GOLD,
        prompt=prompt,
        clips=layout,
        expected=answer,
        note=note,
    )


def check_recorded(task: Task, passed: bool) -> None:
    """Keep the check's outcome; a failure past the study's allowance excludes the rater at once."""
    Task.objects.filter(pk=task.pk).update(check_passed=passed)
    task.check_passed = passed
    if not passed:
        rater = task.rater
        for reason, detail in selectors.rater_screening_findings(rater):
            if reason == RaterFlag.Reason.ATTENTION:
                rater_flag(rater=rater, reason=reason, detail=detail)


# --- exclusion flags, screening and re-opening -----------------------------------------------------


def release_slot(task: Task) -> None:
    """Stop counting a task toward its prompt's or comparison's N, withdrawing it if open."""
    released = Task.objects.filter(pk=task.pk, holds_slot=True).update(holds_slot=False)
    Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(status=TaskStatus.WITHDRAWN)
    slot = kind_of(task.kind).slot(task)
    if released and slot is not None:
        slot.give_back()


def _in_counter_order(tasks) -> list[Task]:
    """Tasks by kind, then by the item whose counter they hold: one order in every release and restore,
    so that two raters excluded at once, who met the same items in other orders, never wait on each
    other's counters (a deadlock)."""
    order = list(KINDS)
    return sorted(tasks, key=lambda t: (order.index(t.kind), KINDS[t.kind].item_of(t) or 0, t.pk))


def _rater_release(rater: Rater) -> None:
    for task in _in_counter_order(rater.tasks.exclude(status=TaskStatus.WITHDRAWN)):
        if task.holds_slot or task.status == TaskStatus.OPEN:
            release_slot(task)


def _rater_restore(rater: Rater) -> None:
    """Count the submitted items of a rater again (the prompts may then pass N: more data, not less)."""
    held_again = rater.tasks.filter(status=TaskStatus.SUBMITTED, holds_slot=False, check_item__isnull=True)
    for task in _in_counter_order(held_again):
        slot = kind_of(task.kind).slot(task)
        if Task.objects.filter(pk=task.pk, holds_slot=False).update(holds_slot=True) and slot is not None:
            slot.take()


def lock_rater(rater_id: int) -> Rater:
    """Every write that touches a rater's tasks locks the rater row first, then the tasks,
    then the prompt or comparison counters: one order everywhere, so no two writes deadlock."""
    return Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater_id)


def lock_rater_excluded(rater_id: int) -> bool:
    """lock_rater for the claim, which holds the rater and its study already: the same lock, reading back
    only what may have changed since (whether they are excluded).

    One plain statement: the ORM spends more CPU building this query than PostgreSQL answering it
    (benchmarks/request_cpu.py). SQLite has no row locks; its writers are serialised anyway."""
    (excluded,) = plain_sql.locked_fields(Rater, rater_id, ["excluded"])
    return excluded


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
    and were not before. Nothing is deleted; lifted flags stay lifted. The rules are read for the whole
    study at once (a bounded number of queries); only new flags are written."""
    flagged = set(RaterFlag.objects.filter(rater__study=study).values_list("rater_id", "reason"))
    raters = {rater.pk: rater for rater in study.raters.all()}
    new_flags = []
    for rater_id, findings in selectors.study_screening_findings(study).items():
        for reason, detail in findings:
            if (rater_id, reason) not in flagged:
                flag = rater_flag(rater=raters[rater_id], reason=reason, detail=detail)
                if flag.active:
                    new_flags.append(flag)
    return new_flags


@transaction.atomic
def task_reopen(*, task: Task) -> bool:
    """Give an open item back to the pool (a rater left it): withdrawn, its slot free for another rater."""
    lock_rater(task.rater_id)
    locked = Task.objects.select_for_update().get(pk=task.pk)
    if locked.status != TaskStatus.OPEN:
        return False
    release_slot(locked)
    return True
