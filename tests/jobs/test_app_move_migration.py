"""Jobs made while the app was generation.web (label generation_web) survive its move to jobs/."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_database_migrated_under_generation_web_keeps_its_jobs_and_takes_the_jobs_migrations():
    executor = MigrationExecutor(connection)
    executor.migrate([("jobs", "0001_initial")])
    # The database as the old app left it: its table, a job in it, and the old app's migration record.
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="jobs").delete()
    recorder.record_applied("generation_web", "0001_initial")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO generation_web_generationjob (id, kind, variant_name, parameters, status, progress, "
            "progress_note, result, error, celery_task_id, attempts, created_at) VALUES "
            "('0a1b2c3d4e5f60718293a4b5c6d7e8f9', 'pretrain', '', '{\"preset\": \"tiny\"}', 'succeeded', 1.0, "
            "'', '{}', '', '', 1, '2026-11-01 12:00:00')"
        )

    executor = MigrationExecutor(connection)
    assert ("jobs", "0001_initial") in executor.loader.applied_migrations
    executor.migrate(executor.loader.graph.leaf_nodes())

    from jobs.models import GenerationJob

    job = GenerationJob.objects.get()
    assert (job.kind, job.status, job.parameters) == ("pretrain", "succeeded", {"preset": "tiny"})
    assert GenerationJob._meta.db_table in connection.introspection.table_names()
    assert "generation_web_generationjob" not in connection.introspection.table_names()
