"""/healthz answers 200 when the database and the broker answer, and 503 naming the one that does not.

Each case runs the site in a fresh interpreter against a real database file and a real Redis, or
against ones that are really not there."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

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


# Requests through Django's own WSGI handler, as gunicorn sends them (the test Client skips the
# request_started signal that marks kept connections for a check).
RESTART = (
    "import django, json, os, psycopg; django.setup()\n"
    "from django.core.handlers.wsgi import WSGIHandler\n"
    "from django.db import connection\n"
    "from django.test import RequestFactory\n"
    "if os.environ['HEALTH_CHECKS'] == 'off':  # the control case; else the settings' own\n"
    "    connection.settings_dict['CONN_HEALTH_CHECKS'] = False\n"
    "handler = WSGIHandler()\n"
    "def get(path):\n"
    "    status = []\n"
    "    body = b''.join(handler(RequestFactory(HTTP_HOST='127.0.0.1').get(path).environ, lambda s, h: status.append(s)))\n"
    "    return int(status[0].split()[0]), json.loads(body)\n"
    "first, _ = get('/healthz')\n"
    "backend = connection.connection.info.backend_pid  # kept after the request (CONN_MAX_AGE)\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as other:\n"
    "    other.execute('SELECT pg_terminate_backend(%s, 5000)', [backend])  # returns once it is gone\n"
    "second, answer = get('/healthz')\n"
    "print(json.dumps([first, second, answer['database']]))\n"
)


def _on_postgresql(tmp_path: Path, script: str, **environment: str) -> list:
    """Run `script` in a fresh interpreter on the test run's PostgreSQL server (its ``postgres``
    database, which exists: the tests' own is test_…), connections kept as gunicorn keeps them; the
    JSON list it prints last."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        pytest.skip("needs DATABASE_URL=postgres://… (make test sets it)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "COUNTERPOINT_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": urlsplit(database_url)._replace(path="/postgres").geturl(),
        "DATABASE_CONN_MAX_AGE": "60",
        **environment,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.postgres
@pytest.mark.parametrize("health_checks", [True, False], ids=["as-set", "control-without"])
def test_a_request_after_the_database_dropped_a_kept_connection_reconnects(tmp_path, redis_up, health_checks):
    """gunicorn keeps connections 60 s (evalsite/gunicorn_conf.py): the settings check a kept connection
    before a request uses it, so a database restart does not fail the next request on a dead one
    (without the check, as the control case shows, it does)."""
    first, second, database = _on_postgresql(
        tmp_path, RESTART, CELERY_BROKER_URL=REDIS_URL, HEALTH_CHECKS="settings" if health_checks else "off"
    )
    assert first == 200
    if health_checks:
        assert (second, database) == (200, "ok")
    else:
        assert second == 503 and database.startswith(("OperationalError", "InterfaceError")), database


KEPT = (
    "import django, json, os, psycopg; django.setup()\n"
    "from django.db import close_old_connections, connection, connections\n"
    "from django.db.backends.postgresql import base\n"
    "connection.ensure_connection()\n"
    "backend = connection.connection.info.backend_pid\n"
    "connection.connection.execute(\"SELECT 'the last statement'\")\n"
    "close_old_connections()  # as request_started does: the next use is checked\n"
    "if os.environ['CHECK'] == 'django':  # the control case: Django's own check\n"
    "    base.DatabaseWrapper.close_if_health_check_failed(connections['default'])\n"
    "connection.cursor().close()  # a request's first statement: the check runs here\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as other:\n"
    "    (last,) = other.execute('SELECT query FROM pg_stat_activity WHERE pid = %s', [backend]).fetchone()\n"
    "print(json.dumps([connection.connection.info.backend_pid == backend, last]))\n"
)


@pytest.mark.postgres
@pytest.mark.parametrize("check", ["ours", "django"], ids=["as-set", "control-django"])
def test_the_check_of_a_kept_connection_sends_postgresql_nothing(tmp_path, check):
    """The check before a request looks at the kept connection's socket (evalsite/postgresql/base.py):
    the connection is kept, and the last statement PostgreSQL saw from it is still the request's own,
    where Django's check would have sent a SELECT 1 (the control case)."""
    kept, last = _on_postgresql(tmp_path, KEPT, CHECK=check)
    assert kept
    assert last == ("SELECT 'the last statement'" if check == "ours" else "SELECT 1")
