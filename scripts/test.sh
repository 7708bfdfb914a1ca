#!/usr/bin/env bash
# The whole test suite: lint, types, and every test. Does its own set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "==> ruff"
.venv/bin/ruff check src tests examples benchmarks docs noxfile.py
.venv/bin/ruff format --check src tests examples benchmarks noxfile.py
echo "==> import-linter (the floors of docs/design.md)"
.venv/bin/lint-imports
echo "==> mypy (strict)"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
