#!/usr/bin/env bash
# Create .venv (if needed) and install credlti with its development tools.
# Idempotent: re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "credlti needs Python 3.10 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

# The test suite runs against a real Redis (tests/redis_server.py starts a private
# redis-server): install Debian's package when it is missing and we may (root).
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing redis-server"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

# The browser tests (tests/browser) drive a real headless Chromium through Playwright,
# without any browser download: install Debian's package when it is missing and we may.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing chromium"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

stamp=".venv/.credlti-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing credlti and its development tools into .venv"
  .venv/bin/python -m pip install --quiet --upgrade "pip>=25.1" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install --quiet -e ".[sql,postgres,redis,cli]" --group dev 2>&1 \
    | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import credlti' # fail loudly if the install did not work
  echo "$want" > "$stamp"
fi
