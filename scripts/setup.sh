#!/usr/bin/env bash
# Installs what Counterpoint needs on a fresh Debian machine with Python 3.11; safe to run again, and
# quick when nothing changed.
# - the project's own virtual environment, .venv (python3.11 -m venv), with the Python packages of
#   pyproject.toml, torch pinned to the CPU build 2.13.0; installed again only when pyproject.toml
#   differs from the copy kept at the last install (.venv/installed-pyproject.toml). Nothing is
#   installed into the machine's Python;
# - Chromium and ChromeDriver (browser tests), docker-compose (checks docker-compose.yml) and nginx (a
#   test serves exports through it) from Debian, when missing and run as root;
# - starts PostgreSQL and Redis when they are installed but down (the tests talk to the real ones).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/installed-pyproject.toml"
if [ ! -x "$venv/bin/python" ]; then
  # Python 3.11: the CPU build of torch 2.13.0 on this machine's disk is built for it.
  base=$(command -v python3.11 || command -v python3 || true)
  if [ -z "$base" ] || ! "$base" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: Python 3.11 is needed to create .venv (install Debian's python3.11 and python3.11-venv)" >&2
    exit 1
  fi
  rm -f "$stamp"
  "$base" -m venv "$venv"
fi
if ! cmp -s pyproject.toml "$stamp"; then
  echo "setup: installing pyproject.toml's packages into .venv (a few minutes the first time)" >&2
  # (pip's warnings about a missing folder of a local package index configured on the machine are noise)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[ml,dev]" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2 || true)
  cp pyproject.toml "$stamp"
fi

debian=()
command -v chromium >/dev/null && command -v chromedriver >/dev/null || debian+=(chromium chromium-driver)
command -v docker-compose >/dev/null || debian+=(docker-compose)  # validates docker-compose.yml
command -v nginx >/dev/null || debian+=(nginx)  # serves an export through X-Accel-Redirect in a test
if [ ${#debian[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    # Waits for another apt or dpkg run to finish rather than failing on its lock.
    apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
    ("${apt[@]}" install "${debian[@]}" >/dev/null 2>&1 ||
      { "${apt[@]}" update >/dev/null && "${apt[@]}" install "${debian[@]}" >/dev/null; })
  else
    echo "setup: ${debian[*]} missing (install them as root); the tests that need them will be skipped" >&2
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
