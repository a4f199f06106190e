# syntax=docker/dockerfile:1
# One image for the web process and the workers. The web image carries no torch (the web process never
# imports it); GPU workers build with EXTRAS=ml to get the pinned torch and transformers of pyproject's
# "ml" extra (torch==2.13.0 from PyPI is its CUDA build on Linux).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/static COUNTERPOINT_VAR_DIR=/data/var MEDIA_ROOT=/data/media
# Debian's libsndfile follows the base image's security updates; pinning it would freeze them out.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 counterpoint \
    && mkdir -p /data/var /data/media && chown -R counterpoint /data
WORKDIR /app

# The dependencies first, in a layer of their own: a change of the source does not reinstall them.
ARG EXTRAS=""
COPY pyproject.toml ./
RUN python - <<'PY' > /tmp/requirements.txt && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
import os, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = [e for e in os.environ.get("EXTRAS", "").split(",") if e]
print("\n".join(project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]))
PY

COPY . .
RUN pip install --no-deps . && python manage.py collectstatic --noinput -v0

USER 10001
EXPOSE 8000
# The web process answers /healthz when its database and broker answer; workers override this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "-c", "evalsite/gunicorn_conf.py", "evalsite.wsgi", "-b", "0.0.0.0:8000", "-w", "4"]
