#!/usr/bin/env bash
# Installs what Counterpoint needs on a fresh Debian machine with Python 3.11; safe to run again.
# - Python packages (pyproject.toml), torch pinned to the CPU build 2.13.0;
# - Chromium and ChromeDriver from Debian, for the browser tests (skipped when present or not root);
# - starts PostgreSQL and Redis when they are installed but down (the tests talk to the real ones).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -e ".[ml,dev]"

debian=()
command -v chromium >/dev/null && command -v chromedriver >/dev/null || debian+=(chromium chromium-driver)
command -v docker-compose >/dev/null || debian+=(docker-compose)  # validates docker-compose.yml
if [ ${#debian[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q "${debian[@]}" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q "${debian[@]}" >/dev/null; })
  else
    echo "setup: ${debian[*]} missing (install them as root); browser tests will be skipped" >&2
  fi
fi

if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
