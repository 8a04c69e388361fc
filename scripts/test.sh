#!/usr/bin/env bash
# The README's second command (and what CI runs): set up, lint, type-check, run every test.
# Tests that need a real systemd --user manager start a private one; in CI a skipped test
# fails the run, and pytest's "no tests collected" (exit 5) is a failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check aios_systemd tests benchmarks
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$code"
