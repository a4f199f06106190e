"""Repeated audio requests recorded before they were coalesced migrate to one row each, the served
ranges, and so the server's listening evidence, unchanged."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ratings.models import AudioRequest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("ratings", "0011_integrity_evidence_expiry")]


def test_migration_keeps_the_first_of_each_repeated_audio_request():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    get = executor.loader.project_state(BEFORE).apps.get_model
    study = get("ratings", "Study").objects.create(slug="old", title="Old study")
    rater = get("ratings", "Rater").objects.create(study=study, external_id="r1", token="rater-token")
    prompt = get("ratings", "Prompt").objects.create(study=study, external_id="p1", text="a prompt")
    task = get("ratings", "Task").objects.create(
        rater=rater, kind="quality", prompt=prompt, token="task-token", clips=[1, 2]
    )
    now = timezone.now()
    asked = [
        ("A", "bytes=0-", 0, 99),
        ("A", "bytes=0-", 0, 99),
        ("A", "bytes=0-9", 0, 9),
        ("B", "bytes=0-", 0, 99),
    ]
    asked += [("A", "bytes=0-", 0, 99)]
    for label, range_header, start, end in asked:
        get("ratings", "AudioRequest").objects.create(
            task=task,
            label=label,
            method="GET",
            range_header=range_header,
            size=100,
            served_start=start,
            served_end=end,
            at=now,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    kept = AudioRequest.objects.filter(task_id=task.pk).order_by("id")
    assert [(r.label, r.range_header) for r in kept] == [
        ("A", "bytes=0-"),
        ("A", "bytes=0-9"),
        ("B", "bytes=0-"),
    ]
