"""The installed Debian package, driven through /usr/bin as a user would.

Collected only with ``AIOS_DEB_INSTALLED=1`` (see ``conftest.py``), which
``scripts/ci-packaging.sh`` sets after ``dpkg -i``; it purges the package afterwards and
checks that nothing is left, which a test cannot do from inside.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.packaging import installed
from tests.support.user_manager import PrivateManager

PREFIX = Path("/opt/aios-systemd")
USR_BIN = Path("/usr/bin")
AIOS_RUN = PREFIX / "bin" / "aios-run"


def _dpkg_query(*args: str) -> str:
    done = subprocess.run(["dpkg-query", *args, "aios-systemd"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"aios-systemd is not installed: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def package_version() -> str:
    assert _dpkg_query("-W", "-f=${Status}") == "install ok installed"
    # The package's version is the wheel's in Debian spelling (0.2.0~rc1-1); --version
    # prints the Python one, which the environment's own metadata has.
    done = subprocess.run(
        [str(PREFIX / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('aios-systemd'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    version = done.stdout.strip()
    debian = _dpkg_query("-W", "-f=${Version}")
    assert debian.rsplit("-", 1)[0].replace("~", "") == version.replace(".dev", "dev"), (debian, version)
    return version


def test_commands_are_links_into_the_environment(package_version: str) -> None:
    for cli in installed.CLIS:
        link = USR_BIN / cli
        assert link.is_symlink() and os.readlink(link) == str(PREFIX / "bin" / cli), link
        assert link.resolve().is_file()


def test_environment_runs_on_debians_python(package_version: str) -> None:
    interpreter = (PREFIX / "bin" / "python").resolve()
    assert interpreter.parent == USR_BIN and interpreter.name.startswith("python3."), interpreter
    cfg = dict(line.split(" = ", 1) for line in (PREFIX / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    assert cfg["home"] == "/usr/bin"
    assert (PREFIX / "bin" / "aios-run").read_text().splitlines()[0] == f"#!{PREFIX}/bin/python", "shebang"


def test_every_packaged_file_is_there(package_version: str) -> None:
    missing = [p for p in _dpkg_query("-L").splitlines() if p.startswith("/") and not os.path.lexists(p)]
    assert missing == []


def test_man_pages_are_where_man_looks_and_only_there(package_version: str) -> None:
    """The wheel's pages (share/man/man1) move to /usr/share/man/man1: shipped once."""
    pages = sorted(Path("/usr/share/man/man1").glob("aios-*.1.gz"))
    assert [p.name for p in pages] == sorted(f"{cli}.1.gz" for cli in installed.CLIS)
    assert not (PREFIX / "share" / "man").exists()


def test_installed_files_match_the_packaged_md5sums(package_version: str) -> None:
    """``dpkg --verify`` checks every file against the package's md5sums: none may be
    missing from them, and nothing the CLIs did so far (byte-code, caches) changed a file."""
    assert Path("/var/lib/dpkg/info/aios-systemd.md5sums").is_file(), "the package ships no md5sums"
    done = subprocess.run(["dpkg", "--verify", "aios-systemd"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _elves() -> list[Path]:
    found = []
    for dirpath, _dirs, files in os.walk(PREFIX):
        for name in files:
            path = Path(dirpath, name)
            if not path.is_symlink():
                with path.open("rb") as f:
                    if f.read(4) == b"\x7fELF":
                        found.append(path)
    return sorted(found)


def _dynamic_search_paths(elf: Path) -> list[str]:
    """RPATH and RUNPATH entries, from ``readelf -d`` and, as a second opinion, ``objdump -p``."""
    readelf = subprocess.run(["readelf", "-d", "-W", str(elf)], capture_output=True, text=True, check=True).stdout
    objdump = subprocess.run(["objdump", "-p", str(elf)], capture_output=True, text=True, check=True).stdout
    from_readelf = [
        entry
        for line in readelf.splitlines()
        if "(RPATH)" in line or "(RUNPATH)" in line
        for entry in line.rsplit("[", 1)[1].rstrip("]").split(":")
    ]
    from_objdump = [
        entry
        for line in objdump.splitlines()
        if line.split()[:1] in (["RPATH"], ["RUNPATH"])
        for entry in line.split(None, 1)[1].strip().split(":")
    ]
    assert sorted(from_readelf) == sorted(from_objdump), (elf, readelf, objdump)
    return from_readelf


def test_compiled_extensions_have_no_search_path_into_the_build_machine(package_version: str) -> None:
    """pystemd built from its sdist by pyenv's Python (through a wheel cache it shared with
    the Debian build) carried RUNPATH /root/.pyenv/versions/3.11.7/lib: the package's
    extensions are built by Debian's python3.X and may only search beside themselves."""
    elves = _elves()
    assert any(elf.parent.name == "pystemd" for elf in elves), elves
    outside = {
        str(elf.relative_to(PREFIX)): paths
        for elf in elves
        if (paths := [p for p in _dynamic_search_paths(elf) if not p.startswith(("$ORIGIN", "${ORIGIN}"))])
    }
    assert outside == {}


def test_compiled_extensions_are_stripped(package_version: str) -> None:
    unstripped = []
    for elf in _elves():
        sections = subprocess.run(["readelf", "-S", "-W", str(elf)], capture_output=True, text=True, check=True)
        if " .symtab " in sections.stdout or " .comment " in sections.stdout:
            unstripped.append(str(elf.relative_to(PREFIX)))
    assert unstripped == []


def test_pystemd_links_debians_libsystemd(package_version: str) -> None:
    """Every library pystemd's extensions need resolves, from Debian's own directories."""
    for elf in (PREFIX / "lib").glob("python3.*/site-packages/pystemd/*.so"):
        ldd = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=True).stdout
        assert "not found" not in ldd, ldd
        libsystemd = [line for line in ldd.splitlines() if "libsystemd.so" in line]
        for line in libsystemd:
            target = line.split("=>", 1)[1].split()[0]
            assert target.startswith(("/lib/", "/usr/lib/")), line


def test_no_packaged_file_names_the_build_machine(package_version: str) -> None:
    """No file mentions a pyenv interpreter or the staging directory of the build."""
    argv = ["grep", "-rlF", "-e", "/.pyenv/", "-e", "/build/deb/root/", str(PREFIX)]
    hits = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert hits.stdout == ""


def test_changelog_is_debians_and_names_this_version(package_version: str) -> None:
    changelog = Path("/usr/share/doc/aios-systemd/changelog.Debian.gz")
    assert changelog.is_file() and not changelog.is_symlink()
    done = subprocess.run(
        ["dpkg-parsechangelog", "-l", str(changelog), "-S", "Version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == _dpkg_query("-W", "-f=${Version}")


# What the package may tell lintian to accept (packaging/debian/lintian-overrides, reasons
# in docs/packaging.md).  A new override is a packaging decision: add it here on purpose.
ACCEPTED_OVERRIDES = {
    "dir-or-file-in-opt",
    "package-installs-python-pycache-dir",
    "embedded-library",
    "unusual-interpreter",
    "initial-upload-closes-no-bugs",
}


def test_lintian_overrides_are_the_accepted_ones(package_version: str) -> None:
    overrides = Path("/usr/share/lintian/overrides/aios-systemd").read_text()
    tags = {
        line.split(":", 1)[1].split()[0] for line in overrides.splitlines() if line.strip() and not line.startswith("#")
    }
    assert tags == ACCEPTED_OVERRIDES


def test_each_cli_runs_from_usr_bin(package_version: str, tmp_path: Path) -> None:
    installed.check_help_and_version(USR_BIN, package_version, tmp_path)
    installed.check_status(USR_BIN, tmp_path)


def test_render_points_exec_start_at_the_environment(package_version: str, tmp_path: Path) -> None:
    installed.check_render(USR_BIN, AIOS_RUN, tmp_path)


@pytest.mark.user_manager
def test_unit_from_the_package_runs_on_a_user_manager(
    package_version: str, tmp_path: Path, user_manager_factory: Callable[[Mapping[str, str]], PrivateManager]
) -> None:
    installed.check_unit_flow(USR_BIN, AIOS_RUN, tmp_path, user_manager_factory)
