from django.apps import AppConfig


class LaunchesConfig(AppConfig):
    """Study recipes launched as Celery workflows: train, merge, pre-generate, measure, open the study."""

    name = "launches"
    verbose_name = "Study launches"
