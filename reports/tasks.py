"""The Celery task of the reports app: thin, on the default queue (never behind training on gpu)."""

from celery import shared_task

from . import services


@shared_task(name="reports.compute_report", acks_late=True)
def compute_report(report_id: int, requested: str = "") -> str:
    report = services.stored_report_compute(report_id=report_id, requested=requested)
    return report.fingerprint
