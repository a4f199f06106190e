"""/healthz answers 200 when the database and the broker answer, and 503 naming the one that does not.

Each case runs the site in a fresh interpreter against a real database file and a real Redis, or
against ones that are really not there."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jobs.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[1]
CLIENT = (
    "import django, json; django.setup()\n"
    "from django.test import Client\n"
    "response = Client(HTTP_HOST='127.0.0.1').get('/healthz')\n"
    "print(json.dumps({'code': response.status_code, **response.json()}))\n"
)


def healthz(tmp_path: Path, database_url: str, broker_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "COUNTERPOINT_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
    }
    result = subprocess.run(
        [sys.executable, "-c", CLIENT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def redis_up():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not running at {REDIS_URL}")


def test_healthz_is_200_when_the_database_and_the_broker_answer(tmp_path, redis_up):
    answer = healthz(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL)
    assert answer == {"code": 200, "status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_database_is_down(tmp_path, redis_up):
    answer = healthz(tmp_path, "sqlite:////nonexistent-folder/db.sqlite3", REDIS_URL)
    assert answer["code"] == 503 and answer["broker"] == "ok"
    assert answer["database"].startswith("OperationalError: unable to open database file")


def test_healthz_is_503_when_the_broker_is_down(tmp_path):
    answer = healthz(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", "redis://127.0.0.1:1/0")
    assert answer["code"] == 503 and answer["database"] == "ok"
    assert answer["broker"].startswith("OperationalError")


def test_healthz_is_503_with_a_one_line_reason_when_postgresql_does_not_answer(tmp_path, redis_up):
    closed = f"postgres://postgres@127.0.0.1:{_closed_port()}/counterpoint"
    answer = healthz(tmp_path, closed, REDIS_URL)
    assert answer["code"] == 503 and answer["status"] == "unhealthy" and answer["broker"] == "ok"
    assert answer["database"].startswith("OperationalError") and "\n" not in answer["database"]


def test_healthz_is_503_with_a_one_line_reason_when_neither_answers(tmp_path):
    port = _closed_port()
    answer = healthz(tmp_path, f"postgres://postgres@127.0.0.1:{port}/x", f"redis://127.0.0.1:{port}/0")
    assert answer["code"] == 503 and answer["status"] == "unhealthy"
    assert all(
        answer[part].startswith("OperationalError") and "\n" not in answer[part]
        for part in ("database", "broker")
    )


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_kept_database_connections_are_checked_before_a_request_uses_them(settings):
    # gunicorn keeps connections for 60 s (evalsite/gunicorn_conf.py): a restarted database must not fail
    # the next request on a dead connection
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
