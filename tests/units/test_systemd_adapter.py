"""The pystemd adapter against a real private user manager (no mocks of systemd)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aios_systemd.errors import BusUnavailableError, ExitCode
from aios_systemd.units import systemd as sd

pytestmark = pytest.mark.user_manager

SERVICE = "[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
TIMER = "[Timer]\nOnCalendar=*-*-* 0/4:00:00\nPersistent=true\n[Install]\nWantedBy=timers.target\n"


def _write_pair(unit_dir: Path, stem: str, calendar: str = "*-*-* 0/4:00:00") -> None:
    (unit_dir / f"{stem}.service").write_text(SERVICE)
    (unit_dir / f"{stem}.timer").write_text(TIMER.replace("*-*-* 0/4:00:00", calendar))


def test_facts_report_a_running_manager(user_manager):
    with user_manager.connect() as mgr:
        facts = mgr.facts()
        mgr.reload()
        reloaded = mgr.facts()
    assert facts.system_state == "running"
    # The manager's own version, as the systemd we started says it ("systemd 252 (252.39-1~deb12u2)").
    installed = subprocess.run(["systemctl", "--version"], capture_output=True, text=True, check=True).stdout
    assert facts.version.split(".")[0].split("-")[0] == installed.split()[1]
    assert reloaded.units_load_usec > facts.units_load_usec  # every daemon-reload moves it


def test_reads_loaded_timer_and_normalized_calendar(user_manager):
    _write_pair(user_manager.unit_dir, "probe")
    with user_manager.connect() as mgr:
        mgr.reload()
        mgr.enable(["probe.timer"])
        mgr.wait_job(mgr.start("probe.timer"))
        units = mgr.units(["probe.timer", "probe.service", "absent.timer"])
    timer = units["probe.timer"]
    assert timer.loaded and timer.active_state == "active"
    assert timer.unit_file_state == "enabled"
    assert timer.calendars == ("*-*-* 00/4:00:00",)
    assert timer.next_elapse_usec is not None
    assert timer.fragment_path == str(user_manager.unit_dir / "probe.timer")
    assert timer.drop_in_paths == ()
    assert units["probe.service"].unit_file_state == "static"
    assert units["absent.timer"].load_state == "not-found"


def test_need_daemon_reload_turns_true_when_the_file_changes(user_manager):
    _write_pair(user_manager.unit_dir, "probe")
    with user_manager.connect() as mgr:
        mgr.reload()
        # Only a unit the manager keeps loaded (here: an active timer) can go stale; an
        # unreferenced one is simply loaded afresh from disk on the next read.
        mgr.wait_job(mgr.start("probe.timer"))
        assert not mgr.unit("probe.timer").need_daemon_reload
        _write_pair(user_manager.unit_dir, "probe", "hourly")
        assert mgr.unit("probe.timer").need_daemon_reload
        before = mgr.facts().units_load_usec
        mgr.reload()
        assert mgr.facts().units_load_usec > before
        unit = mgr.unit("probe.timer")
    assert not unit.need_daemon_reload
    assert unit.calendars == ("*-*-* *:00:00",)


def test_read_cost_does_not_grow_with_foreign_units(fresh_user_manager):
    """1 ListUnitsByNames + 1 GetAll per unit of ours + 1 GetUnitFileState per timer of
    ours, whatever the manager has loaded."""
    pm = fresh_user_manager
    _write_pair(pm.unit_dir, "ours")
    ours = ["ours.service", "ours.timer"]

    def cost() -> int:
        with pm.connect() as mgr:
            before = mgr.calls
            units = mgr.units(ours)
            assert all(u.loaded for u in units.values())
            return mgr.calls - before

    with pm.connect() as mgr:
        mgr.reload()
    alone = cost()
    for i in range(50):
        _write_pair(pm.unit_dir, f"foreign-{i}")
    with pm.connect() as mgr:
        mgr.reload()
        mgr.enable([f"foreign-{i}.timer" for i in range(50)])
        for i in range(50):
            mgr.start(f"foreign-{i}.timer")
    crowded = cost()
    assert alone == crowded == 1 + len(ours) + 1


def test_uses_the_given_environment_not_os_environ(user_manager, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent-runtime")
    with sd.UserManager(user_manager.env) as mgr:
        assert mgr.facts().system_state == "running"


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({}, "not set"),
        ({"XDG_RUNTIME_DIR": "relative/dir"}, "absolute"),
        ({"XDG_RUNTIME_DIR": "/"}, "no user manager"),
    ],
)
def test_bus_unreachable_is_a_clear_exit_2(env, why, tmp_path):
    with pytest.raises(BusUnavailableError) as info:
        sd.UserManager(env)
    assert why in info.value.message
    assert info.value.exit_code == ExitCode.USAGE
    assert "XDG_RUNTIME_DIR" in (info.value.hint or "")


def test_manager_going_away_is_bus_unavailable(fresh_user_manager):
    mgr = fresh_user_manager.connect()
    try:
        mgr._call(b"Exit")
        fresh_user_manager.process.wait(10)
        with pytest.raises(BusUnavailableError):
            mgr.facts()
    finally:
        mgr.close()


def test_analyze_calendars_normalizes_and_lists_elapses():
    infos = sd.analyze_calendars(["*-*-* 0/4:00:00", "hourly"], os.environ, iterations=3)
    assert [i.normalized for i in infos] == ["*-*-* 00/4:00:00", "*-*-* *:00:00"]
    assert all(len(i.next_elapses) == 3 for i in infos)


def test_analyze_calendars_refuses_a_bad_expression():
    with pytest.raises(Exception) as info:
        sd.analyze_calendars(["not a calendar"], os.environ)
    assert getattr(info.value, "hint", None)


def test_lingering_reads_the_linger_directory(tmp_path):
    name = sd.user_name()
    assert name
    assert not sd.lingering(linger_dir=tmp_path)
    (tmp_path / name).touch()
    assert sd.lingering(linger_dir=tmp_path)


def test_usec_to_iso():
    assert sd.usec_to_iso(None) is None
    assert sd.usec_to_iso(sd.USEC_INFINITY) is None
    assert sd.usec_to_iso(1_700_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_service_reads_carry_what_drift_needs(user_manager):
    # Services are read over the Unit interface only: their file state, fragment, drop-ins
    # and reload flag must still arrive.
    _write_pair(user_manager.unit_dir, "svcprobe")
    with user_manager.connect() as mgr:
        mgr.reload()
        mgr.enable(["svcprobe.timer"])
        mgr.wait_job(mgr.start("svcprobe.timer"))  # an active timer keeps its service loaded
        service = mgr.units(["svcprobe.service"])["svcprobe.service"]
        assert service.loaded and service.unit_file_state == "static"
        assert Path(service.fragment_path) == user_manager.unit_dir / "svcprobe.service"
        (user_manager.unit_dir / "svcprobe.service").write_text(SERVICE.replace("probe", "changed"))
        assert mgr.units(["svcprobe.service"])["svcprobe.service"].need_daemon_reload


def test_analyzer_identity_follows_the_binary_on_the_clean_path(tmp_path, monkeypatch):
    from aios_systemd import proc

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.setattr(proc, "CLEAN_PATH", f"{first}{os.pathsep}{second}")
    assert sd.analyzer_identity() == "missing"
    not_executable = first / sd.ANALYZE
    not_executable.write_text("#!/bin/sh\n")
    assert sd.analyzer_identity() == "missing"  # skipped, as a shell would
    found = second / sd.ANALYZE
    found.write_text("#!/bin/sh\necho one\n")
    found.chmod(0o755)
    one = sd.analyzer_identity()
    assert one.startswith(f"{found}:")
    found.write_text("#!/bin/sh\necho a different build\n")
    assert sd.analyzer_identity() != one
    not_executable.chmod(0o755)
    assert sd.analyzer_identity().startswith(f"{not_executable}:")  # first on PATH wins


_BINDING_PROBE = """
import json, os, sys
from aios_systemd.units import systemd as sd
with sd.UserManager(os.environ) as mgr:
    state = mgr.facts().system_state
seen = {"state": state, "lxml": "lxml" in sys.modules, "object_layer": "pystemd.base" in sys.modules}
bus_class = sys.modules["pystemd.dbuslib"].DBusAddress
import pystemd
from pystemd import DBus, SDUnit  # first use beyond the binding: the real __init__ runs now
seen["complete"] = callable(SDUnit) and DBus is pystemd.DBus and "lxml" in sys.modules
seen["same_binding"] = pystemd.dbuslib.DBusAddress is bus_class and pystemd.SDUnit is pystemd.systemd1.Unit
print(json.dumps(seen))
"""


def test_binding_loads_without_the_object_layer_and_leaves_pystemd_whole(user_manager):
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _BINDING_PROBE],
        env={**os.environ, **user_manager.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen == {"state": "running", "lxml": False, "object_layer": False, "complete": True, "same_binding": True}


def test_binding_reuses_a_fully_imported_pystemd(user_manager):
    import pystemd.dbuslib

    dbuslib, dbusexc = sd._binding()
    assert dbuslib is pystemd.dbuslib and dbusexc.DBusBaseError is pystemd.dbusexc.DBusBaseError
    with user_manager.connect() as mgr:
        assert mgr.facts().system_state == "running"
