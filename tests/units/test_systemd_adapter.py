"""The pystemd adapter against a real private user manager (no mocks of systemd)."""

from __future__ import annotations

import os
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
    assert facts.system_state == "running"
    assert facts.version.startswith("25")
    assert facts.units_load_usec >= 0  # 0 until the first daemon-reload


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
    """1 ListUnitsByNames + 1 GetAll per unit of ours, whatever the manager has loaded."""
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
    assert alone == crowded == 1 + len(ours)


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
