"""The staff report of a study, computed by a Celery task and kept, with what it was computed from."""

from django.db import models


class StoredReport(models.Model):
    """The last report of a study (with or without the excluded raters' rows), and the fingerprint of
    the ratings, judgements and flags it was computed from (ratings.selectors.study_answers_fingerprint).
    The page shows it and asks for a new one when the fingerprint no longer matches the study's."""

    study = models.ForeignKey("ratings.Study", on_delete=models.CASCADE, related_name="stored_reports")
    include_excluded = models.BooleanField(default=False)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Of the answers the content shows.")
    computed_at = models.DateTimeField(null=True, blank=True)
    content = models.JSONField(default=dict, blank=True, help_text="Summary, tables and PNG plots.")
    # The fingerprint a queued computation was asked for; empty when none is queued.
    pending_fingerprint = models.CharField(max_length=64, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "include_excluded"], name="one_stored_report_per_study_view"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} report ({'all raters' if self.include_excluded else 'excluded left out'})"
