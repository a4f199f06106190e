from django.core.management.base import CommandError

from ratings.models import Study


def study_or_error(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"no study {slug!r}; create it with import_clips first")
    return study
