#!/usr/bin/env bash
# The whole test suite: ruff, then everything on the embedded SQLite default, then the concurrency and queue
# tests again on the real PostgreSQL and Redis (127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0
python3 -m ruff check .
python3 -m ruff format --check . >/dev/null
python3 -m pytest -q "$@"
DATABASE_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/counterpoint}" \
  python3 -m pytest -q -m postgres "$@"
