"""The launch API: staff only, every bad recipe a 400 naming the key, and a launch's life through it."""

from pathlib import Path

import pytest
import redis
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from launches.models import LaunchStatus, LaunchStep, StepStatus, StudyLaunch
from ratings.models import Study
from tests.jobs.conftest import REDIS_URL

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINY = (RECIPES / "tiny.yaml").read_text()

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    user = get_user_model().objects.create_user("researcher", password="pw", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def create(client, text=TINY, **extra):
    return client.post("/api/studies/", {"recipe": text, **extra}, format="json")


def test_unauthenticated_and_non_staff_requests_are_refused():
    assert APIClient().post("/api/studies/", {"recipe": TINY}, format="json").status_code in (401, 403)
    rater = get_user_model().objects.create_user("rater", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=rater).key}")
    assert client.get("/api/studies/").status_code == 403
    assert client.post("/api/studies/", {"recipe": TINY}, format="json").status_code == 403
    assert StudyLaunch.objects.count() == 0


BAD = [
    ("variants:\n  - {name: x, recipe: ppo}", "variants[0] (x).recipe: must be one of base, distill"),
    (
        "variants:\n  - {name: d, recipe: distill}\n  - {name: m, recipe: merge, of: [d, ghost]}",
        "variants[1] (m).of: 'ghost' is not a variant listed before this one",
    ),
    (
        "variants:\n  - {name: d, recipe: distill}\n  - {name: e, recipe: diversity, model: demo.pt}\n"
        "  - {name: m, recipe: merge, of: [d, e]}",
        "variants[2] (m).of: 'd' and 'e' are finetunes of different models",
    ),
    (
        "variants:\n  - {name: d, recipe: distill}\n  - {name: e, recipe: diversity}\n"
        "  - {name: m, recipe: merge, of: [d, e], lam: -0.1}",
        "variants[2] (m).lam: must be a number in [0, 1], not -0.1",
    ),
    (
        "variants:\n  - {name: a, recipe: base}\n  - {name: a, recipe: base}",
        "variants[1] (a).name: is used by another",
    ),
    ("colour: blue\nvariants:\n  - {name: a, recipe: base}", "colour: unknown key"),
]


@pytest.mark.parametrize(("variants", "expected"), BAD)
def test_every_bad_recipe_is_a_400_naming_the_key_and_creates_nothing(staff_client, variants, expected):
    head = "study: bad\nmodel: tiny\nprompts: {quality: {set: heldout, count: 2}}\n"
    response = create(staff_client, head + variants)
    assert response.status_code == 400
    assert any(fault.startswith(expected) for fault in response.json()["faults"]), response.json()
    assert StudyLaunch.objects.count() == 0 and Study.objects.count() == 0


def test_a_missing_prompts_file_is_a_400(staff_client):
    text = TINY.replace("quality: {set: test, count: 4}", "quality: {file: nowhere/prompts.csv}")
    response = create(staff_client, text)
    assert response.status_code == 400
    assert response.json()["faults"][0].startswith(
        "prompts.quality.file: no prompts file nowhere/prompts.csv"
    )


def test_a_request_without_a_recipe_is_a_400(staff_client):
    response = staff_client.post("/api/studies/", {}, format="json")
    assert response.status_code == 400 and "give the recipe" in response.json()["detail"]


def test_a_recipe_file_can_be_uploaded(staff_client, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    with path.open("rb") as handle:
        response = staff_client.post("/api/studies/", {"recipe_file": handle}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["study"] == "tiny"


def test_a_planned_launch_shows_its_steps_and_cost_and_starts_nothing(staff_client):
    response = create(staff_client)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "planned" and body["steps_done"] == 0
    assert [s["kind"] for s in body["steps"]][:2] == ["pretrain", "finetune"]
    assert body["cost"]["clips"] == 40 and body["steps"][-1]["name"] == "open the study"
    assert staff_client.get(f"/api/studies/{body['id']}/").json()["steps_total"] == body["steps_total"]
    assert not Study.objects.filter(slug="tiny").exists()


def test_a_second_live_launch_of_one_study_is_refused(staff_client):
    assert create(staff_client).status_code == 201
    response = create(staff_client)
    assert response.status_code == 400 and "has a launch planned or running" in response.json()["detail"]


def queued_messages(queue: str) -> int:
    return redis.Redis.from_url(REDIS_URL).llen(queue)


@pytest.mark.django_db(transaction=True)
def test_launch_sends_the_workflow_cancel_stops_it_and_retry_sends_it_again(staff_client, redis_broker):
    launch_id = create(staff_client).json()["id"]
    started = staff_client.post(f"/api/studies/{launch_id}/launch/")
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert queued_messages("gpu") == 1  # the canvas' first step, on the gpu queue
    study = Study.objects.get(slug="tiny")
    assert not study.is_open and study.raters_per_prompt == 2

    assert staff_client.post(f"/api/studies/{launch_id}/launch/").status_code == 400
    cancelled = staff_client.post(f"/api/studies/{launch_id}/cancel/").json()
    assert cancelled["status"] == "cancelled"
    assert {s["status"] for s in cancelled["steps"]} == {"cancelled"}
    assert staff_client.post(f"/api/studies/{launch_id}/cancel/").status_code == 400

    retried = staff_client.post(f"/api/studies/{launch_id}/retry/").json()
    assert retried["status"] == "running" and {s["status"] for s in retried["steps"]} == {"pending"}
    assert queued_messages("gpu") == 2
    assert staff_client.post(f"/api/studies/{launch_id}/retry/").status_code == 400


def test_an_unknown_launch_is_a_404(staff_client):
    assert staff_client.get("/api/studies/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert staff_client.post("/api/studies/00000000-0000-0000-0000-000000000000/cancel/").status_code == 404


def test_a_step_whose_inputs_are_not_done_is_not_claimed(staff_client):
    from launches import services

    launch = StudyLaunch.objects.get(pk=create(staff_client).json()["id"])
    StudyLaunch.objects.filter(pk=launch.pk).update(status=LaunchStatus.RUNNING)
    finetune = launch.steps.get(kind="finetune", name__contains="distilled")
    assert services.step_claim(step_id=finetune.pk, task_id="t1") is None  # its pretrain is pending
    launch.steps.filter(kind="pretrain").update(status=StepStatus.SUCCEEDED)
    assert services.step_claim(step_id=finetune.pk, task_id="t1") is not None
    assert services.step_claim(step_id=finetune.pk, task_id="t2") is None  # held by t1
    assert services.step_claim(step_id=finetune.pk, task_id="t1") is not None  # t1 redelivered
    assert LaunchStep.objects.get(pk=finetune.pk).attempts == 2
