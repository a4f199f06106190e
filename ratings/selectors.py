"""Every read of the ratings app that is more than a one-line query."""

from dataclasses import dataclass

from django.db.models import Count, Min, Q, QuerySet

from .models import AssignmentStatus, Clip, Prompt, QualityAssignment, QualityRating, Rater, Study


def prompt_quality_clips(prompt: Prompt) -> list[Clip]:
    """The clips a quality assignment shows: one per variant, its lowest sample index."""
    first_samples = (
        Clip.objects.filter(prompt=prompt).values("variant_id").annotate(first=Min("sample_index"))
    )
    wanted = Q(pk__in=[])
    for row in first_samples:
        wanted |= Q(variant_id=row["variant_id"], sample_index=row["first"])
    return list(Clip.objects.filter(prompt=prompt).filter(wanted).select_related("variant"))


def quality_prompts_claimable_by(rater: Rater) -> QuerySet[Prompt]:
    """Prompts of the rater's study with a free rater slot that the rater has not had, least covered first."""
    return (
        Prompt.objects.filter(study_id=rater.study_id, quality_slots_taken__lt=rater.study.raters_per_prompt)
        .filter(clips__isnull=False)
        .exclude(quality_assignments__rater=rater)
        .distinct()
        .order_by("quality_slots_taken", "id")
    )


def rater_open_quality_assignment(rater: Rater) -> QualityAssignment | None:
    return rater.quality_assignments.filter(status=AssignmentStatus.OPEN).first()


@dataclass(frozen=True)
class RaterProgress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def rater_progress(rater: Rater) -> RaterProgress:
    """Items submitted, and the most this rater can do: submitted + open + still claimable."""
    counts = rater.quality_assignments.aggregate(
        done=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED)),
        open=Count("id", filter=Q(status=AssignmentStatus.OPEN)),
    )
    claimable = quality_prompts_claimable_by(rater).count()
    return RaterProgress(done=counts["done"], total=counts["done"] + counts["open"] + claimable)


def assignment_clips_in_order(assignment: QualityAssignment) -> list[tuple[str, Clip]]:
    """(label, clip) pairs, labelled A, B, C… in the order fixed for this assignment."""
    clips = Clip.objects.in_bulk(assignment.clip_order)
    return [(clip_label(position), clips[clip_id]) for position, clip_id in enumerate(assignment.clip_order)]


def clip_label(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def rater_clip_by_token(rater: Rater, clip_token: str) -> Clip | None:
    """A clip this rater was assigned, or None: raters reach no other audio."""
    clip = Clip.objects.filter(token=clip_token, prompt__study_id=rater.study_id).first()
    if clip is None:
        return None
    for clip_order in rater.quality_assignments.values_list("clip_order", flat=True):
        if clip.pk in clip_order:
            return clip
    return None


def study_quality_rows(study: Study) -> list[dict]:
    """Every quality rating of the study in the long format of ratings.csv (MISSION.md §5)."""
    ratings = (
        QualityRating.objects.filter(assignment__prompt__study=study)
        .select_related("assignment__rater", "assignment__prompt", "clip__variant")
        .order_by(
            "assignment__rater__external_id",
            "assignment__prompt__external_id",
            "clip__variant__name",
            "criterion",
        )
    )
    return [
        {
            "rater_id": rating.assignment.rater.external_id,
            "prompt_id": rating.assignment.prompt.external_id,
            "variant": rating.clip.variant.name,
            "criterion": rating.criterion,
            "score": rating.score,
            "created_at": rating.created_at.isoformat(),
        }
        for rating in ratings
    ]


def study_coverage(study: Study) -> dict[str, int]:
    """Prompt external id → raters who submitted it."""
    rows = study.prompts.annotate(
        submitted=Count(
            "quality_assignments", filter=Q(quality_assignments__status=AssignmentStatus.SUBMITTED)
        )
    ).values_list("external_id", "submitted")
    return dict(rows)
