"""Every drift state, provoked for real on a private user manager, plus the pure comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aios_systemd.units import drift
from aios_systemd.units.drift import Expected, Finding, InstalledFile
from aios_systemd.units.stamp import Ownership, stamp
from aios_systemd.units.systemd import LoadedUnit
from tests.support.user_manager import UnitsSandbox, units_cli

JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
TIMER = f"ai-os-{JOB}.timer"


def _diff(sb: UnitsSandbox, capsys, *jobs: str) -> tuple[int, dict]:
    code, out, err = units_cli(sb, capsys, "diff", *jobs, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def _unit(doc: dict, name: str) -> dict:
    return next(u for u in doc["units"] if u["name"] == name)


def _install(sb: UnitsSandbox, capsys, *extra: str) -> None:
    code, out, err = units_cli(sb, capsys, "install", JOB, *extra)
    assert code == 0, out + err


pytestmark = pytest.mark.user_manager


def test_missing_then_in_sync(units_sandbox, capsys):
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    assert _unit(doc, SERVICE)["findings"] == ["missing"]
    assert _unit(doc, TIMER)["findings"] == ["missing"]
    _install(units_sandbox, capsys)
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 0, doc
    timer = _unit(doc, TIMER)
    assert timer["state"] == "in-sync"
    assert timer["loaded"]["calendars"] == ["*-*-* 00/4:00:00"]
    assert timer["expectedCalendars"] == ["*-*-* 00/4:00:00"]
    assert timer["loaded"]["nextElapse"].endswith("Z")


def test_cadence_change_is_changed_and_calendar_mismatch(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    units_sandbox.write_config({JOB: {"cadence": "hourly"}})
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    timer = _unit(doc, TIMER)
    assert {"changed", "calendar-mismatch"} <= set(timer["findings"])
    assert timer["expectedCalendars"] == ["*-*-* *:00:00"]
    assert "-OnCalendar=*-*-* 0/4:00:00" in timer["diff"]
    assert "+OnCalendar=hourly" in timer["diff"]
    assert _unit(doc, SERVICE)["state"] == "in-sync"
    # install converges: the new calendar is what the manager runs.
    _install(units_sandbox, capsys)
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 0, doc
    assert _unit(doc, TIMER)["loaded"]["calendars"] == ["*-*-* *:00:00"]


def test_hand_edit_is_reported_with_a_diff_and_needs_reload(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    path = units_sandbox.unit_dir / TIMER
    path.write_text(path.read_text().replace("Persistent=true", "Persistent=false"))
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    timer = _unit(doc, TIMER)
    assert timer["state"] == "hand-edited"
    assert timer["installed"] == "hand-edited"
    # the active timer stays loaded, so the manager notices the file changed under it
    assert "needs-daemon-reload" in timer["findings"]
    assert "-Persistent=false" in timer["diff"] and "+Persistent=true" in timer["diff"]


def test_foreign_file_is_unmanaged(units_sandbox, capsys):
    (units_sandbox.unit_dir / SERVICE).write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    unit = _unit(doc, SERVICE)
    assert unit["state"] == "unmanaged" and unit["installed"] == "foreign"


def test_intent_off_makes_installed_units_orphans(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    units_sandbox.write_config({JOB: {"timerEnabled": False}})
    code, doc = _diff(units_sandbox, capsys)
    assert code == 1
    assert _unit(doc, SERVICE)["state"] == "orphan"
    assert _unit(doc, TIMER)["state"] == "orphan"
    # jobs whose intent is off and that have nothing installed are not reported at all
    assert not [u for u in doc["units"] if u["jobId"] == "aggregate"]


def test_unknown_job_file_is_an_orphan(units_sandbox, capsys):
    name = "ai-os-retired-job.timer"
    (units_sandbox.unit_dir / name).write_text(stamp("[Timer]\nOnCalendar=daily\n"))
    code, doc = _diff(units_sandbox, capsys)
    assert code == 1
    assert _unit(doc, name)["state"] == "orphan"


def test_not_enabled_and_not_active(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    with units_sandbox.pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    assert _unit(doc, TIMER)["findings"] == ["not-active"]
    with units_sandbox.pm.connect() as mgr:
        mgr.disable([TIMER])
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert set(_unit(doc, TIMER)["findings"]) == {"not-enabled", "not-active"}
    _install(units_sandbox, capsys)
    assert _diff(units_sandbox, capsys, JOB)[0] == 0


def test_a_drop_in_changing_when_the_timer_fires_overrides_it(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    dropin = units_sandbox.unit_dir / f"{TIMER}.d"
    dropin.mkdir()
    (dropin / "override.conf").write_text("[Timer]\nAccuracySec=1h\n")
    with units_sandbox.pm.connect() as mgr:
        mgr.reload()
    code, doc = _diff(units_sandbox, capsys, JOB)
    assert code == 1
    timer = _unit(doc, TIMER)
    assert timer["findings"] == ["overridden"]
    assert any(n.startswith(f"drop-in {TIMER}.d/override.conf") and "AccuracySec" in n for n in timer["notes"])


def test_unit_loaded_from_another_directory_is_shadowed(units_sandbox, capsys):
    other = Path(units_sandbox.pm.env["XDG_DATA_HOME"]) / "systemd" / "user"
    other.mkdir(parents=True)
    (other / SERVICE).write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    try:
        with units_sandbox.pm.connect() as mgr:
            mgr.reload()
        _code, doc = _diff(units_sandbox, capsys, JOB)
        unit = _unit(doc, SERVICE)
        assert set(unit["findings"]) == {"missing", "shadowed"}
        assert any("another directory" in n for n in unit["notes"])
    finally:  # the session's manager outlives this test: so would the copy
        (other / SERVICE).unlink()
        with units_sandbox.pm.connect() as mgr:
            mgr.reload()


def test_unloadable_file_is_not_loaded(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    with units_sandbox.pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
        mgr.disable([TIMER])
    # A timer without any trigger is refused by systemd ("bad-setting").
    (units_sandbox.unit_dir / TIMER).write_text(stamp("[Timer]\nPersistent=true\n"))
    with units_sandbox.pm.connect() as mgr:
        mgr.reload()
    _code, doc = _diff(units_sandbox, capsys, JOB)
    timer = _unit(doc, TIMER)
    assert {"changed", "not-loaded"} <= set(timer["findings"])


def test_symlinked_unit_is_unreadable_and_not_followed(units_sandbox, capsys, tmp_path):
    target = tmp_path / "elsewhere.service"
    target.write_text("[Service]\nExecStart=/bin/true\n")
    (units_sandbox.unit_dir / SERVICE).symlink_to(target)
    _code, doc = _diff(units_sandbox, capsys, JOB)
    unit = _unit(doc, SERVICE)
    assert unit["state"] == "unreadable"
    assert unit["installed"] is None


def test_report_carries_no_private_path(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    path = units_sandbox.unit_dir / SERVICE
    path.write_text(path.read_text() + "# edited\n")
    _code, out, _ = units_cli(units_sandbox, capsys, "diff", "--json")
    assert str(units_sandbox.project) not in out
    assert str(units_sandbox.unit_dir) not in out
    assert units_sandbox.pm.env["HOME"] + "/" not in out
    ctx = units_sandbox.context()
    assert ctx.privacy.violations(json.loads(out)) == []


def test_diff_dbus_calls_do_not_grow_with_foreign_units(units_sandbox, capsys):
    _install(units_sandbox, capsys)
    _, before = _diff(units_sandbox, capsys)
    for i in range(50):
        (units_sandbox.unit_dir / f"foreign-{i}.service").write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
        (units_sandbox.unit_dir / f"foreign-{i}.timer").write_text(
            "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n"
        )
    with units_sandbox.pm.connect() as mgr:
        mgr.reload()
        mgr.enable([f"foreign-{i}.timer" for i in range(50)])
        for i in range(50):
            mgr.start(f"foreign-{i}.timer")
    _, after = _diff(units_sandbox, capsys)
    assert before["dbusCalls"] == after["dbusCalls"]
    # one ListUnitsByNames + one GetAll per unit of ours the manager knows + the timer's
    # enablement as the files on disk say
    assert after["dbusCalls"] == 1 + 2 + 1


# -- the pure comparison --------------------------------------------------------------------
def _loaded(name: str, **kw) -> LoadedUnit:
    base = {
        "load_state": "loaded",
        "active_state": "active",
        "sub_state": "waiting",
        "unit_file_state": "enabled",
        "fragment_path": f"/u/{name}",
    }
    base.update(kw)
    return LoadedUnit(name, **base)


def _compare(exp: Expected, text: str | None, loaded: LoadedUnit | None, bus: bool = True):
    installed = {exp.name: InstalledFile(exp.name, text, drift.classify(text) if text else None)}
    return drift.compare(
        [exp],
        installed,
        {exp.name: loaded} if bus and loaded else ({} if bus else None),
        unit_dir=Path("/u"),
        redact=lambda s: s,
    ).units[0]


def test_compare_in_sync_and_states_by_severity():
    body = stamp("[Timer]\nOnCalendar=hourly\n")
    exp = Expected(TIMER, JOB, "timer", True, body, ("*-*-* *:00:00",))
    unit = _compare(exp, body, _loaded(TIMER, calendars=("*-*-* *:00:00",)))
    assert unit.in_sync and unit.findings == ()
    unit = _compare(
        exp, body, _loaded(TIMER, calendars=("*-*-* 00/4:00:00",), need_daemon_reload=True, active_state="inactive")
    )
    assert unit.findings == (Finding.NEEDS_DAEMON_RELOAD, Finding.CALENDAR_MISMATCH, Finding.NOT_ACTIVE)
    assert unit.state is Finding.NEEDS_DAEMON_RELOAD


def test_compare_without_bus_judges_files_only():
    body = stamp("[Timer]\nOnCalendar=hourly\n")
    exp = Expected(TIMER, JOB, "timer", True, body, ())
    unit = _compare(exp, stamp("[Timer]\nOnCalendar=daily\n"), None, bus=False)
    assert unit.findings == (Finding.CHANGED,)
    assert unit.installed is Ownership.OURS
    assert unit.loaded is None


def test_report_to_dict_is_camel_case_and_json_ready():
    body = stamp("[Service]\n")
    exp = Expected(SERVICE, JOB, "service", True, body)
    report = drift.compare([exp], {}, None, unit_dir=Path("/u"), redact=lambda s: s)
    doc = report.to_dict()
    json.dumps(doc)
    assert doc["inSync"] is False and doc["busChecked"] is False
    assert doc["units"][0]["jobId"] == JOB and doc["units"][0]["findings"] == ["missing"]
    assert "rendered" not in doc["units"][0]


def _report(name: str, *findings: Finding, job: str = JOB) -> drift.UnitReport:
    return drift.UnitReport(name, job, name.rsplit(".", 1)[1], True, findings, Ownership.OURS, None)


@pytest.mark.parametrize(
    ("findings", "hint"),
    [
        ((Finding.MISSING,), "run 'aios-units install agent-aggregate'"),
        ((Finding.CHANGED, Finding.CALENDAR_MISMATCH), "run 'aios-units install agent-aggregate'"),
        ((Finding.NOT_ENABLED, Finding.NOT_ACTIVE), "run 'aios-units install agent-aggregate'"),
        ((Finding.HAND_EDITED,), "run 'aios-units install agent-aggregate --force' to replace the hand-edited"),
        ((Finding.ORPHAN,), "run 'aios-units uninstall agent-aggregate' to remove what no job wants"),
        ((Finding.OVERRIDDEN,), f"{TIMER}: aios-systemd never edits or removes your drop-ins"),
        ((Finding.OVERRIDDEN, Finding.NEEDS_DAEMON_RELOAD), "run 'systemctl --user daemon-reload'"),
        ((Finding.UNMANAGED,), f"{TIMER}: aios-systemd never overwrites or removes a unit it did not generate"),
        ((Finding.SHADOWED,), f"'systemctl --user cat {TIMER}' shows where it is"),
    ],
)
def test_fix_hint_names_the_command_that_converges(findings: tuple[Finding, ...], hint: str) -> None:
    found = drift.fix_hint([_report(SERVICE), _report(TIMER, *findings)])
    assert found is not None and hint in found, found


def test_fix_hint_groups_jobs_and_is_none_in_sync() -> None:
    assert drift.fix_hint([_report(SERVICE), _report(TIMER)]) is None
    units = [
        _report(TIMER, Finding.NOT_ENABLED),
        _report(SERVICE, Finding.CHANGED),
        _report("ai-os-dream.timer", Finding.MISSING, job="dream"),
        _report("ai-os-retired.timer", Finding.ORPHAN, job="retired"),
    ]
    assert drift.fix_hint(units) == (
        "run 'aios-units install agent-aggregate dream'; run 'aios-units uninstall retired' to remove what no job wants"
    )


def test_diff_ends_drift_with_the_hint_that_converges(units_sandbox, capsys):
    code, out, _ = units_cli(units_sandbox, capsys, "diff", JOB)
    assert code == 1 and out.splitlines()[-2:] == ["2 of 2 unit(s) drift", f"hint: run 'aios-units install {JOB}'"]
    _install(units_sandbox, capsys)
    code, out, _ = units_cli(units_sandbox, capsys, "diff", JOB)
    assert code == 0 and "hint:" not in out
    assert _diff(units_sandbox, capsys, JOB)[1]["hint"] is None
    with units_sandbox.pm.connect() as mgr:
        mgr.disable([TIMER])
    code, out, _ = units_cli(units_sandbox, capsys, "diff", JOB)
    assert code == 1 and out.splitlines()[-2:] == ["1 of 2 unit(s) drift", f"hint: run 'aios-units install {JOB}'"]
    units_sandbox.write_config({JOB: {"timerEnabled": False}})
    code, doc = _diff(units_sandbox, capsys)
    assert code == 1 and doc["hint"].endswith(f"; run 'aios-units uninstall {JOB}' to remove what no job wants"), doc
    assert doc["hint"].startswith("run 'aios-units install ") and JOB not in doc["hint"].split(";")[0]


def test_dropin_dirs_are_systemds_most_specific_first() -> None:
    assert drift.dropin_dirs(SERVICE) == [
        f"{SERVICE}.d",
        "ai-os-agent-.service.d",
        "ai-os-.service.d",
        "ai-.service.d",
        "service.d",
    ]


def test_find_dropins_takes_the_first_of_each_name_and_skips_masked_ones(tmp_path: Path) -> None:
    high, low = tmp_path / "high", tmp_path / "low"
    for base, directory, name in [
        (high, f"{TIMER}.d", "override.conf"),
        (low, f"{TIMER}.d", "override.conf"),  # hidden by the one above
        (low, "timer.d", "10-all.conf"),
        (high, "ai-os-.timer.d", "notes.txt"),  # not a .conf
    ]:
        (base / directory).mkdir(parents=True, exist_ok=True)
        (base / directory / name).write_text("[Timer]\n")
    (high / "timer.d").mkdir()
    (high / "timer.d" / "20-masked.conf").symlink_to("/dev/null")
    found = drift.find_dropins(TIMER, [str(high), str(low), str(tmp_path / "absent")])
    assert found == (str(low / "timer.d" / "10-all.conf"), str(high / f"{TIMER}.d" / "override.conf"))


def test_a_drop_in_is_labelled_by_the_units_it_applies_to() -> None:
    """systemd reads a unit's own drop-in directory, its type's (service.d) and each name
    prefix's up to a dash (ai-os-.service.d): the label says which, never the path."""
    from aios_systemd.units.drift import dropin_label

    unit_dir = Path("/home/someone/.config/systemd/user")
    labels = {
        f"{unit_dir}/ai-os-agent-aggregate.service.d/override.conf": "(in the unit directory, for this unit)",
        f"{unit_dir}/ai-os-.service.d/10-x.conf": "(in the unit directory, for every ai-os-* service)",
        f"{unit_dir}/service.d/10-x.conf": "(in the unit directory, for every user service)",
        "/usr/lib/systemd/user/timer.d/x.conf": "(system-wide, for every user timer)",
        "/etc/systemd/user/ai-.timer.d/x.conf": "(system-wide, for every ai-* timer)",
        "/srv/units/ai-os-dream.timer.d/x.conf": "(another unit directory, for this unit)",
    }
    for path, scope in labels.items():
        label = dropin_label(path, unit_dir)
        assert label.endswith(scope) and "/home/someone" not in label, (path, label)
