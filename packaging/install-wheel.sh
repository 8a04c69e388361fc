#!/usr/bin/env bash
# Install a built aios-systemd wheel and its dependencies into an existing Python
# environment, the way `pipx install FILE` / `uv tool install FILE` would, but from a local
# wheel cache so repeated runs neither hit the network nor rebuild pystemd (which compiles
# against libsystemd-dev each time it is built from its sdist).
#
#   packaging/install-wheel.sh ENV_PYTHON WHEEL
#
# The cache ($AIOS_WHEEL_CACHE, default ~/.cache/aios-systemd-tests/wheels) is filled on
# the first run, and again whenever it no longer satisfies the wheel's requirements (a new
# dependency, a changed pin): the offline attempt fails, `pip wheel` fetches or builds what
# is missing, and the offline install runs again.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 ENV_PYTHON WHEEL" >&2
  exit 2
fi
python=$1
wheel=$2
[ -x "$python" ] || { echo "install-wheel: $python is not an executable Python" >&2; exit 1; }
[ -f "$wheel" ] || { echo "install-wheel: no wheel at $wheel" >&2; exit 1; }
cache=${AIOS_WHEEL_CACHE:-$HOME/.cache/aios-systemd-tests/wheels}
mkdir -p "$cache"

offline() {
  "$python" -m pip install -q --disable-pip-version-check --no-index --find-links "$cache" "$wheel"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if offline 2>"$log"; then
  exit 0
fi
echo "install-wheel: the wheel cache $cache lacks something; filling it (network)" >&2
"$python" -m pip wheel -q --disable-pip-version-check --wheel-dir "$cache" "$wheel"
# The project's own wheel would shadow the next build of the same version: keep only
# the dependencies in the cache.
rm -f "$cache"/aios_systemd-*.whl
if ! offline; then
  echo "install-wheel: installing from the refilled cache failed; the first attempt said:" >&2
  cat "$log" >&2
  exit 1
fi
