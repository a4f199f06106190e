"""Celery tasks of the ratings app: thin wrappers around its services."""

from celery import shared_task

from ratings import services


@shared_task(name="ratings.expire_claims")
def expire_claims() -> str:
    """Give back the slots of claims left unanswered past their study's timeout (celery beat, every minute)."""
    return f"{services.tasks_expire()} claim(s) expired"
