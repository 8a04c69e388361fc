"""Pytest plugin: a REAL private ``systemd --user`` manager per session or per test.

See ``shared/reference/real-user-manager.md``: the manager runs in a private mount
namespace (so only it believes systemd booted), with brand-new ``XDG_RUNTIME_DIR`` and
``XDG_CONFIG_HOME``.  If it cannot start, the fixture fails the test with the manager's
own output; it never skips, so CI cannot go green without a real manager.

Fixtures:

* ``user_manager``: the session's manager; after each test every unit file in its unit
  directory is stopped, disabled and removed, so tests sharing it stay independent.
* ``fresh_user_manager``: a manager of its own for one test.
* ``user_manager_factory``: ``factory(extra_env={...})`` starts one with extra environment
  (the manager hands its environment to the services it starts).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aios_systemd.units.systemd import UserManager

SYSTEMD = "/lib/systemd/systemd"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_NAMESPACE_SCRIPT = (
    "mount --make-rprivate / && "
    "mount -t tmpfs tmpfs /run/systemd && "
    "mkdir -p /run/systemd/system && "
    f"exec {SYSTEMD} --user"
)


@dataclass
class PrivateManager:
    base: Path
    runtime_dir: Path
    config_home: Path
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def unit_dir(self) -> Path:
        return self.config_home / "systemd" / "user"

    def connect(self) -> UserManager:
        return UserManager(self.env).open()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "<no output>"

    def alive(self) -> bool:
        return self.process.poll() is None

    def clean(self) -> None:
        """Stop, disable and remove every unit file in the unit directory; reset failures."""
        names = sorted(p.name for p in self.unit_dir.iterdir() if p.suffix in (".service", ".timer"))
        with self.connect() as mgr:
            for name in names:
                if name.endswith(".timer"):
                    with contextlib.suppress(Exception):
                        mgr.wait_job(mgr.stop(name), 10)
            if names:
                with contextlib.suppress(Exception):
                    mgr.disable(names)
            for entry in list(self.unit_dir.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            mgr.reload()
            for name in names:
                mgr.reset_failed(name)


def _fresh_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o700)  # raises if it exists: never point a manager at an old directory
    return path


def _wait_running(pm: PrivateManager) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not pm.alive():
            code = pm.process.returncode
            raise RuntimeError(f"systemd --user exited with code {code} before it was ready:\n{pm.output()}")
        if (pm.runtime_dir / "systemd" / "private").exists() or (pm.runtime_dir / "bus").exists():
            try:
                with pm.connect() as mgr:
                    state = mgr.facts().system_state
                if state == "running":
                    return
                last = f"SystemState={state}"
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                last = repr(exc)
        time.sleep(0.02)
    raise RuntimeError(f"systemd --user did not reach 'running' within {READY_TIMEOUT}s ({last}):\n{pm.output()}")


def start_manager(extra_env: Mapping[str, str] | None = None) -> PrivateManager:
    if not Path(SYSTEMD).exists():
        raise RuntimeError(f"{SYSTEMD} is missing: install the systemd package")
    base = Path(tempfile.mkdtemp(prefix="aios-user-manager-"))
    try:
        runtime = _fresh_dir(base, "runtime")
        config = _fresh_dir(base, "config")
        data = _fresh_dir(base, "data")
        state = _fresh_dir(base, "state")
        (config / "systemd" / "user").mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME") or str(Path.home()),
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(config),
            # Persistent= timer stamps and the like stay inside the throwaway tree.
            "XDG_DATA_HOME": str(data),
            "XDG_STATE_HOME": str(state),
            **dict(extra_env or {}),
        }
        log_path = base / "manager.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["unshare", "-m", "sh", "-c", _NAMESPACE_SCRIPT],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pm = PrivateManager(base, runtime, config, Path(env["HOME"]), env, process, log_path, dict(extra_env or {}))
        try:
            _wait_running(pm)
        except BaseException:
            _stop(pm)
            raise
        return pm
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _stop(pm: PrivateManager) -> None:
    if pm.alive():
        with contextlib.suppress(Exception), pm.connect() as mgr:
            mgr._call(b"Exit")
        try:
            pm.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pm.process.kill()
            pm.process.wait(STOP_TIMEOUT)


def stop_manager(pm: PrivateManager) -> None:
    try:
        _stop(pm)
    finally:
        shutil.rmtree(pm.base, ignore_errors=True)


@contextlib.contextmanager
def private_manager(extra_env: Mapping[str, str] | None = None) -> Iterator[PrivateManager]:
    pm = start_manager(extra_env)
    try:
        yield pm
    finally:
        stop_manager(pm)


@pytest.fixture(scope="session")
def _session_user_manager() -> Iterator[PrivateManager]:
    with private_manager() as pm:
        yield pm


@pytest.fixture
def user_manager(_session_user_manager: PrivateManager) -> Iterator[PrivateManager]:
    pm = _session_user_manager
    if not pm.alive():
        pytest.fail(f"the session's systemd --user manager died:\n{pm.output()}")
    yield pm
    pm.clean()


@pytest.fixture
def fresh_user_manager() -> Iterator[PrivateManager]:
    with private_manager() as pm:
        yield pm


@pytest.fixture
def user_manager_factory() -> Iterator[Callable[..., PrivateManager]]:
    started: list[PrivateManager] = []

    def factory(extra_env: Mapping[str, str] | None = None) -> PrivateManager:
        pm = start_manager(extra_env)
        started.append(pm)
        return pm

    yield factory
    for pm in reversed(started):
        stop_manager(pm)


# -- a project + scheduler root wired to a manager, for aios-units tests -------------------
@dataclass
class UnitsSandbox:
    pm: PrivateManager
    project: Path
    scheduler_root: Path

    @property
    def env(self) -> dict[str, str]:
        return {**self.pm.env, "AIOS_PROJECT_ROOT": str(self.project), "AIOS_SCHEDULER_ROOT": str(self.scheduler_root)}

    @property
    def unit_dir(self) -> Path:
        return self.pm.unit_dir

    def write_config(self, jobs: Mapping[str, object]) -> None:
        import json

        path = self.project / "data" / "ai-os.scheduler.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schemaVersion": 1, "jobs": dict(jobs)}))

    def context(self):  # type: ignore[no-untyped-def]
        from aios_systemd.context import Context

        return Context.from_environ(self.env)

    def reloads(self) -> int:
        """The manager's last (re)load time: it changes on every daemon-reload."""
        with self.pm.connect() as mgr:
            return mgr.facts().units_load_usec


def units_cli(
    sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], *argv: str, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """``aios-units ARGV`` in-process with the sandbox's environment: (code, stdout, stderr)."""
    from aios_systemd.cli.units import main

    capsys.readouterr()
    code = main(list(argv), environ=dict(env if env is not None else sandbox.env))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def units_sandbox(user_manager: PrivateManager, tmp_path: Path) -> Iterator[UnitsSandbox]:
    from tests.support.safe_dirs import safe_directory

    with safe_directory("project-") as project:
        yield UnitsSandbox(user_manager, project, tmp_path / "scheduler")
