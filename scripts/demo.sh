#!/usr/bin/env bash
# The main job on embedded defaults: SQLite, local Celery workers on a file-system broker, the
# built-in model. The gpu worker runs recipes/demo.yaml through the study pipeline (the committed demo
# finetunes are reused), then the platform is served at DEMO_ADDRESS (default 127.0.0.1:8000) with
# one invite link per rater printed. Ctrl-C stops the server and the workers.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's .venv, which `make setup` creates.
python=.venv/bin/python
[ -x "$python" ] || { echo "scripts/demo.sh: no .venv here; run 'make setup' first" >&2; exit 1; }
address="${DEMO_ADDRESS:-127.0.0.1:8000}"
"$python" manage.py migrate --noinput -v0
"$python" -m celery -A evalsite worker -Q gpu --concurrency 1 --max-tasks-per-child 1 -n gpu@%h \
  --loglevel WARNING >>var/worker.log 2>&1 &
worker=$!
# The default queue's own worker: the staff report and the pipeline's bookkeeping run there, never
# queued behind training. -B: it also runs celery beat, whose periodic tasks send again any launch step
# whose worker died and give back every rater's claim left open past its study's claim timeout.
"$python" -m celery -A evalsite worker -Q default --concurrency 1 -n default@%h \
  -B -s var/celerybeat-schedule --loglevel WARNING >>var/worker.log 2>&1 &
default_worker=$!
trap 'kill $worker $default_worker 2>/dev/null || true' EXIT
# One invite link per 20-minute rater session the study needs to complete (DEMO_RATERS sets another count).
"$python" manage.py demo_study ${DEMO_RATERS:+--raters "$DEMO_RATERS"} --base-url "http://$address"
echo "Researchers: '.venv/bin/python manage.py createsuperuser', then http://$address/admin/, /staff/launches/ and /staff/jobs/"
"$python" manage.py runserver --noreload "$address"
