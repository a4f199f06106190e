"""The REST API against its own OpenAPI schema (/api/schema/), fuzzed by schemathesis: no 500, and
every response (status, content type, body) is one the schema declares."""

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from jobs.models import GenerationJob, JobStatus
from ratings.services import study_get_or_create

PASSWORD = "schema-fuzz-password"


@pytest.fixture
def _keep_the_test_connection():
    """Requests through the real WSGI handler close old database connections when they start and end,
    as in production; Django's test client skips that so the test's transaction survives. So here."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(db, _keep_the_test_connection):
    get_user_model().objects.create_superuser("fuzzer", "fuzzer@example.org", PASSWORD)
    study = study_get_or_create(slug="fuzzed")
    # Jobs whose answers carry the nullable fields: no study, never started, and a failed one to retry.
    GenerationJob.objects.create(kind="pretrain", parameters={"preset": "tiny", "seed": 0})
    GenerationJob.objects.create(
        kind="pregenerate", study=study, variant_name="v", status=JobStatus.FAILED, error="boom"
    )
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    loaded.config.update(basic_auth=("fuzzer", PASSWORD))
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_every_generated_request_as_its_schema_says(case):
    # Schema-valid is not always acceptable: a study slug that names no study, or a variant name the study
    # already has, is a 400 that no schema can foresee; everything else is checked.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


@pytest.mark.parametrize("path", ["/api/studies/" + "0" * 36 + "/", "/api/jobs/0.5/retry/", "/api/nothing/"])
def test_an_api_id_that_names_nothing_is_a_json_404(admin_client, path):
    response = admin_client.post(path) if path.endswith("retry/") else admin_client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."} or "detail" in response.json()
