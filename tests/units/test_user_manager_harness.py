"""The test harness's private user managers are isolated and start like real ones.

Each manager runs in a cgroup of its own (so a same-named unit of another manager is never
touched) that is gone once the manager is, and starts from the small environment of a real
``user@UID.service`` manager: nothing of the test process reaches the services it starts.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.user_manager import (
    MANAGER_PATH,
    PrivateManager,
    cgroup_hierarchies,
    start_manager,
    stop_manager,
)

pytestmark = pytest.mark.user_manager

SERVICE = "harness-sleep.service"
SMALL_ENV = {"HOME", "LANG", "LOGNAME", "USER", "SHELL", "PATH", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"}
ISOLATION_ENV = {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"}


# Set by the manager for each service (systemd.exec(5)), or by its environment generators.
_SERVICE_OWN = {
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "PWD",
    "SHLVL",
    "_",
    "QT_ACCESSIBILITY",
    "SSH_AUTH_SOCK",
    "GNUPGHOME",
}


def _write_sleep_service(pm: PrivateManager) -> None:
    (pm.unit_dir / SERVICE).write_text("[Unit]\nDescription=harness sleep\n\n[Service]\nExecStart=/bin/sleep 600\n")


def _start_sleep(pm: PrivateManager) -> int:
    _write_sleep_service(pm)
    with pm.connect() as mgr:
        mgr.reload()
        mgr.wait_job(mgr.start(SERVICE), 30)
        assert mgr.unit(SERVICE).active_state == "active", pm.output()
    pid = _main_pid(pm)
    assert pid > 0
    return pid


def _main_pid(pm: PrivateManager) -> int:
    import subprocess

    shown = subprocess.run(
        ["systemctl", "--user", "show", "-p", "MainPID", "--value", SERVICE],
        env=pm.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(shown.stdout.strip())


def _active_state(pm: PrivateManager) -> str:
    with pm.connect() as mgr:
        return mgr.unit(SERVICE).active_state


def _cgroup_lines(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cgroup").read_text().splitlines()


def _process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if item)


def test_each_manager_has_its_own_cgroup_on_every_hierarchy(
    user_manager_factory: Callable[..., PrivateManager],
) -> None:
    first, second = user_manager_factory(), user_manager_factory()
    assert first.cgroups and second.cgroups
    assert {c.parent for c in first.cgroups} == set(cgroup_hierarchies())
    assert {c.name for c in first.cgroups} != {c.name for c in second.cgroups}
    for pm in (first, second):
        name = pm.cgroups[0].name
        lines = _cgroup_lines(pm.process.pid)
        # the manager moved itself to init.scope below the cgroup the harness gave it
        tracked = [line for line in lines if line.startswith("0::") or ":name=systemd:" in line]
        assert tracked and all(f"/{name}/" in line for line in tracked), lines
        for cgroup in pm.cgroups:
            assert cgroup.is_dir()


def test_stopping_a_unit_in_one_manager_leaves_the_same_named_unit_of_another_running(
    user_manager_factory: Callable[..., PrivateManager],
) -> None:
    first, second = user_manager_factory(), user_manager_factory()
    first_pid, second_pid = _start_sleep(first), _start_sleep(second)
    assert first_pid != second_pid
    for pm, pid in ((first, first_pid), (second, second_pid)):
        name = pm.cgroups[0].name
        assert all(f"/{name}/app.slice/{SERVICE}" in line for line in _cgroup_lines(pid) if line.startswith("0::"))

    with first.connect() as mgr:
        mgr.wait_job(mgr.stop(SERVICE), 30)
    assert _active_state(first) in ("inactive", "failed")
    time.sleep(0.3)  # a stray SIGTERM to the other manager's unit would have landed by now
    assert _active_state(second) == "active", second.output()
    assert _main_pid(second) == second_pid
    os.kill(second_pid, 0)  # still alive


def test_the_cgroups_are_removed_after_the_manager_exits() -> None:
    pm = start_manager()
    try:
        cgroups = pm.cgroups
        _start_sleep(pm)
        assert all(c.is_dir() for c in cgroups)
    finally:
        stop_manager(pm)
    assert not any(c.exists() for c in cgroups)


def test_a_killed_managers_units_are_ended_and_its_cgroups_removed() -> None:
    """A manager that dies without stopping its units (SIGKILL) leaves their processes in its
    cgroup: the harness ends them (they are its own) and still removes the directories."""
    pm = start_manager()
    try:
        cgroups = pm.cgroups
        sleeper = _start_sleep(pm)
        pm.process.send_signal(signal.SIGKILL)
        pm.process.wait(10)
        os.kill(sleeper, 0)  # the unit outlived its manager
    finally:
        stop_manager(pm)
    assert not any(c.exists() for c in cgroups)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{sleeper}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{sleeper}").exists() or "Z" in Path(f"/proc/{sleeper}/stat").read_text().split()[2]


def test_the_manager_starts_from_a_small_environment(
    user_manager_factory: Callable[..., PrivateManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a test process typically carries: none of it may reach the manager.
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    monkeypatch.setenv("AIOS_SCHEDULER_ROOT", "/nowhere")
    monkeypatch.setenv("VIRTUAL_ENV", "/nowhere")
    monkeypatch.setenv("VITE_CLAUDE_OS_ENABLED_EXTENSIONS", "trend-finder")
    pm = user_manager_factory({"HARNESS_EXTRA": "yes"})

    assert _process_env(pm.process.pid) == pm.manager_env
    assert set(pm.manager_env) == SMALL_ENV | ISOLATION_ENV | {"HARNESS_EXTRA"}
    assert pm.manager_env["PATH"] == MANAGER_PATH
    assert pm.manager_env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={pm.runtime_dir}/bus"
    assert stat.S_IMODE(pm.runtime_dir.stat().st_mode) == 0o700
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert Path(pm.manager_env[name]).parent == pm.base

    # What a service of this manager really gets.
    out = pm.base / "service-env"
    (pm.unit_dir / "harness-env.service").write_text(f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'env > {out}'\n")
    with pm.connect() as mgr:
        mgr.reload()
        mgr.wait_job(mgr.start("harness-env.service"), 30)
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert seen["HARNESS_EXTRA"] == "yes"
    assert seen["HOME"] == pm.manager_env["HOME"]
    assert seen["XDG_STATE_HOME"] == pm.manager_env["XDG_STATE_HOME"]
    leaked = sorted(k for k in seen if k in ("PYTHONPATH", "VIRTUAL_ENV") or k.startswith(("AIOS_", "VITE_")))
    assert leaked == [], leaked
    from_test = sorted(k for k in seen if k in os.environ and k not in pm.manager_env and k not in _SERVICE_OWN)
    assert from_test == [], f"the test process's environment reached a service: {from_test}"


def test_the_client_environment_leads_to_the_manager_and_nothing_else(
    user_manager_factory: Callable[..., PrivateManager],
) -> None:
    import subprocess

    pm = user_manager_factory({"HARNESS_EXTRA": "yes"})
    assert "HARNESS_EXTRA" not in pm.env  # what the manager got is not what a client gets
    for name in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert pm.env[name] == pm.manager_env[name]
    done = subprocess.run(
        ["systemctl", "--user", "show-environment"], env=pm.env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "HARNESS_EXTRA=yes" in done.stdout.splitlines()
