"""What a study's answers are now, in one string: a report computed from them is up to date while it matches."""

import hashlib

from django.db.models import Count, Max, Q

from ..models import QualityRating, RaterFlag, Study, Task, TaskStatus


def study_answers_fingerprint(study: Study) -> str:
    """A digest of the study's submitted tasks, their answers and its raters' flags (lifted or not):
    any rating, judgement, import, exclusion or lift changes it. Three aggregate queries."""
    tasks = Task.objects.filter(rater__study=study, status=TaskStatus.SUBMITTED).aggregate(
        n=Count("id"), last=Max("id"), held=Count("id", filter=Q(holds_slot=True)), at=Max("submitted_at")
    )
    ratings = QualityRating.objects.filter(task__rater__study=study).aggregate(n=Count("id"), last=Max("id"))
    flags = RaterFlag.objects.filter(rater__study=study).aggregate(
        n=Count("id"),
        active=Count("id", filter=Q(active=True)),
        created=Max("created_at"),
        lifted=Max("lifted_at"),
    )
    parts = [tasks, ratings, flags, {"variants": study.variants.count()}]
    return hashlib.sha256(repr(parts).encode()).hexdigest()
