"""The claim queue: the next task for a rater, an ordinary item or a check, claimed atomically."""

import random

from django.db import IntegrityError, transaction

from .. import selectors
from ..models import (
    Assignment,
    Clip,
    DiversityAssignment,
    QualityAssignment,
    Rater,
    TaskKind,
)
from .diversity import diversity_attention_item, diversity_claim
from .quality import quality_attention_item, quality_claim

# --- handing out work ------------------------------------------------------------------------------


def task_next(*, rater: Rater, kinds: tuple[str, ...] | None = None) -> Assignment | None:
    """The rater's open assignment, or a new one, or None when nothing is left for them.

    A new item is a check (attention or gold item) when one is due at the study's attention rate,
    otherwise a claim on the least-covered prompt (quality) or comparison (diversity) the rater has
    not had, taking first the kind the rater has done less of. Safe under concurrency: slots are
    claimed with a conditional UPDATE, so nothing passes the study's N raters, and partial unique
    indexes keep one open assignment per rater and kind.
    """
    kinds = selectors.study_task_kinds(rater.study) if kinds is None else kinds
    try:
        return _task_claim(rater, kinds)
    except IntegrityError:
        # The same rater asked twice at once and the other request won: return its assignment.
        return selectors.rater_open_assignment(rater, kinds)


def quality_assignment_next(*, rater: Rater) -> QualityAssignment | None:
    return task_next(rater=rater, kinds=(TaskKind.QUALITY,))


def diversity_assignment_next(*, rater: Rater) -> DiversityAssignment | None:
    return task_next(rater=rater, kinds=(TaskKind.DIVERSITY,))


@transaction.atomic
def _task_claim(rater: Rater, kinds: tuple[str, ...]) -> Assignment | None:
    # Lock the rater row alone (of=self): locking the joined study would serialise every rater.
    rater = Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater.pk)
    open_assignment = selectors.rater_open_assignment(rater, kinds)
    if open_assignment is not None:
        return open_assignment
    study = rater.study
    if not study.is_open or rater.excluded or selectors.rater_onboarding_step(rater):
        return None
    # A plain study (one part, no cap, no checks) needs no counts: spare the queries on the busiest path.
    counts = None
    if len(kinds) > 1 or study.max_items_per_rater is not None or study.attention_rate > 0:
        counts = selectors.rater_counts(rater)
    if counts and study.max_items_per_rater is not None and counts.taken >= study.max_items_per_rater:
        return None
    check_due = counts is not None and selectors.attention_check_due(rater, counts)
    regular = counts.regular if counts else {}
    for kind in sorted(kinds, key=lambda k: (regular.get(k, 0), k != TaskKind.QUALITY)):
        if check_due and selectors.claimable_by(rater, kind).exists():
            check = _check_assignment_create(rater, kind)
            if check is not None:
                return check
        claimed = quality_claim(rater) if kind == TaskKind.QUALITY else diversity_claim(rater)
        if claimed is not None:
            return claimed
    return None


def _check_assignment_create(rater: Rater, kind: str) -> Assignment | None:
    """Serve the rater a gold item they have not met, else a fresh attention item; None if neither fits."""
    rng = random.SystemRandom()
    gold = list(selectors.check_items_unseen_by(rater, kind))
    item = rng.choice(gold) if gold else None
    if item is None:
        item = (
            quality_attention_item(rater, rng)
            if kind == TaskKind.QUALITY
            else diversity_attention_item(rater, rng)
        )
    if item is None:
        return None
    if kind == TaskKind.QUALITY:
        clip_order = list(item.clips)
        rng.shuffle(clip_order)
        return QualityAssignment.objects.create(
            rater=rater, prompt=item.prompt, clip_order=clip_order, check_item=item, holds_slot=False
        )
    clips = Clip.objects.in_bulk([*item.clips["A"], *item.clips["B"]])
    return DiversityAssignment.objects.create(
        rater=rater,
        prompt=item.prompt,
        variant_a_id=clips[item.clips["A"][0]].variant_id,
        variant_b_id=clips[item.clips["B"][0]].variant_id,
        clips_a=item.clips["A"],
        clips_b=item.clips["B"],
        check_item=item,
        holds_slot=False,
    )
