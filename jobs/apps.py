from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Model jobs researchers enqueue (train, pre-generate a variant's clips): their API, pages and admin."""

    name = "jobs"
    verbose_name = "Model jobs"
