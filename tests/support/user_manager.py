"""Pytest plugin: a REAL private ``systemd --user`` manager per session or per test.

See ``shared/reference/real-user-manager.md``: the manager runs in a private mount
namespace (so only it believes systemd booted), with brand-new ``XDG_RUNTIME_DIR``,
``XDG_CONFIG_HOME``, ``XDG_DATA_HOME`` and ``XDG_STATE_HOME``.  If it cannot start, the
fixture fails the test with the manager's own output; it never skips, so CI cannot go
green without a real manager.

Like a real one, each manager is isolated and starts small:

* **Its own cgroup.**  Inside the ``sh -c`` that ``exec``s it, the manager's process is
  moved into a cgroup named after the manager (both hierarchies of a hybrid layout, or the
  one of a pure cgroup v2 host), so a unit of one manager never shares a cgroup with the
  same-named unit of another (stopping ``x.service`` in one would otherwise kill the other's
  ``x.service``).  The directories are removed, depth first, once the manager has exited.
* **A small environment** (``env -i`` semantics), as ``user@UID.service`` gives one:
  ``HOME``, ``LANG``, ``LOGNAME``, ``USER``, ``SHELL``, ``PATH=/usr/local/bin:/usr/bin:/bin``,
  ``XDG_RUNTIME_DIR``, ``DBUS_SESSION_BUS_ADDRESS``, the harness's isolation variables
  (``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME``), and only what a test passes
  as ``extra_env``.  Nothing of the test process (no ``PYTHONPATH``, ``AIOS_*``,
  ``VIRTUAL_ENV``...) reaches the services it starts: a test says what its units need.

Two environments, kept apart:

* ``PrivateManager.env``: the *client* environment, for commands that talk to that manager
  (``systemctl --user``, ``aios-units``...): the test process's ``PATH``, ``HOME`` and
  ``LANG`` plus the variables that lead to this manager (``XDG_RUNTIME_DIR``,
  ``DBUS_SESSION_BUS_ADDRESS``, ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME``).
  It does not carry ``extra_env``: a test that wants a client to see a setting says so.
* ``PrivateManager.manager_env``: exactly what the manager was started with.

Fixtures:

* ``user_manager``: the session's manager; after each test every unit file in its unit
  directory is stopped, disabled and removed, so tests sharing it stay independent.
* ``fresh_user_manager``: a manager of its own for one test.
* ``user_manager_factory``: ``factory(extra_env={...})`` starts one with extra environment
  (the manager hands its environment to the services it starts); ``journal=True`` gives it
  a real ``systemd-journald`` in its namespace (run readers there: ``in_namespace``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
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
CGROUP_ROOT = Path("/sys/fs/cgroup")
# What user@UID.service gives a real manager as PATH (distributions add a little).
MANAGER_PATH = "/usr/local/bin:/usr/bin:/bin"
# The system tools the namespace script runs (unshare, sh, mount, mkdir) are found here.
_TOOLS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# $1 is the manager's PATH, the rest its cgroup directories: each is created and the shell
# (which then execs the manager, keeping its pid) moved into it before anything else.  The
# script itself runs its tools from _TOOLS_PATH; the manager gets its own PATH back, and
# not the PWD the shell exports.  (systemd 252 hands its services its built-in user PATH,
# not the one it was started with: PATH in extra_env does not reach a service.)
_NAMESPACE_SCRIPT = (
    "set -e; "
    "manager_path=$1; shift; "
    'for cg in "$@"; do mkdir "$cg"; echo $$ > "$cg/cgroup.procs"; done; '
    "mount --make-rprivate /; "
    "mount -t tmpfs tmpfs /run/systemd; "
    "mkdir -p /run/systemd/system; "
    "PATH=$manager_path; unset PWD OLDPWD; "
    f"exec {SYSTEMD} --user"
)
SYSTEMD_JOURNALD = "/lib/systemd/systemd-journald"
# With a journal: a real systemd-journald in the same private mount namespace, as on a
# booted system.  Its sockets go to the private /run/systemd/journal (where the manager
# connects its services' output and sends its own lines), its files to the test's own
# directory bound over /run/log (volatile storage: the host's journal is never touched),
# and it runs in a cgroup of its own beside the manager's.  $1 the manager's PATH, $2 the
# journal directory, then the manager's cgroup directories, each
# <hierarchy>/<base>.slice/user-<uid>.slice/user@<uid>.service: journald derives a line's
# _SYSTEMD_USER_UNIT (what `journalctl --user-unit` matches) from that path.
_JOURNALD_CONF = (
    "[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\n"
    "ForwardToConsole=no\nForwardToWall=no\n"
)
_JOURNAL_NAMESPACE_SCRIPT = (
    "set -e; "
    "manager_path=$1; journal_dir=$2; shift 2; "
    "mount --make-rprivate /; "
    "mount -t tmpfs tmpfs /run/systemd; "
    "mkdir -p /run/systemd/system /run/systemd/journal /run/systemd/journald.conf.d; "
    f"printf '{_JOURNALD_CONF}' > /run/systemd/journald.conf.d/aios-test.conf; "
    'mount --bind "$journal_dir" /run/log; '
    'sh -c \'for cg in "$@"; do mkdir -p "${cg%/*}/journald.service"; '
    'echo $$ > "${cg%/*}/journald.service/cgroup.procs"; done; '
    f'exec {SYSTEMD_JOURNALD}\' journald "$@" </dev/null & '
    "i=0; while [ ! -S /run/systemd/journal/stdout ]; do "
    "i=$((i+1)); [ $i -lt 1000 ] || { echo 'systemd-journald did not start' >&2; exit 1; }; sleep 0.01; done; "
    'for cg in "$@"; do mkdir -p "$cg"; echo $$ > "$cg/cgroup.procs"; done; '
    "PATH=$manager_path; unset PWD OLDPWD; "
    f"exec {SYSTEMD} --user --log-target=journal"
)


@dataclass
class PrivateManager:
    base: Path
    runtime_dir: Path
    config_home: Path
    home: Path
    env: dict[str, str]  # the client environment: how commands reach this manager
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    manager_env: dict[str, str] = field(default_factory=dict)  # what the manager itself got
    cgroups: tuple[Path, ...] = ()  # its own cgroup, one directory per hierarchy
    journal_dir: Path | None = None  # with a journal: journald's files (its /run/log)

    @property
    def unit_dir(self) -> Path:
        return self.config_home / "systemd" / "user"

    @property
    def data_home(self) -> Path:
        return Path(self.manager_env["XDG_DATA_HOME"])

    @property
    def state_home(self) -> Path:
        return Path(self.manager_env["XDG_STATE_HOME"])

    def connect(self) -> UserManager:
        return UserManager(self.env).open()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "<no output>"

    def alive(self) -> bool:
        return self.process.poll() is None

    def in_namespace(self, argv: list[str]) -> list[str]:
        """``argv`` to run in the manager's mount namespace, where its journal is the
        journal (``/run/systemd/journal``, ``/run/log``): ``journalctl`` or ``aios-units
        logs`` there read what this manager's services logged."""
        nsenter = shutil.which("nsenter", path=_TOOLS_PATH)
        if nsenter is None:
            raise RuntimeError("nsenter is missing: install util-linux")
        return [nsenter, f"--mount=/proc/{self.process.pid}/ns/mnt", "--", *argv]

    def clean(self) -> None:
        """Stop, disable and remove every unit file in the unit directory; reset failures;
        remove the timers' Persistent= stamps."""
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
        # Persistent= stamps outlive the units: a later test's timer of the same name would
        # fire at once on start (a catch-up) and leave a trigger that test did not make.
        stamps = self.data_home / "systemd" / "timers"
        for stamp in stamps.glob("stamp-*.timer") if stamps.is_dir() else ():
            stamp.unlink()


def _fresh_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o700)  # raises if it exists: never point a manager at an old directory
    path.chmod(0o700)  # whatever the umask
    return path


def cgroup_hierarchies(root: Path = CGROUP_ROOT) -> list[Path]:
    """Where a manager's own cgroup goes: the root of a pure cgroup v2 host, or both the
    named ``systemd`` hierarchy and the unified one of a hybrid layout."""
    if (root / "cgroup.controllers").exists():
        return [root]
    found = [root / name for name in ("systemd", "unified") if (root / name / "cgroup.procs").exists()]
    if not found:
        raise RuntimeError(f"no cgroup hierarchy for a private manager under {root}")
    return found


def _cgroup_pids(directory: Path) -> list[int]:
    pids: list[int] = []
    for sub, _dirs, _files in os.walk(directory):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(x) for x in (Path(sub) / "cgroup.procs").read_text().split()]
    return pids


def remove_cgroups(cgroups: tuple[Path, ...] | list[Path], timeout: float = STOP_TIMEOUT) -> None:
    """Remove a stopped manager's cgroups, depth first.  A process still in one can only be
    one the manager started (a unit it left behind, e.g. after a SIGKILL): it is killed."""
    deadline = time.monotonic() + timeout
    for top in cgroups:
        while top.exists():
            for pid in _cgroup_pids(top):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            for sub, _dirs, _files in os.walk(top, topdown=False):
                with contextlib.suppress(FileNotFoundError, OSError):
                    os.rmdir(sub)
            if not top.exists():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot remove the private manager's cgroup {top}: {_cgroup_pids(top)} still in it")
            time.sleep(0.02)


def _account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(os.getuid())
    except KeyError:
        return None


def manager_environment(runtime: Path, config: Path, data: Path, state: Path) -> dict[str, str]:
    """The small environment of a real ``user@UID.service`` manager, plus the harness's
    isolation variables (never anything of the test process)."""
    account = _account()
    home = account.pw_dir if account else os.environ.get("HOME", "/")
    user = account.pw_name if account else str(os.getuid())
    return {
        "HOME": home,
        "LANG": "C.UTF-8",
        "LOGNAME": user,
        "USER": user,
        "SHELL": (account.pw_shell if account else "") or "/bin/sh",
        "PATH": MANAGER_PATH,
        "XDG_RUNTIME_DIR": str(runtime),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus",
        # The harness's isolation: units, Persistent= timer stamps and state stay inside
        # the throwaway tree.
        "XDG_CONFIG_HOME": str(config),
        "XDG_DATA_HOME": str(data),
        "XDG_STATE_HOME": str(state),
    }


def client_environment(manager_env: Mapping[str, str]) -> dict[str, str]:
    """What a command needs to talk to the manager: the test process's PATH, HOME and LANG,
    and the variables that lead to this manager."""
    env = {
        "PATH": os.environ.get("PATH") or MANAGER_PATH,
        "HOME": os.environ.get("HOME") or manager_env["HOME"],
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    for name in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = manager_env[name]
    return env


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


def start_manager(extra_env: Mapping[str, str] | None = None, *, journal: bool = False) -> PrivateManager:
    if not Path(SYSTEMD).exists():
        raise RuntimeError(f"{SYSTEMD} is missing: install the systemd package")
    if journal and not Path(SYSTEMD_JOURNALD).exists():
        raise RuntimeError(f"{SYSTEMD_JOURNALD} is missing: install the systemd package")
    unshare = shutil.which("unshare", path=_TOOLS_PATH)
    if unshare is None:
        raise RuntimeError("unshare is missing: install util-linux")
    base = Path(tempfile.mkdtemp(prefix="aios-user-manager-"))
    # The temporary directory's name is unique on this host: so is the cgroup's.
    cgroups = tuple(h / (f"{base.name}.slice" if journal else base.name) for h in cgroup_hierarchies())
    uid = os.getuid()
    leaves = tuple(c / f"user-{uid}.slice" / f"user@{uid}.service" for c in cgroups) if journal else cgroups
    try:
        runtime = _fresh_dir(base, "runtime")
        config = _fresh_dir(base, "config")
        data = _fresh_dir(base, "data")
        state = _fresh_dir(base, "state")
        journal_dir = _fresh_dir(base, "log") if journal else None
        (config / "systemd" / "user").mkdir(parents=True)
        manager_env = {**manager_environment(runtime, config, data, state), **dict(extra_env or {})}
        log_path = base / "manager.log"
        script, args = _NAMESPACE_SCRIPT, [manager_env["PATH"]]
        if journal_dir is not None:
            script, args = _JOURNAL_NAMESPACE_SCRIPT, [manager_env["PATH"], str(journal_dir)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [unshare, "-m", "sh", "-c", script, "sh", *args, *map(str, leaves)],
                env={**manager_env, "PATH": _TOOLS_PATH},  # the script's tools only; exec below
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pm = PrivateManager(
            base,
            runtime,
            config,
            Path(manager_env["HOME"]),
            client_environment(manager_env),
            process,
            log_path,
            dict(extra_env or {}),
            manager_env,
            cgroups,
            journal_dir,
        )
        try:
            _wait_running(pm)
        except BaseException:
            stop_manager(pm)
            raise
        return pm
    except BaseException:
        remove_cgroups(cgroups)
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
        try:
            remove_cgroups(pm.cgroups)
        finally:
            shutil.rmtree(pm.base, ignore_errors=True)


@contextlib.contextmanager
def private_manager(extra_env: Mapping[str, str] | None = None, *, journal: bool = False) -> Iterator[PrivateManager]:
    pm = start_manager(extra_env, journal=journal)
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

    def factory(extra_env: Mapping[str, str] | None = None, *, journal: bool = False) -> PrivateManager:
        pm = start_manager(extra_env, journal=journal)
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
