"""The tiny recipe through the API, the real Redis and a real worker process killed half-way.

PostgreSQL only: the worker is another process and must see the test database."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from launches import services
from launches.models import LaunchStatus, LaunchStep, StepStatus, StudyLaunch
from ratings.models import Clip, Rater, Study, Variant
from ratings.services import raters_invite, task_next
from tests.jobs.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (make test sets it)"
    ),
]


def start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "COUNTERPOINT_RUNS_DIR": str(tmp_path / "runs"),
        "COUNTERPOINT_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    # The solo pool runs tasks in the worker process itself, so SIGKILL takes the work down with it.
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "evalsite",
        "worker",
        "-Q",
        "gpu,default",
        "--pool",
        "solo",
    ]
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [*command, "-n", f"{name}@%h", "--loglevel", "WARNING"], cwd=ROOT, env=env, stdout=log, stderr=log
    )


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"gave up after {seconds} s waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_the_tiny_recipe_survives_a_killed_worker_and_opens_the_study_with_nothing_twice(
    redis_broker, settings, tmp_path
):
    settings.COUNTERPOINT = {**settings.COUNTERPOINT, "RUNS_DIR": tmp_path / "runs"}
    settings.MEDIA_ROOT = tmp_path / "media"
    user = get_user_model().objects.create_user("researcher", password="pw", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    first = start_worker(tmp_path, "first")
    second = None
    try:
        wait_for(lambda: redis_broker.control.ping(timeout=0.5), 60, "the first worker")
        body = client.post(
            "/api/studies/",
            {"recipe": (ROOT / "recipes/tiny.yaml").read_text(), "start": True},
            format="json",
        ).json()
        launch = StudyLaunch.objects.get(pk=body["id"])
        killed = wait_for(
            lambda: launch.steps.filter(kind="finetune", status=StepStatus.RUNNING).first(),
            240,
            "a finetune to start",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(tmp_path, "second")
        wait_for(lambda: redis_broker.control.ping(timeout=0.5), 60, "the second worker")
        # What celery beat does every minute, at a time when the killed step's heartbeat is stale.
        assert services.launch_sweep(now=timezone.now() + services.STALE_AFTER + timedelta(seconds=1)) == [
            str(launch.pk)
        ]

        def finished():
            launch.refresh_from_db()
            return launch.status in (LaunchStatus.OPEN, LaunchStatus.FAILED)

        wait_for(finished, 300, "the launch to finish")
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(30)
    assert launch.status == LaunchStatus.OPEN, launch.error
    assert LaunchStep.objects.get(pk=killed.pk).attempts >= 2
    assert set(launch.steps.values_list("status", flat=True)) == {StepStatus.SUCCEEDED}
    assert LaunchStep.objects.count() == body["steps_total"]  # no step row twice
    assert Variant.objects.filter(study__slug="tiny").count() == 5
    clips = Clip.objects.filter(prompt__study__slug="tiny")
    assert clips.count() == 5 * 4 * 2  # 5 variants × 4 prompts × 2 samples: none filed twice
    assert all(Path(clip.audio.path).is_file() for clip in clips)
    assert all("metrics" in v.provenance for v in Variant.objects.filter(study__slug="tiny"))
    rater = raters_invite(study=Study.objects.get(slug="tiny"), count=1)[0]
    assert task_next(rater=Rater.objects.get(pk=rater.pk)) is not None  # the study is open to raters
