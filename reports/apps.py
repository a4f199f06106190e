from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """The staff report of a study: the analysis of its ratings, as pages, files and commands."""

    name = "reports"
    verbose_name = "Reports"
