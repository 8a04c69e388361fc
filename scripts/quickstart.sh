#!/usr/bin/env bash
# The README's first command: set up, run the main job (agent-aggregate) on the embedded
# default (this checkout as the project root, nothing configured), then show its status.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
project_root=${AIOS_PROJECT_ROOT:-$PWD}
set +e
.venv/bin/aios-run agent-aggregate --project-root "$project_root"
code=$?
set -e
echo
.venv/bin/aios-status --job agent-aggregate --project-root "$project_root"
exit "$code"
