"""Production settings, login throttling and rater secrets kept out of logs."""

import base64
import gc
import io
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.http import HttpResponse
from django.urls import path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "Zq3x_k9-AbCdEfGhIjKlMnOpQrStUvWx"  # the shape of secrets.token_urlsafe(24)
ITEM = "ItEm_tOkEn-0123456789abcdefghijk"
# The production environment README.md documents (the key is any long random string).
PRODUCTION = {
    "DJANGO_SECRET_KEY": "k" * 10 + "Vq8#pL2@xN5!mR7$wT1%zY4^bC6&dF9*hJ3(sG0)eA",
    "DJANGO_ALLOWED_HOSTS": "rate.example.org,127.0.0.1",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://rate.example.org",
    "DJANGO_HTTPS": "1",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_TRUSTED_PROXIES": "1",
}


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "evalsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(*names: str, **env: str) -> list[str]:
    result = _python(
        f"from django.conf import settings\nfor n in {names!r}: print(getattr(settings, n))", **env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")[: len(names)]


# --- production settings -------------------------------------------------------------------------


def test_a_server_reachable_beyond_loopback_refuses_to_start_without_a_secret_key():
    result = _python("import django; django.setup()", DJANGO_ALLOWED_HOSTS="rate.example.org")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in last_line


def test_the_laptop_defaults_and_debug_still_start_without_a_secret_key():
    assert _settings("DEBUG", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS") == ["False", "False", "0"]
    assert _settings("DEBUG", DJANGO_DEBUG="1", DJANGO_ALLOWED_HOSTS="*") == ["True"]


def test_https_turns_on_secure_cookies_the_ssl_redirect_and_hsts():
    values = _settings(
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        **PRODUCTION,
    )
    assert values == ["True", "True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO', 'https')"]
    # Each still follows its own variable.
    assert _settings("SECURE_SSL_REDIRECT", **PRODUCTION, DJANGO_SECURE_SSL_REDIRECT="0") == ["False"]


def test_check_deploy_is_clean_under_the_documented_production_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}, **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
def test_behind_https_pages_redirect_to_https_but_the_health_check_does_not(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/admin/login/").status_code == 301
    assert client.get("/healthz").status_code != 301


# --- login throttling ----------------------------------------------------------------------------


@pytest.fixture
def staff_user(db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    return get_user_model().objects.create_superuser("staff", "staff@example.org", "right-password")


def test_admin_logins_are_refused_after_repeated_failures_even_with_the_right_password(client, staff_user):
    for _ in range(3):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "staff", "password": "right-password"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_good_admin_login_before_the_limit_is_accepted(client, staff_user):
    client.post("/admin/login/", {"username": "staff", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "staff", "password": "right-password"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def _basic(password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"staff:{password}".encode()).decode()}


def test_api_basic_auth_is_refused_after_repeated_failures_even_with_the_right_password(client, staff_user):
    assert client.get("/api/jobs/", **_basic("right-password")).status_code == 200
    for _ in range(3):
        assert client.get("/api/jobs/", **_basic("wrong")).status_code in (401, 403)
    assert client.get("/api/jobs/", **_basic("right-password")).status_code in (401, 403, 429)


def test_failures_from_another_client_address_do_not_lock_this_one_out(client, staff_user):
    for _ in range(3):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    response = client.post("/admin/login/", {"username": "staff", "password": "right-password"})
    assert response.status_code == 302


# --- the client's address ------------------------------------------------------------------------


def test_x_forwarded_for_is_believed_only_behind_a_trusted_proxy(rf, settings):
    from ratings.http import client_address

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    settings.TRUSTED_PROXIES = 0
    assert client_address(request) == "10.0.0.2"
    settings.TRUSTED_PROXIES = 1  # the proxy appended the address it saw; the left part is the client's
    assert client_address(request) == "198.51.100.7"
    settings.TRUSTED_PROXIES = 2
    assert client_address(request) == "6.6.6.6"


# --- rater secrets out of logs -------------------------------------------------------------------


def _boom(request, rater_token: str, item_token: str):
    raise RuntimeError("something broke while serving the rater")


def _ok(request, rater_token: str):
    return HttpResponse("ok")


urlpatterns = [
    path("r/<str:rater_token>/task/<str:item_token>/", _boom),
    path("r/<str:rater_token>/", _ok),
]


@pytest.fixture
def log_output():
    """What the configured log handlers (with their filters) write, read from a buffer."""
    buffer = io.StringIO()
    handlers = {
        handler
        for name in ("", "django", "django.server")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
    }
    # Not setStream: it flushes the old stream, which an earlier test's capture may have closed.
    saved = {handler: handler.stream for handler in handlers}
    for handler in handlers:
        handler.stream = buffer
    yield buffer
    for handler, stream in saved.items():
        handler.stream = stream


@pytest.fixture
def rater_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.ADMINS = [("Ops", "ops@example.org")]


def test_a_server_error_on_a_rater_page_logs_and_mails_no_token(client, rater_urls, log_output):
    client.raise_request_exception = False
    response = client.get(f"/r/{TOKEN}/task/{ITEM}/?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4")
    assert response.status_code == 500
    logged = log_output.getvalue()
    assert "Internal Server Error: /r/[redacted]/task/[redacted]/" in logged
    assert len(mail.outbox) == 1
    report = mail.outbox[0].subject + mail.outbox[0].body
    assert "something broke while serving the rater" in report
    for secret in (TOKEN, ITEM, "5f1e2d3c4b5a69788796a5b4"):
        assert secret not in logged
        assert secret not in report


def test_a_not_found_rater_page_is_logged_without_its_token(client, rater_urls, log_output):
    assert client.get(f"/r/{TOKEN}/nothing-here/").status_code == 404
    logged = log_output.getvalue()
    assert "Not Found: /r/[redacted]/nothing-here/" in logged
    assert TOKEN not in logged


def test_the_development_server_access_log_carries_no_token(log_output):
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"GET /r/{TOKEN}/audio/{ITEM}/B/ HTTP/1.1", "200", "1234"
    )
    logged = log_output.getvalue()
    assert "GET /r/[redacted]/audio/[redacted]/B/ HTTP/1.1" in logged
    assert TOKEN not in logged and ITEM not in logged


@pytest.mark.parametrize(
    "log_format",
    [None, '%(U)s "%({Referer}i)s" %(q)s %({X-Forwarded-For}i)s'],
    ids=["default format", "a format with headers and the query"],
)
def test_the_gunicorn_access_log_carries_no_token(tmp_path, log_format):
    from gunicorn.config import Config

    spec = {}
    collecting = gc.isenabled()
    try:
        exec((ROOT / "evalsite" / "gunicorn_conf.py").read_text(), spec)
    finally:  # the file turns the collector off while a master loads the app
        if collecting:
            gc.enable()
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    if log_format:
        config.set("access_log_format", log_format)
    logger = spec["logger_class"](config)

    class Response:
        status, sent, headers = "200 OK", 10, [("Content-Type", "text/html")]

    class Request:
        headers = [("REFERER", f"https://rate.example.org/r/{TOKEN}/")]

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/r/{TOKEN}/quality/{ITEM}/",
        "PATH_INFO": f"/r/{TOKEN}/quality/{ITEM}/",
        "QUERY_STRING": "PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&lang=en",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.7",
        "HTTP_REFERER": f"https://rate.example.org/r/{TOKEN}/",
    }
    logger.access(Response(), Request(), environ, timedelta(milliseconds=5))
    logged = (tmp_path / "access.log").read_text()
    if log_format is None:
        assert "GET /r/[redacted]/quality/[redacted]/ HTTP/1.1" in logged
    else:
        assert logged.startswith('/r/[redacted]/quality/[redacted]/ "https://rate.example.org/r/[redacted]/"')
        assert "PROLIFIC_PID=[redacted]&lang=en" in logged
    assert TOKEN not in logged and ITEM not in logged and "5f1e2d3c4b5a" not in logged
