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
