"""The claim queue: the next task for a rater, an ordinary item or a check, claimed atomically."""

import random

from django.db import IntegrityError, transaction

from .. import selectors
from ..kinds import KINDS, TaskKind
from ..models import Rater, Task


def task_next(*, rater: Rater, kinds: tuple[str, ...] | None = None) -> Task | None:
    """The rater's open task, or a new one, or None when nothing is left for them.

    A new item is a check (attention or gold item) when one is due at the study's attention rate,
    otherwise a claim on the least-covered item (a prompt, a comparison) of a kind the rater has not
    had, taking first the kind the rater has done less of. Safe under concurrency: slots are claimed
    with a conditional UPDATE, so nothing passes the study's N raters, and a partial unique index keeps
    one open task per rater, whatever its kind.
    """
    kinds = selectors.study_task_kinds(rater.study) if kinds is None else kinds
    try:
        return _task_claim(rater, kinds)
    except IntegrityError:
        # The same rater asked twice at once and the other request won: return its task.
        return selectors.rater_open_task(rater)


def quality_assignment_next(*, rater: Rater) -> Task | None:
    return task_next(rater=rater, kinds=("quality",))


def diversity_assignment_next(*, rater: Rater) -> Task | None:
    return task_next(rater=rater, kinds=("diversity",))


@transaction.atomic
def _task_claim(rater: Rater, kinds: tuple[str, ...]) -> Task | None:
    # Lock the rater row alone (of=self): locking the joined study would serialise every rater.
    rater = Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater.pk)
    open_task = selectors.rater_open_task(rater)
    if open_task is not None:
        return open_task
    study = rater.study
    if not study.is_open or rater.excluded or selectors.rater_onboarding_step(rater):
        return None
    # A plain study (one part, no session limit, no checks) needs no counts: spare the queries then.
    session_items = selectors.study_session(study).items
    counts = None
    if len(kinds) > 1 or session_items is not None or study.attention_rate > 0:
        counts = selectors.rater_counts(rater)
    if counts and session_items is not None and counts.taken >= session_items:
        # This rater's session is done; the items left go to other raters.
        return None
    check_due = counts is not None and selectors.attention_check_due(rater, counts)
    regular = counts.regular if counts else {}
    order = list(KINDS)
    for name in sorted(kinds, key=lambda k: (regular.get(k, 0), order.index(k))):
        kind = KINDS[name]
        if check_due and kind.claimable(rater).exists():
            check = _check_task_create(rater, kind)
            if check is not None:
                return check
        claimed = kind.claim(rater)
        if claimed is not None:
            return claimed
    return None


def _check_task_create(rater: Rater, kind: TaskKind) -> Task | None:
    """Serve the rater a gold item they have not met, else a fresh attention item; None if neither fits."""
    rng = random.SystemRandom()
    gold = list(selectors.check_items_unseen_by(rater, kind.name))
    item = rng.choice(gold) if gold else kind.attention_item(rater, rng)
    return None if item is None else kind.check_task(rater, item, rng)
