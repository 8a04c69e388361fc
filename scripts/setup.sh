#!/usr/bin/env bash
# Set up everything aios-systemd needs on Debian 12: the system packages pystemd builds
# against and the shells the completion tests drive (zsh, fish, bash-completion), a
# virtual environment in .venv, and the project installed into it (editable, with the
# test extras).  Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pkg in libsystemd-dev pkg-config python3-venv gcc python3-dev systemd dbus-user-session git man-db util-linux \
  zsh fish bash-completion; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if ((${#need_pkgs[@]})); then
  echo "setup: installing Debian packages: ${need_pkgs[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$python" -m venv .venv
fi
stamp=.venv/.aios-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing aios-systemd into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
