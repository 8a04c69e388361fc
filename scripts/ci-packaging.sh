#!/usr/bin/env bash
# CI for the distributions: build the sdist and the wheel, test the wheel in a fresh venv,
# build the .deb, run lintian on it (any error or warning that is not an accepted override
# fails), build it again as the README says on a fresh clone, install it with dpkg, run the
# CLIs and a unit on a private user manager from /usr/bin, then purge it and prove nothing
# is left.  Needs root (dpkg -i).
#
# The package is purged on every exit, failure included; a machine that already has
# aios-systemd installed is refused rather than having its package replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
readonly PKG=aios-systemd PREFIX=/opt/aios-systemd
export AIOS_NO_SKIP=1

started=$SECONDS
step() { printf '\n==== [%3ds] %s ====\n' "$((SECONDS - started))" "$*" >&2; }
die() { printf 'ci-packaging: FAILED: %s\n' "$*" >&2; exit 1; }

# pytest's "no tests collected" (exit 5) is a failure here too.
pytest_strict() {
  local code=0
  "$repo/.venv/bin/python" -m pytest -p no:cacheprovider "$@" || code=$?
  [ "$code" -ne 5 ] || die "pytest collected no tests: $*"
  [ "$code" -eq 0 ] || die "pytest failed ($code): $*"
}

installed() { [ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)" = "install ok installed" ]; }
# Installed, half-installed or removed with its configuration kept: anything but unknown.
known() { dpkg-query -W -f='${db:Status-Abbrev}\n' "$PKG" 2>/dev/null | grep -qv '^un'; }

[ "$(id -u)" -eq 0 ] || die "run as root: the package is installed with dpkg -i"
if known; then
  die "$PKG is already known to dpkg on this machine; this script installs and purges its own build (dpkg -P $PKG first)"
fi

scratch= fresh=
cleanup() {
  local code=$?
  if known; then
    echo "ci-packaging: purging $PKG after a failure" >&2
    dpkg -P "$PKG" >&2 || true
  fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
  if [ -n "$fresh" ]; then rm -rf "$fresh"; fi
  exit "$code"
}
trap cleanup EXIT

step "setup (.venv)"
./scripts/setup.sh

step "build sdist + wheel (python -m build)"
mapfile -t artifacts < <(scripts/build-dist.sh --outdir dist)
((${#artifacts[@]} == 2)) || die "build-dist.sh did not name two artifacts"
sdist=${artifacts[0]} wheel=${artifacts[1]}
printf '  %s\n' "$sdist" "$wheel" >&2

step "wheel: package data, fresh isolated venv, CLIs, unit on a private user manager"
AIOS_SDIST=$sdist AIOS_WHEEL=$wheel pytest_strict tests/packaging -q

step "build the .deb"
deb=$(AIOS_DEB_COMPRESSION=gzip packaging/build-deb.sh --wheel "$wheel" --outdir dist)
dpkg-deb --info "$deb" | sed -n '/Package:/,$p' >&2
# What the package puts on the machine (directories aside): all of it must go again.
mapfile -t payload < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e '/\/$/d')

step "lintian: no error or warning that packaging/debian/lintian-overrides does not accept"
if ! command -v lintian >/dev/null; then
  echo "ci-packaging: installing lintian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
  } || die "could not install lintian (apt-get install lintian)"
fi
# lintian's own verdict (exit 2 on an error or warning no override accepts), everything it
# says in full; then, for the log, what the overrides accepted, counted by tag (a second
# run: with --show-overrides lintian counts the overridden hints as failures too).
lintian_code=0
lintian --fail-on error,warning "$deb" >&2 || lintian_code=$?
[ "$lintian_code" -eq 0 ] || die "lintian: errors or warnings above that packaging/debian/lintian-overrides does not accept (exit $lintian_code)"
lintian --show-overrides "$deb" 2>/dev/null | grep '^O: ' | sed -E 's/ \[.*//' | sort | uniq -c | sed 's/^/  accepted: /' >&2 || true

if git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
  step "the README's build command on a fresh clone (no .venv)"
  fresh=$(mktemp -d "${TMPDIR:-/tmp}/aios-deb-fresh-XXXXXX")
  git clone -q "$repo" "$fresh/aios-systemd"
  fresh_deb=$(cd "$fresh/aios-systemd" && AIOS_DEB_COMPRESSION=gzip ./packaging/build-deb.sh) ||
    die "packaging/build-deb.sh failed on a fresh clone"
  fresh_contents=$(dpkg-deb --contents "$fresh_deb") || die "dpkg-deb cannot read $fresh_deb"
  grep -q ' \./usr/bin/aios-run -> ' <<<"$fresh_contents" || die "the fresh clone's package has no /usr/bin/aios-run"
  echo "  built $(basename "$fresh_deb") from a fresh clone" >&2
  rm -rf "$fresh"
  fresh=
fi

step "dpkg -i"
if ! dpkg -i "$deb"; then
  echo "ci-packaging: dpkg -i left dependencies unmet; resolving them with apt-get install -f" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq >&2
fi
installed || die "$PKG is not installed after dpkg -i"

step "CLIs from /usr/bin"
# A safe project root: the working-directory policy refuses /tmp.
scratch=$(mkdir -p "$HOME/.cache/aios-systemd-tests" && mktemp -d "$HOME/.cache/aios-systemd-tests/ci-packaging-XXXXXX")
mkdir -m 0700 "$scratch/project"
export AIOS_PROJECT_ROOT=$scratch/project AIOS_SCHEDULER_ROOT=$scratch/scheduler
# The programs of the CLI table (pyproject's [project.scripts] lists the same; a test holds them together).
clis=$("$PREFIX/bin/python" -c 'from aios_systemd.cli.spec import COMMANDS; print(*COMMANDS)') && [ -n "$clis" ] ||
  die "the installed package names no CLI"
for cli in $clis; do
  [ "$(command -v "$cli")" = "/usr/bin/$cli" ] || die "$cli does not resolve to /usr/bin/$cli (PATH=$PATH)"
  "/usr/bin/$cli" --help >/dev/null || die "$cli --help failed"
  echo "  $("/usr/bin/$cli" --version)" >&2
done
/usr/bin/aios-status --no-timers --json >"$scratch/status.json" || die "aios-status --no-timers --json failed"
"$PREFIX/bin/python" -c 'import json, sys; doc = json.load(open(sys.argv[1])); assert doc["schemaVersion"] == 1' \
  "$scratch/status.json" || die "aios-status --json printed no status document"
rendered=$(/usr/bin/aios-units render --dry-run agent-aggregate --project-root "$scratch/project") ||
  die "aios-units render --dry-run failed"
grep -qxF "ExecStart=\"$PREFIX/bin/aios-run\" \"agent-aggregate\" \"--project-root\" \"$scratch/project\"" <<<"$rendered" ||
  die "ExecStart= does not point at $PREFIX/bin/aios-run: $(grep '^ExecStart=' <<<"$rendered")"
echo "  $(grep '^ExecStart=' <<<"$rendered")" >&2
unset AIOS_PROJECT_ROOT AIOS_SCHEDULER_ROOT
if compgen -G "/usr/share/man/man1/aios-*.1.gz" >/dev/null; then
  for page in /usr/share/man/man1/aios-*.1.gz; do
    MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q . || die "man page $page does not render"
  done
  echo "  man pages render" >&2
fi
if [ -f /usr/share/bash-completion/completions/aios-units ]; then
  bash -c 'source /usr/share/bash-completion/completions/aios-units && complete -p aios-units' >/dev/null ||
    die "the bash completion does not register"
  echo "  bash completion registers" >&2
fi

step "Debian package tests (unit flow on a private user manager)"
AIOS_DEB_INSTALLED=1 pytest_strict tests/packaging/test_deb.py -q

step "dpkg -P"
# What the interpreter and a user may leave inside the environment at run time must go too.
"$PREFIX/bin/python" -O -c 'import aios_systemd.cli.units, aios_systemd.units.templates'
touch "$PREFIX/left-at-run-time"
dpkg -P "$PKG"

step "nothing is left"
left=()
[ ! -e "$PREFIX" ] || left+=("$PREFIX")
for path in "${payload[@]}"; do
  if [ -e "$path" ] || [ -L "$path" ]; then left+=("$path"); fi
done
for pattern in /usr/bin/aios-* /usr/share/man/man1/aios-* /usr/share/bash-completion/completions/aios-* \
               /usr/share/zsh/vendor-completions/_aios* /usr/share/fish/vendor_completions.d/aios-* \
               /usr/share/doc/aios-systemd /var/lib/dpkg/info/aios-systemd.*; do
  if compgen -G "$pattern" >/dev/null; then left+=("$pattern"); fi
done
if dpkg-query -L "$PKG" >/dev/null 2>&1; then left+=("dpkg -L $PKG still lists files"); fi
if known; then left+=("dpkg still knows $PKG"); fi
((${#left[@]} == 0)) || die "left after purge: ${left[*]}"
echo "  no trace of $PKG (${#payload[@]} packaged paths checked)" >&2

step "done in $((SECONDS - started))s"
