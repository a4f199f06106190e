from django.apps import AppConfig


class GenerationWebConfig(AppConfig):
    """The Django side of generation: jobs researchers enqueue, their API, pages and admin."""

    name = "generation.web"
    label = "generation_web"
    verbose_name = "Model jobs"
