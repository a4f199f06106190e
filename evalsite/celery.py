"""The Celery app. Workers: ``celery -A evalsite worker -Q gpu`` for training and generation,
``celery -A evalsite worker -Q default`` for the rest."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")

app = Celery("evalsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
