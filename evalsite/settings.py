"""Counterpoint settings: every value read from the environment here, and only here.

The defaults run on a laptop: a SQLite file and media folder under ``var/``, a file-system
Celery broker served by a local worker, DEBUG off. Production (docker-compose.yml) sets
``DATABASE_URL=postgres://...`` and ``CELERY_BROKER_URL=redis://...``.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# One BLAS thread per process: the analysis' small matrices run slower, not faster, on more threads
# when web workers share the cores (measured in docs/analysis.md). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("COUNTERPOINT_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


DEBUG = _env_bool("DJANGO_DEBUG")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", ",".join(LOOPBACK_HOSTS[:3]))
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # A laptop (loopback only, or DEBUG) runs on a fixed key; a server reachable by others would sign
    # sessions and CSRF tokens with a key anyone can read in this file, so it refuses to start.
    if not DEBUG and any(host not in LOOPBACK_HOSTS for host in ALLOWED_HOSTS):
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set and DJANGO_ALLOWED_HOSTS ({','.join(ALLOWED_HOSTS)}) reaches "
            "beyond this machine: set DJANGO_SECRET_KEY to a long random string (50+ characters)"
        )
    SECRET_KEY = "counterpoint-insecure-local-key-set-DJANGO_SECRET_KEY"

# Behind HTTPS (DJANGO_HTTPS=1): Secure cookies, a redirect to https:// and HSTS, each of which its own
# variable may still override. Off by default: a laptop serves plain http://127.0.0.1.
HTTPS = _env_bool("DJANGO_HTTPS")
SESSION_COOKIE_SECURE = _env_bool("DJANGO_SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = _env_bool("DJANGO_CSRF_COOKIE_SECURE", HTTPS)
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
# The container's health check asks http://127.0.0.1:8000/healthz from inside: no redirect for it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = _env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_SECURE_HSTS_PRELOAD")
# How many reverse proxies of the operator's own stand in front of the app (0: clients connect directly).
# Only then are X-Forwarded-For (the client's address, ratings.http.client_address) and
# X-Forwarded-Proto (https) believed: without a proxy, anyone can send those headers.
TRUSTED_PROXIES = _env_int("DJANGO_TRUSTED_PROXIES", 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "django_celery_results",
    "ratings",
    "jobs",
    "reports",
    "launches",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"

TEMPLATES = [
    {
        # The rater's pages (ratings/jinja2/), in Jinja2 for speed (evalsite/jinja2.py); first, so that
        # the hot path finds its template without asking the other engine.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"environment": "evalsite.jinja2.environment"},
    },
    {
        # The staff pages (the apps' templates/ folders): Django's template language.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "evalsite" / "templates"],  # the staff pages' shared base
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'counterpoint.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        # a kept connection (gunicorn sets 60 s) is checked before a request uses it, so a worker notices
        # a database that restarted instead of failing the request
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, its check of a kept connection made from the socket instead of a SELECT 1
    # round trip before every request (evalsite/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "evalsite.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Raters submit while the worker imports clips: wait for the write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Tests whose Celery worker runs in a thread share the test database with the test itself: an
    # in-memory database shares it through a shared cache, whose table locks fail at once instead of
    # waiting. A file waits for its lock as the laptop database does.
    database_file = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(database_file.with_name(f"test-{database_file.name}"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Audio is never served from MEDIA_URL: raters fetch it by item token and position (ratings.views.task_audio).
MEDIA_URL = "/media-not-served/"

# --- Where audio is stored, and who sends its bytes ----------------------------------------------------
# Clips (and every other file a FileField keeps) go through Django's default storage, read and written by
# storage name (open, size, exists), never by a file-system path. The default is the local MEDIA_ROOT.
# COUNTERPOINT_STORAGE=s3 keeps them in an S3-compatible bucket instead (AWS S3, MinIO: django-storages'
# S3 backend over boto3), so that GPU workers on other machines file clips that every web process serves.
# Runs and checkpoints stay in COUNTERPOINT_RUNS_DIR, a shared file system (README, Deployment: why).
STORAGE_KIND = os.environ.get("COUNTERPOINT_STORAGE", "filesystem").strip().lower()
if STORAGE_KIND == "s3":
    if not os.environ.get("S3_BUCKET"):
        raise ImproperlyConfigured(
            "COUNTERPOINT_STORAGE=s3 needs S3_BUCKET: the name of the bucket for clips"
        )
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": os.environ["S3_BUCKET"],
                "location": os.environ.get("S3_PREFIX", ""),  # a folder inside the bucket, or none
                # MinIO or another S3-compatible server (http://minio:9000); unset for AWS itself.
                "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
                "region_name": os.environ.get("S3_REGION") or None,
                # Unset: boto3's own chain (AWS_ACCESS_KEY_ID…, an instance role).
                "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
                "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
                # MinIO serves buckets under the path (http://minio:9000/BUCKET/NAME), AWS by host name.
                "addressing_style": os.environ.get("S3_ADDRESSING_STYLE") or None,
                # Two clips never share a name (each has a random token); never overwrite one silently.
                "file_overwrite": False,
                "default_acl": None,  # objects stay private to the bucket's owner
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
elif STORAGE_KIND != "filesystem":
    raise ImproperlyConfigured(f"COUNTERPOINT_STORAGE must be filesystem or s3, not {STORAGE_KIND!r}")
# Set (e.g. /_audio/): the audio view checks the rater and the task, then answers with an empty response
# whose X-Accel-Redirect names the file under this prefix, and nginx sends the bytes from its internal
# location there (deploy/nginx.conf: an alias of MEDIA_ROOT, or a proxy to the bucket). Unset (the
# embedded default): Django sends the bytes itself (ratings.http.audio_file_response).
AUDIO_X_ACCEL_PREFIX = os.environ.get("AUDIO_X_ACCEL_PREFIX", "").strip()
if AUDIO_X_ACCEL_PREFIX and not AUDIO_X_ACCEL_PREFIX.startswith("/"):
    raise ImproperlyConfigured(
        f"AUDIO_X_ACCEL_PREFIX must be a path starting with /, not {AUDIO_X_ACCEL_PREFIX!r}"
    )
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

LOGIN_URL = "admin:login"

# Counters of the entry rate limit live in the cache: give every web process the same one in
# production (DJANGO_CACHE_URL=redis://…); the default is per process.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["DJANGO_CACHE_URL"]}
        if os.environ.get("DJANGO_CACHE_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Login throttling for the admin and the API's Basic authentication (django-axes): after
# AXES_FAILURE_LIMIT failed logins from one client address, that address is refused (429 on the admin,
# 401/403 on the API) for AXES_COOLOFF_TIME hours, even with the right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = _env_int("DJANGO_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = _env_int("DJANGO_LOGIN_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "ratings.http.client_address"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Counterpoint API",
    "DESCRIPTION": "Studies, model variants and training runs for listening studies of text-to-music models.",
    "VERSION": "0.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "evalsite.openapi.add_error_responses",
    ],
}

# Celery: long work (training, generation) goes to the "gpu" queue; everything else to "default".
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", "filesystem://localhost/"
)  # a host: kombu warns without one
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    # The laptop broker: messages are files that the local worker picks up.
    for folder in ("broker", "broker-processed", "broker-control"):
        (VAR_DIR / folder).mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),  # kombu's default is ./control
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Tasks are acknowledged late, and Redis hands an unacknowledged task to another worker once its
    # visibility timeout (1 h by default) passes: a training run longer than that would run twice at
    # once. A worker process that dies is requeued at once (reject_on_worker_lost) whatever this is.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 24 * 3600}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every task named generation.* (training, generation, model jobs) runs on a GPU worker.
CELERY_TASK_ROUTES = {"generation.*": {"queue": "gpu"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER")
# A launch's workflow is a canvas of chains and groups (chords): their joins are kept in the database.
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXPIRES = timedelta(days=7)
# Sends again the steps whose worker died or whose message was lost (launches.services.launch_sweep):
# run by `celery beat` in production and by the local worker's embedded beat (-B) on a laptop.
CELERY_BEAT_SCHEDULE = {
    "launches-sweep": {"task": "launches.sweep", "schedule": 60.0},
    # Claims of raters who left without answering go back to the pool (ratings/tasks.py).
    "ratings-expire-claims": {"task": "ratings.expire_claims", "schedule": 60.0},
}

COUNTERPOINT = {
    # Where runs, checkpoints and generated clips of the built-in model live.
    "RUNS_DIR": Path(os.environ.get("COUNTERPOINT_RUNS_DIR", VAR_DIR / "runs")),
    # Crowd entries (/p/<study>/) one client address may make per minute. A Prolific launch brings
    # hundreds of participants a minute, each from an address of their own; this is well above what a
    # whole launch from one address would need, and stops a script walking through PIDs.
    "ENTRIES_PER_MINUTE": _env_int("COUNTERPOINT_ENTRIES_PER_MINUTE", 1000),
}

# Rater tokens ride in every rater URL: each handler strips them (and Prolific ids) from what it
# writes, and error reports (the DEBUG page, the e-mail to ADMINS) go through the same redaction.
# gunicorn's access log does too when started with -c evalsite/gunicorn_conf.py.
DEFAULT_EXCEPTION_REPORTER = "evalsite.redaction.RedactingExceptionReporter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "evalsite.redaction.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "redact_secrets"],
        },
    },
    # Django's own loggers named here so that none keeps a default handler without the filter.
    "loggers": {
        "django": {"handlers": ["console", "mail_admins"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
