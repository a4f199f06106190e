"""Integers a job carries are bounded when it is enqueued, not when a worker trips on them."""

import pytest
from django.contrib.auth import get_user_model

from generation.jobs import SEED_MAX, JobParametersError, parse_parameters
from ratings.services import study_get_or_create


@pytest.mark.parametrize("kind", ["pregenerate", "pretrain"])
@pytest.mark.parametrize("seed", [10**26, -1, SEED_MAX + 1])
def test_a_seed_beyond_what_the_generators_take_is_refused(kind, seed):
    with pytest.raises(JobParametersError, match=f"seed must be between 0 and {SEED_MAX}, not {seed}"):
        parse_parameters(kind, {"seed": seed})


def test_the_largest_seed_is_accepted():
    assert parse_parameters("pretrain", {"seed": SEED_MAX})["seed"] == SEED_MAX


@pytest.mark.django_db
def test_the_api_refuses_a_huge_seed_with_a_reason_and_stores_nothing(client):
    client.force_login(get_user_model().objects.create_superuser("staff", "s@example.org", "pw-123456"))
    study_get_or_create(slug="jobs")
    body = '{"kind": "pregenerate", "study": "jobs", "variant_name": "v", "parameters": {"seed": 1%s}}' % (
        "0" * 26
    )
    refused = client.post("/api/jobs/", body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["detail"] == f"seed must be between 0 and {SEED_MAX}, not {10**26}"
    assert client.get("/api/jobs/").json() == []


@pytest.mark.django_db
def test_the_staff_page_refuses_a_huge_seed(client):
    client.force_login(get_user_model().objects.create_superuser("staff", "s@example.org", "pw-123456"))
    study_get_or_create(slug="jobs")
    form = {"study": "jobs", "variant_name": "v", "checkpoint": "demo.pt", "gamma": "1"}
    form |= {"temperature": "1", "prompts": "2", "samples": "2", "seed": str(10**26)}
    response = client.post("/staff/jobs/", form)
    assert response.status_code in (200, 400)
    assert f"less than or equal to {SEED_MAX}" in response.content.decode()
    assert client.get("/api/jobs/").json() == []


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("name", "reason"),
    [("v\x00", "variant name contains the control character NUL"), ("v" * 101, "101 characters long")],
)
def test_a_variant_name_postgresql_cannot_store_is_refused_at_enqueue(name, reason):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=reason):
        call_command("enqueue_job", "pregenerate", "--study", "jobs", "--variant", name)
