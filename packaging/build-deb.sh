#!/usr/bin/env bash
# Build the Debian package of aios-systemd with dpkg-deb.
#
#   packaging/build-deb.sh [--wheel WHEEL] [--outdir DIR]     (default: build a wheel; dist/)
#   AIOS_DEB_COMPRESSION=gzip|xz|zstd (default xz); AIOS_DEB_MAINTAINER="Name <user@host.tld>"
#
# Works on a fresh clone, as root (sudo) or not: it installs the Debian packages it needs,
# and scripts/build-dist.sh makes its own build environment when there is no .venv.
#
# Layout: a self-contained virtual environment in /opt/aios-systemd made from Debian's own
# /usr/bin/python3.X (Debian 12's python3-pydantic is 1.x, the toolkit needs 2.x), the
# wheel and its dependencies installed into it, the console scripts linked into /usr/bin,
# man pages and shell completions when this version of the CLI can generate them.
#
# The environment is built AT /opt/aios-systemd, inside private mount namespaces whose /opt
# is the staging directory's: shebangs, pyvenv.cfg and the compiled byte-code then carry
# the real path with nothing to rewrite, and the host's /opt is never touched.
#
# What debhelper (and so dh-virtualenv) would do after the environment is built is done here
# by hand, each step named as the dh_* tool it stands in for: compiled extensions built with
# dpkg-buildflags and checked for a RUNPATH into the build machine, dh_strip, dh_shlibdeps,
# dh_installchangelogs, dh_lintian, dh_md5sums.  The result is lintian-clean apart from the
# overrides in packaging/debian/lintian-overrides (docs/packaging.md says why each is there).
#
# Prints the path of the .deb on stdout; progress goes to stderr.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
repo=$PWD
readonly PREFIX=/opt/aios-systemd

say() { printf 'build-deb [%3ds]: %s\n' "$SECONDS" "$*" >&2; }
warn() { printf 'build-deb: WARNING: %s\n' "$*" >&2; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

wheel=
outdir=dist
while (($#)); do
  case "$1" in
    --wheel) wheel=${2:?--wheel needs a file}; shift 2 ;;
    --outdir) outdir=${2:?--outdir needs a directory}; shift 2 ;;
    *) die "unknown argument: $1 (usage: $0 [--wheel WHEEL] [--outdir DIR])" ;;
  esac
done

# The Maintainer field and the changelog trailer.  The default names no real mailbox (the
# reserved .example domain) but has the form Debian requires; a real build sets its own.
maintainer=${AIOS_DEB_MAINTAINER:-aios-systemd maintainers <maintainers@aios-systemd.example>}
[[ $maintainer =~ ^[^\<\>@[:cntrl:]]*[^\<\>@[:space:][:cntrl:]]\ \<[^\<\>@[:space:]]+@[^\<\>@[:space:]]+\.[^\<\>@[:space:].]+\>$ ]] ||
  die "AIOS_DEB_MAINTAINER must look like 'Full Name <user@host.tld>', not '$maintainer'"

# -- what the build needs from Debian ---------------------------------------------------------
# python3-venv brings ensurepip; python3-dev, gcc, libsystemd-dev and pkg-config build
# pystemd when the wheel cache has none; dpkg-dev has dpkg-shlibdeps and dpkg-buildflags.
need=()
# binutils has readelf and strip.
for pkg in python3 python3-venv python3-dev gcc libsystemd-dev pkg-config dpkg-dev binutils util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  say "installing Debian packages: ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The versioned interpreter, not /usr/bin/python3: the environment's site-packages and
# compiled extensions belong to one Python minor version, and the package depends on it.
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
python=/usr/bin/python$pyver
[ -x "$python" ] || die "$python is missing"
"$python" -c 'import ensurepip, venv' 2>/dev/null || die "$python has no venv/ensurepip (install python$pyver-venv)"

# -- the wheel ----------------------------------------------------------------------------------
# Reproducible dates (man pages, changelog entries): the changelog's latest entry, unless
# the caller set one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l packaging/debian/changelog -S Timestamp) ||
    die "packaging/debian/changelog does not parse"
  export SOURCE_DATE_EPOCH
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
if [ -z "$wheel" ]; then
  say "no --wheel given: building one with scripts/build-dist.sh"
  wheel=$(scripts/build-dist.sh --outdir "$outdir" | tail -n 1)
fi
[ -f "$wheel" ] || die "no wheel at $wheel"
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")

# One version, from hatch via the wheel's metadata.  PEP 440 pre-releases sort before the
# release in Debian only with a tilde: 1.2.0rc1 → 1.2.0~rc1, 1.2.0.dev3 → 1.2.0~dev3.
version=$("$python" - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if line.startswith("Version: "):
            print(line.split(": ", 1)[1].strip())
            break
PY
)
[ -n "$version" ] || die "the wheel has no version in its metadata"
debversion=$(printf '%s' "$version" | sed -E 's/\.?(a|b|rc|dev)([0-9]+)/~\1\2/g')-1
arch=$(dpkg --print-architecture)
deb=$outdir/aios-systemd_${debversion}_${arch}.deb
say "aios-systemd $version → $(basename "$deb") (Python $pyver)"

# -- stage ----------------------------------------------------------------------------------------
work=$repo/build/deb
stage=$work/root
rm -rf "$work"
mkdir -p "$stage/opt" "$stage/DEBIAN" "$stage/usr/bin"

# Every command that touches the environment runs in a private mount namespace whose /opt
# is the staging directory's.
unshare_args=(--mount)
[ "$(id -u)" -eq 0 ] || unshare_args=(--map-root-user --mount)
in_env() {
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare "${unshare_args[@]}" -- sh -c 'mount --make-rprivate / && mount --bind "$0/opt" /opt && exec "$@"' \
    "$stage" "$@"
}

say "creating $PREFIX with $python and installing the wheel"
in_env "$python" -m venv "$PREFIX"
# A dependency built here from its sdist (pystemd) is built by this environment's Python,
# Debian's, with Debian's hardening flags, as a Debian package's extension would be.
# install-wheel.sh keys its cache on the interpreter and these flags, so a wheel another
# Python built (pyenv's links with -Wl,-rpath into its own prefix) is never reused here.
# The file-path features are off so the flags, and with them the cache, do not depend on
# where this checkout is; the debug information they would rewrite is stripped below.
buildflags=()
for flag in CFLAGS CPPFLAGS LDFLAGS; do
  buildflags+=("$flag=$(DEB_BUILD_MAINT_OPTIONS='hardening=+all reproducible=-fixfilepath,-fixdebugpath' \
                         dpkg-buildflags --get "$flag")")
done
in_env env "${buildflags[@]}" "$repo/packaging/install-wheel.sh" "$PREFIX/bin/python" "$wheel"
in_env "$PREFIX/bin/python" -m pip check >&2
# An installer inside a dpkg-owned tree only invites changes dpkg does not know about.
in_env "$PREFIX/bin/python" -m pip uninstall -q -y pip setuptools >&2
env_root=$stage$PREFIX
[ -x "$env_root/bin/aios-run" ] || die "the environment has no aios-run"

# pip records where the wheel came from (a file on this build machine); the package is
# its own origin on the target.
for dist_info in "$env_root"/lib/python*/site-packages/aios_systemd-*.dist-info; do
  rm -f "$dist_info/direct_url.json"
  sed -i '/\/direct_url\.json,/d' "$dist_info/RECORD"
done
for build_path in "$stage" "$repo"; do
  if grep -rlF -- "$build_path" "$stage" >/dev/null; then
    die "files in the package mention the build path $build_path: $(grep -rlF -- "$build_path" "$stage" | head -5)"
  fi
done

clis=()
for script in "$env_root"/bin/aios-*; do
  clis+=("$(basename "$script")")
  ln -s "$PREFIX/bin/$(basename "$script")" "$stage/usr/bin/$(basename "$script")"
done
say "commands: ${clis[*]}"

# The generators run the staged commands; they must not add byte-code to the package.
generate() { in_env env PYTHONDONTWRITEBYTECODE=1 "$@"; }

# A generator this version does not have yet is skipped with a warning; one that exists and
# fails is a broken build.
has_module() {
  generate "$PREFIX/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' "$1"
}

# -- library modules with an interpreter line (dh_python3 removes them) ------------------------
# A module that is not a script carries no #! line: lintian reads one on a file that is not
# executable as a script that cannot run (script-not-executable, unusual-interpreter).  The
# byte-code pip compiled for them is compiled again for the changed source.
mapfile -t shebangs < <(find "$env_root/lib" -type f -name '*.py' ! -perm -u+x -exec awk 'FNR == 1 && /^#!/ { print FILENAME } { nextfile }' {} +)
if ((${#shebangs[@]})); then
  sed -i '1{/^#!/d}' "${shebangs[@]}"
  in_env "$PREFIX/bin/python" -m compileall -q -f "${shebangs[@]/#$stage/}" >&2 ||
    die "compiling the byte-code of the modules whose #! line was removed failed"
fi
say "library modules without their #! line: ${#shebangs[@]}"

# -- compiled extensions --------------------------------------------------------------------------
mapfile -t elves < <("$python" - "$env_root" <<'PY'
import os, sys
found = []
for dirpath, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(dirpath, name)
        if not os.path.islink(path):
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
print("\n".join(sorted(found)))
PY
)
((${#elves[@]})) && [ -n "${elves[0]}" ] || die "the environment has no compiled extension (pystemd has several)"

# A RUNPATH or RPATH that is not relative to the library itself ($ORIGIN) points into the
# machine that built it (lintian: custom-library-search-path).  pyenv's Python links every
# extension it builds with -Wl,-rpath,<its prefix>/lib; a pystemd wheel it left in a shared
# cache once carried /root/.pyenv/versions/3.11.7/lib into this package.
search_paths=()
for elf in "${elves[@]}"; do
  while IFS= read -r entry; do
    case "$entry" in
      '$ORIGIN' | '$ORIGIN/'* | '${ORIGIN}' | '${ORIGIN}/'*) ;;
      *) search_paths+=("${elf#"$env_root/"}: $entry") ;;
    esac
  done < <(readelf -d -W "$elf" | sed -nE 's/.*\((RPATH|RUNPATH)\).*\[(.*)\]$/\2/p' | tr ':' '\n')
done
if ((${#search_paths[@]})); then
  printf '  %s\n' "${search_paths[@]}" >&2
  die "compiled extensions carry a library search path into the build machine (above); they were built by another Python than $python. Hint: remove the stale wheel cache (~/.cache/aios-systemd-tests/wheels, or \$AIOS_WHEEL_CACHE) and build again"
fi

# dh_strip: what it does to a shared object (symbols not needed for relocation, .comment
# and .note), to every compiled extension.  Libraries auditwheel grafted into a manylinux
# wheel (a foo.libs/ directory, rewritten by patchelf) are left as they come: dh-virtualenv
# documents that stripping them can break them, and they come stripped.
stripped=0
for elf in "${elves[@]}"; do
  case "$elf" in */*.libs/*) continue ;; esac
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$elf"
  stripped=$((stripped + 1))
done

# Every extension module still loads on the environment's own Python: one that stripping
# broke, or that needs a library Debian does not provide, fails the build here.
generate "$PREFIX/bin/python" - "${elves[@]#"$stage"}" <<'PY' >&2 || die "a compiled extension does not load (above)"
import importlib, pathlib, sys, sysconfig
site = pathlib.Path(sysconfig.get_path("platlib"))
failed = 0
for path in map(pathlib.Path, sys.argv[1:]):
    if site not in path.parents:
        continue
    parts = [*path.relative_to(site).parent.parts, path.name.split(".", 1)[0]]
    if not all(part.isidentifier() for part in parts):
        continue  # a library bundled beside the modules (foo.libs/), not a module
    try:
        importlib.import_module(".".join(parts))
    except Exception as exc:
        failed += 1
        print(f"  {'.'.join(parts)}: {exc!r}")
sys.exit(1 if failed else 0)
PY
say "compiled extensions: ${#elves[@]}, $stripped stripped, none with a search path into the build machine"

# -- man pages ---------------------------------------------------------------------------------
# The wheel carries its pages in share/man/man1 (its build hook made them from the CLI
# table): move them to where man looks, so the package has them once.  An older version
# without them gets pages generated by python -m aios_systemd.cli.manpages OUTDIR.
if [ -d "$env_root/share/man/man1" ]; then
  mkdir -p "$work/man" "$stage/usr/share/man/man1"
  mv "$env_root"/share/man/man1/*.1 "$work/man/"
  rm -r "$env_root/share/man"
  rmdir "$env_root/share" 2>/dev/null || true
  pages=("$work"/man/*.1)
  [ -e "${pages[0]}" ] || die "the wheel's share/man/man1 holds no *.1 file"
  for page in "${pages[@]}"; do
    gzip -9n -c "$page" >"$stage/usr/share/man/man1/$(basename "$page").gz"
  done
  say "man pages (the wheel's): ${#pages[@]}"
elif has_module aios_systemd.cli.manpages; then
  mkdir -p "$work/man" "$stage/usr/share/man/man1"
  generate "$PREFIX/bin/python" -m aios_systemd.cli.manpages "$work/man" >&2 || die "generating the man pages failed"
  pages=("$work"/man/*.1)
  [ -e "${pages[0]}" ] || die "aios_systemd.cli.manpages wrote no *.1 file"
  for page in "${pages[@]}"; do
    gzip -9n -c "$page" >"$stage/usr/share/man/man1/$(basename "$page").gz"
  done
  say "man pages: ${#pages[@]}"
else
  warn "this version has no aios_systemd.cli.manpages: the package ships no man pages"
fi

# -- shell completions (aios-units completion SHELL: one script for every command) ------------
# Each shell loads completions by command name, so the one script is linked under every
# command it names; zsh reads the #compdef line of a single file instead.
declare -A completion_dirs=(
  [bash]=/usr/share/bash-completion/completions
  [zsh]=/usr/share/zsh/vendor-completions
  [fish]=/usr/share/fish/vendor_completions.d
)
declare -A completion_files=([bash]=aios-units [zsh]=_aios [fish]=aios-units.fish)
if has_module aios_systemd.cli.completion; then
  for shell in bash zsh fish; do
    generate "$PREFIX/bin/aios-units" completion "$shell" >"$work/completion.$shell" ||
      die "aios-units completion $shell failed"
    [ -s "$work/completion.$shell" ] || die "aios-units completion $shell printed nothing"
    dir=$stage${completion_dirs[$shell]}
    main=${completion_files[$shell]}
    mkdir -p "$dir"
    install -m 0644 "$work/completion.$shell" "$dir/$main"
    if [ "$shell" != zsh ]; then
      for cli in "${clis[@]}"; do
        name=$cli
        [ "$shell" = fish ] && name=$cli.fish
        if [ "$name" != "$main" ] && grep -qw -- "$cli" "$work/completion.$shell"; then
          ln -s "$main" "$dir/$name"
        fi
      done
    fi
    say "$shell completion: $(cd "$dir" && echo *)"
  done
else
  warn "this version has no aios_systemd.cli.completion: the package ships no shell completion"
fi

# -- documentation (dh_installdocs, dh_installchangelogs, dh_lintian) ---------------------------
doc=$stage/usr/share/doc/aios-systemd
mkdir -p "$doc"
install -m 0644 packaging/debian/copyright "$doc/copyright"
# The Debian changelog is packaging/debian/changelog, kept as dch(1) keeps one.  A build of
# a version it has no entry for yet (a development version) gets one on top, UNRELEASED,
# naming the commit, so the package still says what it is.
top=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version) || die "packaging/debian/changelog does not parse"
if [ "$top" = "$debversion" ]; then
  cp packaging/debian/changelog "$work/changelog"
else
  warn "packaging/debian/changelog has no entry for $debversion (its latest is $top): adding an UNRELEASED one (hint: dch --changelog packaging/debian/changelog -v $debversion)"
  commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || true)
  when=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
  {
    printf 'aios-systemd (%s) UNRELEASED; urgency=medium\n\n' "$debversion"
    printf '  * Development build of aios-systemd %s%s.\n\n' "$version" "${commit:+ (git $commit)}"
    printf ' -- %s  %s\n\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$when")"
    cat packaging/debian/changelog
  } >"$work/changelog"
fi
gzip -9n -c "$work/changelog" >"$doc/changelog.Debian.gz"
# What lintian reports and this package accepts, each with its reason.
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/aios-systemd"

# -- control ------------------------------------------------------------------------------------
# Shared-library dependencies of every compiled extension in the environment, as Debian
# names them (libc6, libsystemd0 for pystemd, ...); libraries that manylinux wheels bundle
# next to themselves are found through their RPATH and need nothing from Debian.
mkdir -p "$work/shlibs/debian"
printf 'Source: aios-systemd\n\nPackage: aios-systemd\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O --ignore-missing-info "${elves[@]}" 2>"$work/shlibdeps.err" |
         sed -n 's/^shlibs:Depends=//p') || { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
# systemd: the user manager the units run on, and systemd-analyze for calendars.
depends="python$pyver, ${shlibs:+$shlibs, }systemd"
say "Depends: $depends"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$debversion|" -e "s|@ARCH@|$arch|" -e "s|@DEPENDS@|$depends|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" \
    -e "s|@MAINTAINER@|$(printf '%s' "$maintainer" | sed 's/[\\|&]/\\&/g')|" \
    packaging/debian/control.in >"$stage/DEBIAN/control"
for script in prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
# dh_md5sums: what `dpkg --verify` checks the installed files against.
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r md5sum) \
  >"$stage/DEBIAN/md5sums"

rm -f "$outdir"/aios-systemd_*.deb
# xz is Debian's default and a third smaller, but takes about a minute on two cores for this
# tree; CI, which throws the package away, asks for gzip (a few seconds).
compression=${AIOS_DEB_COMPRESSION:-xz}
dpkg-deb --root-owner-group "-Z$compression" --build "$stage" "$deb" >&2
say "built $deb ($(du -h "$deb" | cut -f1))"

# Run with sudo, as the README says: what it made in a checkout its user owns goes back to
# that user, so the next build (or `git clean`) without sudo can replace it.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_UID:-}" ] && [ "$(stat -c %u "$repo")" = "$SUDO_UID" ]; then
  owner=$SUDO_UID:${SUDO_GID:-$SUDO_UID}
  chown -R "$owner" "$repo/build"
  case "$outdir/" in
    "$repo"/*) chown "$owner" "$outdir" "$outdir"/aios-systemd_*.deb "$outdir"/aios_systemd-* 2>/dev/null || true ;;
  esac
fi
printf '%s\n' "$deb"
