#!/usr/bin/env bash
# The main job on embedded defaults: SQLite, a local Celery worker on a file-system broker, the
# built-in model. The gpu worker generates the demo study's clips with the committed demo checkpoints,
# then the platform is served at http://127.0.0.1:8000/ with one invite link per rater printed.
# Ctrl-C stops the server and the workers.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 manage.py migrate --noinput -v0
python3 -m celery -A evalsite worker -Q gpu --concurrency 1 --max-tasks-per-child 1 -n gpu@%h \
  --loglevel WARNING >>var/worker.log 2>&1 &
worker=$!
# The default queue's own worker: the staff report is computed there, never queued behind training.
python3 -m celery -A evalsite worker -Q default --concurrency 1 -n default@%h \
  --loglevel WARNING >>var/worker.log 2>&1 &
default_worker=$!
trap 'kill $worker $default_worker 2>/dev/null || true' EXIT
python3 manage.py demo_study --raters "${DEMO_RATERS:-3}"
echo "Researchers: 'python3 manage.py createsuperuser', then http://127.0.0.1:8000/admin/ and /staff/jobs/"
python3 manage.py runserver --noreload "${DEMO_ADDRESS:-127.0.0.1:8000}"
