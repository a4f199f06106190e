#!/usr/bin/env bash
# The main job on embedded defaults: SQLite, a local Celery worker on a file-system broker, the
# built-in model. Serves the platform with a demo study at http://127.0.0.1:8000/ and prints one
# invite link per rater. Ctrl-C stops the server and the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 manage.py migrate --noinput -v0
python3 manage.py demo_study --raters "${DEMO_RATERS:-3}"
echo "Staff pages: create an account with 'python3 manage.py createsuperuser', then open http://127.0.0.1:8000/admin/"
python3 -m celery -A evalsite worker -Q gpu,default --concurrency 1 --max-tasks-per-child 1 \
  --loglevel WARNING --logfile var/worker.log &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT
python3 manage.py runserver "${DEMO_ADDRESS:-127.0.0.1:8000}"
