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
#
# A wheel built here from an sdist (pystemd) belongs to the interpreter that built it, not
# just to its tag: pyenv's Python links extensions with -Wl,-rpath into its own prefix,
# Debian's does not, and both are cp311-linux_x86_64 to pip.  So the cache has one
# directory per base interpreter and build flags (CFLAGS, CPPFLAGS, LDFLAGS), and pip's own
# cache (whose built wheels are keyed by tag only) lives inside it.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 ENV_PYTHON WHEEL" >&2
  exit 2
fi
python=$1
wheel=$2
[ -x "$python" ] || { echo "install-wheel: $python is not an executable Python" >&2; exit 1; }
[ -f "$wheel" ] || { echo "install-wheel: no wheel at $wheel" >&2; exit 1; }

key=$("$python" - <<'PY'
import hashlib, os, sys, sysconfig
parts = [os.path.realpath(sys.base_prefix), sys.version, sysconfig.get_config_var("LDSHARED") or ""]
parts += [os.environ.get(name, "") for name in ("CFLAGS", "CPPFLAGS", "LDFLAGS")]
print(f"{sys.implementation.cache_tag}-{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:12]}")
PY
)
cache=${AIOS_WHEEL_CACHE:-$HOME/.cache/aios-systemd-tests/wheels}/$key
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
"$python" -m pip wheel -q --disable-pip-version-check --cache-dir "$cache/pip" --wheel-dir "$cache" "$wheel"
# The project's own wheel would shadow the next build of the same version: keep only
# the dependencies in the cache.
rm -f "$cache"/aios_systemd-*.whl
if ! offline; then
  echo "install-wheel: installing from the refilled cache failed; the first attempt said:" >&2
  cat "$log" >&2
  exit 1
fi
