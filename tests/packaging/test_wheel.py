"""The wheel and sdist from ``python -m build``, and the wheel installed the way
``pipx install FILE`` / ``uv tool install FILE`` would: a fresh venv of its own, driven only
through its console scripts.

``AIOS_WHEEL`` and ``AIOS_SDIST`` name prebuilt artifacts (``scripts/ci-packaging.sh`` builds
once and passes them); without them the session builds its own with
``scripts/build-dist.sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.packaging import installed
from tests.support.user_manager import PrivateManager

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel)."""
    given = os.environ.get("AIOS_SDIST"), os.environ.get("AIOS_WHEEL")
    if all(given):
        return Path(given[0] or ""), Path(given[1] or "")
    if any(given):
        pytest.fail("set both AIOS_SDIST and AIOS_WHEEL, or neither")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [str(REPO / "scripts" / "build-dist.sh"), "--outdir", str(out)],
        env={**os.environ, "AIOS_BUILD_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    sdist, wheel = done.stdout.split()
    return Path(sdist), Path(wheel)


@pytest.fixture(scope="session")
def wheel_bin(artifacts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv with only the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("wheel-env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run(
        [str(REPO / "packaging" / "install-wheel.sh"), str(venv / "bin" / "python"), str(artifacts[1])],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def _package_data() -> list[str]:
    """Every non-Python file of the package, reached through the templates symlink too."""
    found = []
    for dirpath, dirnames, filenames in os.walk(REPO / "aios_systemd", followlinks=True):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        rel = Path(dirpath).relative_to(REPO)
        found += [(rel / name).as_posix() for name in filenames if not name.endswith((".py", ".pyc"))]
    return sorted(found)


def test_artifacts_carry_templates_and_package_data(artifacts: tuple[Path, Path]) -> None:
    sdist, wheel = artifacts
    expected = _package_data()
    assert any(name.startswith("aios_systemd/templates/units/") and name.endswith(".j2") for name in expected)
    assert "aios_systemd/data/live-data.example.json" in expected
    wheel_names = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        sdist_names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert [n for n in expected if n not in wheel_names] == []
    assert [n for n in expected if n not in sdist_names] == []
    # The license travels with both artifacts (pyproject declares MIT; the text is the file).
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel_names), sorted(wheel_names)
    assert "LICENSE" in sdist_names


def test_wheel_declares_every_console_script(artifacts: tuple[Path, Path]) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(installed.CLIS)
    with zipfile.ZipFile(artifacts[1]) as whl:
        name = next(n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = whl.read(name).decode()
    for cli in installed.CLIS:
        assert f"{cli} = " in entry_points, entry_points


def test_wheel_carries_the_man_pages(artifacts: tuple[Path, Path], wheel_bin: Path, tmp_path: Path) -> None:
    """Generated from the table at build time (hatch_build.py) into share/man/man1, which
    an installer puts beside bin/: pipx links it into ~/.local/share/man."""
    from aios_systemd.cli.manpages import page
    from aios_systemd.cli.spec import COMMANDS

    with zipfile.ZipFile(artifacts[1]) as whl:
        pages = {n.rsplit("/", 1)[1]: whl.read(n).decode() for n in whl.namelist() if "/share/man/man1/" in n}
    assert sorted(pages) == sorted(f"{prog}.1" for prog in COMMANDS)
    for prog, program in COMMANDS.items():
        text = pages[f"{prog}.1"]
        date = text.split('"')[5]  # .TH "NAME" "1" "DATE" ...: the build's date
        assert text == page(program, date), prog
    man_dir = wheel_bin.parent / "share" / "man"
    assert sorted(p.name for p in (man_dir / "man1").iterdir()) == sorted(pages)
    env = {**installed.clean_env(), "MANWIDTH": "80"}
    shown = installed.run(["man", "-M", str(man_dir), "aios-units"], env, tmp_path)
    assert shown.returncode == 0 and "EXIT STATUS" in shown.stdout, shown.stderr


def test_installed_wheel_stands_alone(wheel_bin: Path, tmp_path: Path) -> None:
    probe = (
        "import aios_systemd, importlib.resources as r; print(aios_systemd.__file__); "
        "print(' '.join(sorted(p.name for p in (r.files('aios_systemd') / 'templates' / 'units').iterdir())))"
    )
    done = installed.run([str(wheel_bin / "python"), "-c", probe], installed.clean_env(), tmp_path)
    assert done.returncode == 0, done.stderr
    where, templates = done.stdout.splitlines()
    assert Path(where).is_relative_to(wheel_bin.parent), where
    assert templates.split() == ["job.service.j2", "job.timer.j2", "notify.service.j2"]


def test_each_cli_runs_from_the_install(wheel_bin: Path, artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    version = artifacts[1].name.split("-")[1]
    installed.check_help_and_version(wheel_bin, version, tmp_path)
    installed.check_status(wheel_bin, tmp_path)


def test_render_points_exec_start_at_this_install(wheel_bin: Path, tmp_path: Path) -> None:
    installed.check_render(wheel_bin, wheel_bin / "aios-run", tmp_path)


@pytest.mark.user_manager
def test_unit_from_the_install_runs_on_a_user_manager(
    wheel_bin: Path, tmp_path: Path, user_manager_factory: Callable[[Mapping[str, str]], PrivateManager]
) -> None:
    installed.check_unit_flow(wheel_bin, wheel_bin / "aios-run", tmp_path, user_manager_factory)
