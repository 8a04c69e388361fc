#!/usr/bin/env bash
# Build the sdist and the wheel with `python -m build`.  The wheel is built FROM the sdist,
# so a file the sdist forgot shows up as a broken wheel; tests/packaging/test_wheel.py
# checks that both carry the unit templates and every package data file.
#
#   scripts/build-dist.sh [--outdir DIR]     (default: dist/)
#
# Prints the paths of the two artifacts on stdout, one per line (sdist first), so callers
# can capture them; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

outdir=dist
while (($#)); do
  case "$1" in
    --outdir) outdir=${2:?--outdir needs a directory}; shift 2 ;;
    *) echo "build-dist: unknown argument: $1 (usage: $0 [--outdir DIR])" >&2; exit 2 ;;
  esac
done

# The Python that runs `build`: $AIOS_BUILD_PYTHON, else the checkout's .venv (from
# scripts/setup.sh), else, on a fresh clone, a build environment of its own in build/ made
# from the system's python3 (the wheel is pure Python: any 3.11+ builds the same one).
python=${AIOS_BUILD_PYTHON:-}
if [ -z "$python" ]; then
  python=$repo/.venv/bin/python
  if [ ! -x "$python" ]; then
    python=$repo/build/venv-dist/bin/python
    if [ ! -x "$python" ]; then
      system_python=$(command -v python3 || true)
      if [ -z "$system_python" ] || ! "$system_python" -c 'import ensurepip, venv' 2>/dev/null; then
        echo "build-dist: no .venv and no python3 with venv to make a build environment" \
             "(hint: sudo apt-get install python3-venv, or run scripts/setup.sh)" >&2
        exit 1
      fi
      echo "build-dist: no .venv: making a build environment in build/venv-dist with $system_python" >&2
      rm -rf "$repo/build/venv-dist"
      "$system_python" -m venv "$repo/build/venv-dist"
    fi
  fi
fi
if [ ! -x "$python" ]; then
  echo "build-dist: $python is missing (hint: unset AIOS_BUILD_PYTHON, or run scripts/setup.sh)" >&2
  exit 1
fi
# `build` is in the test extras (.venv has it); any other environment gets it on demand,
# once.  Both run from / : in the checkout, its build/ directory would import as `build`.
if ! (cd / && "$python" -c 'import build.__main__') 2>/dev/null; then
  echo "build-dist: installing 'build' into $(dirname "$(dirname "$python")")" >&2
  "$python" -m pip install -q 'build>=1.2,<2'
fi

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
# Old artifacts (another version, or this one) must not be mistaken for this build.
rm -f "$outdir"/aios_systemd-*.tar.gz "$outdir"/aios_systemd-*.whl

echo "build-dist: python -m build → $outdir" >&2
(cd / && "$python" -m build --outdir "$outdir" "$repo") >&2

# The version comes from hatch (aios_systemd/__init__.py); take the names it produced
# instead of computing them a second time.
shopt -s nullglob
sdists=("$outdir"/aios_systemd-*.tar.gz)
wheels=("$outdir"/aios_systemd-*-py3-none-any.whl)
if ((${#sdists[@]} != 1 || ${#wheels[@]} != 1)); then
  echo "build-dist: expected one sdist and one wheel in $outdir, found: ${sdists[*]} ${wheels[*]}" >&2
  exit 1
fi
printf '%s\n' "${sdists[0]}" "${wheels[0]}"
