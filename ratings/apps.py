from django.apps import AppConfig


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = "Listening studies"

    def ready(self) -> None:
        from . import clip_rows  # noqa: F401 - connects its receivers: a saved or deleted clip is forgotten
