#!/usr/bin/env bash
# The README's second command (and what CI runs): set up, lint, type-check, check the import
# layers, run every test.
# Tests that need a real systemd --user manager start a private one; in CI a skipped test
# fails the run, and pytest's "no tests collected" (exit 5) is a failure too.
#
# In CI (CI=true) or with AIOS_TEST_PACKAGING=1 it also runs the packaging stage: build
# the wheel and the .deb, install each in a clean environment, run the CLIs and a unit
# from there, then remove them without a trace (needs root: dpkg -i).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check aios_systemd tests benchmarks
.venv/bin/ruff format --check aios_systemd tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports  # the layers (pyproject's [tool.importlinter]): an upward import fails
packaging=0
if [ "${CI:-}" = "true" ] || [ "${AIOS_TEST_PACKAGING:-}" = "1" ]; then
  packaging=1
fi
pytest_args=("$@")
# The packaging stage runs the wheel tests itself, against the wheel it builds.
[ "$packaging" -eq 0 ] || pytest_args=(--ignore=tests/packaging "${pytest_args[@]}")
set +e
.venv/bin/python -m pytest "${pytest_args[@]}"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
[ "$code" -eq 0 ] || exit "$code"
if [ "$packaging" -eq 1 ]; then
  ./scripts/ci-packaging.sh
fi
