"""What a rater sees of a task: its clips in order, by position label."""

from ..models import (
    Clip,
    DiversityAssignment,
    QualityAssignment,
    Rater,
)

DIVERSITY_LABELS = ("A1", "A2", "B1", "B2")


# --- what a rater sees ------------------------------------------------------------------------------


def assignment_clips_in_order(assignment: QualityAssignment) -> list[tuple[str, Clip]]:
    """(label, clip) pairs, labelled A, B, C… in the order fixed for this assignment."""
    clips = Clip.objects.in_bulk(assignment.clip_order)
    return [(clip_label(position), clips[clip_id]) for position, clip_id in enumerate(assignment.clip_order)]


def diversity_clips_in_order(assignment: DiversityAssignment) -> list[tuple[str, Clip]]:
    """(label, clip) for A1, A2 (pair A) and B1, B2 (pair B)."""
    ids = [*assignment.clips_a, *assignment.clips_b]
    clips = Clip.objects.in_bulk(ids)
    return [(label, clips[clip_id]) for label, clip_id in zip(DIVERSITY_LABELS, ids, strict=True)]


def clip_label(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def rater_task_clip(rater: Rater, assignment_token: str, label: str) -> Clip | None:
    """The clip heard at one position (A, B… or A1, A2, B1, B2) of one of this rater's items, or None.

    By position, never by clip: a clip met in two items (an attention item reuses another prompt's
    clips, an identical pair plays one clip twice) must not look alike to the rater.
    """
    quality = rater.quality_assignments.filter(token=assignment_token).first()
    if quality is not None:
        return dict(assignment_clips_in_order(quality)).get(label)
    diversity = rater.diversity_assignments.filter(token=assignment_token).first()
    if diversity is not None:
        return dict(diversity_clips_in_order(diversity)).get(label)
    return None
