"""What the live manager does is what status, diff and doctor report (a real private
``systemd --user``; no mocks): a failing service, a trigger no run followed, enablement as
the unit files on disk say."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support.user_manager import UnitsSandbox, units_cli

pytestmark = pytest.mark.user_manager

JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
TIMER = f"ai-os-{JOB}.timer"


def _status(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> dict:
    from aios_systemd.cli.status import main

    capsys.readouterr()
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(sb.env)
    try:
        code = main(["--job", JOB, "--json"])
    finally:
        os.environ.clear()
        os.environ.update(old)
    out, err = capsys.readouterr()
    assert code == 0, err
    doc: dict = json.loads(out)
    return doc


def _install(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = units_cli(sb, capsys, "install", JOB)
    assert code == 0, out + err


def _doctor(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = units_cli(sb, capsys, "doctor", "--json")
    doc: dict = json.loads(out)
    assert code == (0 if doc["healthy"] else 1), err
    return {c["check"]: c for c in doc["checks"]}


def _start_failing(sb: UnitsSandbox) -> None:
    """Start the job's service by hand, as its timer would, and see it fail."""
    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.start(SERVICE), timeout=60)
        assert mgr.unit(SERVICE).active_state == "failed"


def test_a_moved_checkout_fails_the_service_and_status_says_so(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    _install(sb, capsys)
    # The checkout moves away: every trigger now fails before aios-run (200/CHDIR).
    moved = sb.project.with_name(sb.project.name + "-moved")
    sb.project.rename(moved)
    try:
        _start_failing(sb)
        moved.rename(sb.project)
        doc = _status(sb, capsys)
        problem = doc["timer"]["problem"]
        assert problem["kind"] == "service-failed" and "200/CHDIR" in problem["detail"], problem
        assert doc["timer"]["service"]["exit"] == "200/CHDIR"
        assert "aios-units install" in problem["hint"]
        assert doc["nextSteps"][0].startswith("Timer runs fail: ai-os-agent-aggregate.service failed (200/CHDIR)")
        assert str(sb.project) not in json.dumps(doc)
        checks = _doctor(sb, capsys)
        assert not checks["timer runs"]["ok"] and checks["timer runs"]["detail"].startswith(f"{JOB}: ")
        code, out, _ = units_cli(sb, capsys, "doctor")
        assert code == 1 and "FAIL  timer runs" in out
    finally:
        if moved.exists():
            moved.rename(sb.project)


def test_installing_from_where_the_checkout_lives_now_clears_the_old_units_failure(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint for 200/CHDIR is 'install from the checkout where it lives now': doing so
    replaces the unit and clears the failure it had; a rerun finds nothing to do, and a
    service that fails again with the new unit is reported again."""
    sb = units_sandbox
    _install(sb, capsys)
    moved = sb.project.with_name(sb.project.name + "-moved")
    sb.project.rename(moved)
    try:
        _start_failing(sb)
        there = UnitsSandbox(sb.pm, moved, sb.scheduler_root)
        # Triggers and unit files are compared in whole seconds: install in a later one
        # than the catch-up trigger the first install may have caused.
        time.sleep(1.01 - time.time() % 1.0)
        code, out, err = units_cli(there, capsys, "install", JOB)
        assert code == 0, out + err
        assert f"reset-failed {SERVICE} (clears the failure, 200/CHDIR, of the unit replaced here)" in out
        doc = _status(there, capsys)
        assert doc["timer"]["problem"] is None and doc["timer"]["service"]["activeState"] == "inactive"
        code, out, _ = units_cli(there, capsys, "install", JOB)
        assert code == 0 and "nothing to do" in out and "reset-failed" not in out
        # The new unit fails too (its checkout moves again): that failure is its own.
        moved.rename(sb.project)
        _start_failing(sb)
        assert _status(sb, capsys)["timer"]["problem"]["kind"] == "service-failed"
    finally:
        if moved.exists():
            moved.rename(sb.project)


def test_a_failure_or_a_missing_run_under_an_overriding_drop_in_names_the_drop_in(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service ran what a drop-in put there, not aios-run: no log of ours says why, so
    the hint points at the drop-in (diff names it) rather than at the logs."""
    sb = units_sandbox
    _install(sb, capsys)
    dropin = _dropin(sb, f"{SERVICE}.d", "override.conf", "[Service]\nExecStart=\nExecStart=/bin/false\n")
    try:
        _start_failing(sb)
        problem = _status(sb, capsys)["timer"]["problem"]
        assert problem["kind"] == "service-failed", problem
        assert problem["hint"].startswith(f"a drop-in changes what {SERVICE} runs: 'aios-units diff {JOB}' names it")
        checks = _doctor(sb, capsys)
        assert checks["timer runs"]["hint"] == problem["hint"]
    finally:
        dropin.unlink()
        with sb.pm.connect() as mgr:
            mgr.reload()
            mgr.reset_failed(SERVICE)


def test_doctor_fails_a_service_whose_pinned_project_root_is_gone_before_it_fails(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkout moved and no trigger has failed yet: doctor already names the unit."""
    from aios_systemd.units.report import moved_root_hint

    sb = units_sandbox
    _install(sb, capsys)
    checks = _doctor(sb, capsys)
    assert checks["pinned roots"]["level"] == "ok", checks["pinned roots"]
    moved = sb.project.with_name(sb.project.name + "-moved")
    sb.project.rename(moved)
    try:
        # Asked from where the checkout lives now.
        here = UnitsSandbox(sb.pm, moved, sb.scheduler_root)
        checks = _doctor(here, capsys)
        roots = checks["pinned roots"]
        assert roots["level"] == "fail", roots
        assert roots["detail"].endswith(f"not a directory: {SERVICE}"), roots
        assert roots["hint"] == moved_root_hint(JOB)
        assert "run 'aios-units install agent-aggregate' from the checkout where it lives now" in roots["hint"]
        assert checks["installed units"]["level"] == "ok"  # its aios-run is still there
        code, out, _ = units_cli(here, capsys, "doctor")
        assert code == 1 and "FAIL  pinned roots" in out
        assert str(sb.project) not in out and str(moved) not in out
        # Something else in its place that is no directory is no better.
        sb.project.write_text("")
        assert _doctor(here, capsys)["pinned roots"]["level"] == "fail"
        sb.project.unlink()
    finally:
        moved.rename(sb.project)
    assert _doctor(sb, capsys)["pinned roots"]["level"] == "ok"


def test_a_trigger_no_run_followed_is_shown(units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """A real trigger whose service dies before aios-run, its failure then reset (as
    `systemctl --user reset-failed` does): only the trigger is left to tell."""
    sb = units_sandbox
    _install(sb, capsys)
    moved = sb.project.with_name(sb.project.name + "-moved")
    stamp = Path(sb.pm.env["XDG_DATA_HOME"]) / "systemd" / "timers" / f"stamp-{TIMER}"
    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
        # A Persistent= timer whose stamp predates the last elapse fires as soon as it starts.
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (time.time() - 30 * 3600, time.time() - 30 * 3600))
        sb.project.rename(moved)
        try:
            mgr.wait_job(mgr.start(TIMER))
            deadline = time.monotonic() + 30
            while mgr.unit(SERVICE).active_state != "failed" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert mgr.unit(SERVICE).active_state == "failed", sb.pm.output()
            assert mgr.unit(TIMER).last_trigger_usec is not None
            mgr.reset_failed(SERVICE)
        finally:
            moved.rename(sb.project)
    doc = _status(sb, capsys)
    assert doc["latestRun"]["state"] == "first-run" and doc["timer"]["service"]["activeState"] == "inactive"
    problem = doc["timer"]["problem"]
    assert problem is not None and problem["kind"] == "trigger-without-run", doc["timer"]
    assert "aios-units logs agent-aggregate" in problem["hint"]
    # A run recorded after the trigger answers it.
    from aios_systemd.cli.run import main as run_main

    os_env = dict(os.environ)
    os.environ.update(sb.env)
    try:
        assert run_main([JOB]) == 0
    finally:
        os.environ.clear()
        os.environ.update(os_env)
    assert _status(sb, capsys)["timer"]["problem"] is None


def test_doctor_counts_timers_that_ran_apart_from_ones_that_have_not_fired(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], user_manager_factory
) -> None:
    pm = user_manager_factory()  # no timer stamps of earlier tests
    sb = UnitsSandbox(pm, units_sandbox.project, units_sandbox.scheduler_root)
    for job in (JOB, "trend-finder"):
        code, out, err = units_cli(sb, capsys, "install", job)
        assert code == 0, out + err
    runs = _doctor(sb, capsys)["timer runs"]
    assert runs["level"] == "ok" and runs["detail"] == "2 job timer(s) have not fired yet", runs
    # agent-aggregate's timer fires (a Persistent= stamp older than its latest elapse) and its run succeeds.
    stamp = pm.data_home / "systemd" / "timers" / f"stamp-{TIMER}"
    with pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (time.time() - 30 * 3600, time.time() - 30 * 3600))
        mgr.wait_job(mgr.start(TIMER))
    deadline = time.monotonic() + 60
    doc = _status(sb, capsys)
    while time.monotonic() < deadline:  # until the triggered run is recorded and its service done
        if doc["latestRun"].get("finishedAt") and (doc["timer"]["service"] or {}).get("activeState") == "inactive":
            break
        time.sleep(0.1)
        doc = _status(sb, capsys)
    assert doc["latestRun"]["state"] == "success" and doc["timer"]["lastTrigger"], (doc, pm.output())
    runs = _doctor(sb, capsys)["timer runs"]
    assert runs["level"] == "ok", runs
    assert runs["detail"] == "the manager ran 1 job timer(s) without a failure; 1 job timer(s) have not fired yet"


def test_enablement_comes_from_disk_not_the_cached_state(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    _install(sb, capsys)
    with sb.pm.connect() as mgr:
        mgr.disable([TIMER])  # `systemctl --user disable --no-reload`: the cache still says enabled
        assert not (sb.unit_dir / "timers.target.wants" / TIMER).exists()
    code, out, err = units_cli(sb, capsys, "diff", JOB, "--json")
    assert code == 1, out + err
    units = {u["name"]: u for u in json.loads(out)["units"]}
    assert "not-enabled" in units[TIMER]["findings"] and units[TIMER]["loaded"]["unitFileState"] == "disabled"
    assert _status(sb, capsys)["timer"]["unitFileState"] == "disabled"


# -- drop-ins, judged by what they change ------------------------------------------------
FEDORA_DROPIN = "[Service]\nTimeoutStopFailureMode=abort\n"


def _dropin(sb: UnitsSandbox, directory: str, name: str, text: str) -> Path:
    path = sb.unit_dir / directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with sb.pm.connect() as mgr:
        mgr.reload()
    return path


def _diff_units(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code, out, err = units_cli(sb, capsys, "diff", JOB, "--json")
    assert code in (0, 1), err
    human = units_cli(sb, capsys, "diff", JOB)[1]
    return code, {u["name"]: u for u in json.loads(out)["units"]}, human


def test_a_distribution_drop_in_that_changes_nothing_of_ours_extends_the_unit(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fedora's service.d/10-timeout-abort.conf applies to every user service: shown, not drift."""
    sb = units_sandbox
    _install(sb, capsys)
    _dropin(sb, "service.d", "10-timeout-abort.conf", FEDORA_DROPIN)
    code, units, human = _diff_units(sb, capsys)
    assert code == 0, human
    service = units[SERVICE]
    assert service["state"] == "in-sync" and service["findings"] == ["extended"], service
    assert "service.d/10-timeout-abort.conf (in the unit directory, for every user service)" in service["notes"][0]
    assert "extended" in human and "in sync" in human
    assert _status(sb, capsys)["timer"]["drift"] == "in-sync"
    code, out, err = units_cli(sb, capsys, "install", JOB)
    assert code == 0 and "nothing to do" in out, out + err


@pytest.mark.parametrize(
    ("directory", "text", "setting"),
    [
        (f"{SERVICE}.d", '[Service]\nExecStart=\nExecStart=/bin/sh -c "echo replaced"\n', "ExecStart"),
        (f"{SERVICE}.d", "[Service]\nEnvironment=AIOS_PROJECT_ROOT=/srv/elsewhere\n", "Environment"),
        (f"{SERVICE}.d", "[Service]\nExecStartPre=/bin/true\n", "ExecStartPre"),
        (f"{SERVICE}.d", "[Service]\nTimeoutSec=5\n", "TimeoutStartSec"),
        ("service.d", "[Service]\nWorkingDirectory=/tmp\n", "WorkingDirectory"),
        (f"{TIMER}.d", "[Timer]\nOnCalendar=\nOnCalendar=minutely\n", "OnCalendar"),
        (f"{TIMER}.d", "[Timer]\nPersistent=false\n", "Persistent"),
    ],
)
def test_a_drop_in_that_changes_a_setting_of_ours_is_drift_naming_it(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], directory: str, text: str, setting: str
) -> None:
    sb = units_sandbox
    _install(sb, capsys)
    _dropin(sb, "service.d", "10-timeout-abort.conf", FEDORA_DROPIN)  # a harmless one beside it
    _dropin(sb, directory, "override.conf", text)
    code, units, human = _diff_units(sb, capsys)
    unit = units[TIMER if directory.startswith(TIMER) else SERVICE]
    assert code == 1 and "overridden" in unit["findings"], unit
    note = next(n for n in unit["notes"] if n.startswith("drop-in "))
    assert f"{directory}/override.conf" in note and setting in note and "10-timeout-abort" not in note, note
    assert "/srv/elsewhere" not in human and str(sb.unit_dir) not in human
    assert _status(sb, capsys)["timer"]["drift"] != "in-sync"


def test_doctor_fails_a_drop_in_that_makes_the_timer_run_something_else(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    checks = _doctor(sb, capsys)
    assert checks["unit drift"]["level"] == "ok" and checks["unit drift"]["detail"] == "no units installed yet"
    _install(sb, capsys)
    # trend-finder and dream are not installed: not drift of what is installed.
    checks = _doctor(sb, capsys)
    assert checks["unit drift"]["level"] == "ok", checks["unit drift"]
    assert checks["unit drift"]["detail"].startswith("2 installed unit(s)")
    _dropin(sb, "service.d", "10-timeout-abort.conf", FEDORA_DROPIN)  # extends: still ok
    assert _doctor(sb, capsys)["unit drift"]["level"] == "ok"
    _dropin(sb, f"{SERVICE}.d", "override.conf", '[Service]\nExecStart=\nExecStart=/bin/sh -c "echo replaced"\n')
    drift = _doctor(sb, capsys)["unit drift"]
    assert drift["level"] == "fail", drift
    detail, hint = drift["detail"], drift["hint"]
    assert f"{SERVICE} overridden: drop-in {SERVICE}.d/override.conf (in the unit directory, for this unit)" in detail
    assert "ExecStart" in detail and "10-timeout-abort" not in detail
    assert hint.startswith("'aios-units diff' shows it; ") and "never edits or removes your drop-ins" in hint
    code, out, _ = units_cli(sb, capsys, "doctor")
    assert code == 1 and "FAIL  unit drift" in out and str(sb.unit_dir) not in out and "echo replaced" not in out
    # Other drift of what is installed is worth knowing, not a failure.
    (sb.unit_dir / f"{SERVICE}.d" / "override.conf").unlink()
    with sb.pm.connect() as mgr:
        mgr.reload()
        mgr.disable([TIMER])
    drift = _doctor(sb, capsys)["unit drift"]
    assert drift["level"] == "warn" and drift["detail"] == f"1 of 2 installed unit(s) drift: {TIMER} not-enabled"
    assert drift["hint"] == f"'aios-units diff' shows it; run 'aios-units install {JOB}'"


@pytest.mark.parametrize("name", ["plain", "with space", "per%cent", "dollar$sign", "quote'd", "ünï"])
def test_what_the_manager_loads_is_what_we_rendered(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The effective settings read back from the manager equal what the unit file says for
    every quoting our templates do (so 'extended' is never a parsing accident)."""
    sb = units_sandbox
    workdir = sb.project / name
    workdir.mkdir(mode=0o700)
    code, out, err = units_cli(sb, capsys, "install", JOB, "--project-root", str(workdir))
    assert code == 0, out + err
    _dropin(sb, "service.d", "10-timeout-abort.conf", FEDORA_DROPIN)
    _dropin(sb, "timer.d", "10-harmless.conf", "[Unit]\nDocumentation=man:aios-units(1)\n")
    code, out, err = units_cli(sb, capsys, "diff", JOB, "--json", "--project-root", str(workdir))
    units = {u["name"]: u for u in json.loads(out)["units"]}
    assert code == 0, units
    assert units[SERVICE]["findings"] == ["extended"] and units[TIMER]["findings"] == ["extended"], units


# -- config and names ----------------------------------------------------------------------
def test_a_job_whose_own_config_entry_is_invalid_is_trouble_not_a_fallback(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    sb.write_config({"dream": {"timerEnabled": False, "times": ["6:30 secret-canary"]}})
    code, out, err = units_cli(sb, capsys, "diff", "dream")
    assert code == 2, out + err
    assert "error: the local scheduler config is invalid for dream: jobs.dream.times[0]:" in err
    assert "hint: fix data/ai-os.scheduler.json" in err and "secret-canary" not in out + err
    # Said once, by the refusal: not first as a warning too.
    assert err.count("jobs.dream.times[0]") == 1 and "warning:" not in err, err
    code, out, err = units_cli(sb, capsys, "diff")  # every job, dream among them
    assert code == 2 and err.count("jobs.dream.times[0]") == 1 and "warning:" not in err, err
    assert "error: the local scheduler config is invalid for dream: " in err, err  # the job it concerns
    code, out, err = units_cli(sb, capsys, "install", "dream")
    assert code == 1 and err.count("jobs.dream.times[0]") == 1 and "warning:" not in err, out + err
    assert not (sb.unit_dir / "ai-os-dream.timer").exists()
    # Another job's entry does not concern agent-aggregate.
    code, out, err = units_cli(sb, capsys, "diff", JOB)
    assert code == 1 and "invalid" not in err  # missing units: drift, not trouble


def test_a_foreign_unit_that_only_shares_the_prefix_is_listed_not_drift(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    sb.write_config({"trend-finder": {"timerEnabled": False}, "dream": {"timerEnabled": False}})
    _install(sb, capsys)
    (sb.unit_dir / "ai-os-dashboard.service").write_text("[Service]\nExecStart=/usr/bin/true\n")
    with sb.pm.connect() as mgr:
        mgr.reload()
    code, out, err = units_cli(sb, capsys, "diff")
    assert code == 0, out + err
    assert "ai-os-dashboard.service" in out and "foreign" in out
    # A foreign file under one of our names is a conflict, as before.
    (sb.unit_dir / "ai-os-dream.timer").write_text("[Timer]\nOnCalendar=daily\n")
    code, out, err = units_cli(sb, capsys, "diff")
    assert code == 1 and "unmanaged" in out, out


# -- times in the manager's zone -------------------------------------------------------------
def _elapses(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("#   ")]


def test_render_times_are_the_managers_not_the_shells(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], user_manager_factory
) -> None:
    """A shell in Asia/Tokyo sees the elapses the manager (in the system's zone) will fire."""
    from aios_systemd.units.systemd import analyze_calendars

    sb = units_sandbox
    system = list(analyze_calendars(["*-*-* 06:00:00"], {}, iterations=3)[0].next_elapses)
    code, out, err = units_cli(sb, capsys, "render", "--dry-run", "trend-finder", env={**sb.env, "TZ": "Asia/Tokyo"})
    assert code == 0, err
    assert _elapses(out) == system and all(e.endswith(":00:00Z") for e in system), out
    assert "for the manager's time zone)" in out
    # A manager that runs in Asia/Tokyo fires 06:00 JST: 21:00 UTC the day before.
    tokyo = user_manager_factory({"TZ": "Asia/Tokyo"})
    env = {**tokyo.env, "AIOS_PROJECT_ROOT": str(sb.project), "AIOS_SCHEDULER_ROOT": str(sb.scheduler_root)}
    code, out, err = units_cli(sb, capsys, "render", "--dry-run", "trend-finder", env=env)
    assert code == 0, err
    assert all(e.endswith("T21:00:00Z") for e in _elapses(out)) and "Asia/Tokyo" in out, out
    # No manager: the system's zone, said so.
    env = {k: v for k, v in sb.env.items() if k != "XDG_RUNTIME_DIR"} | {"TZ": "Asia/Tokyo"}
    code, out, err = units_cli(sb, capsys, "render", "--dry-run", "trend-finder", env=env)
    assert code == 0 and _elapses(out) == system and "did not answer" in out


def test_status_says_when_the_installed_unit_serves_another_project_root(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.safe_dirs import safe_directory

    sb = units_sandbox
    _install(sb, capsys)
    assert _status(sb, capsys)["timer"]["servesAnotherProjectRoot"] is False
    with safe_directory("other-checkout-") as other:
        doc = _status(UnitsSandbox(sb.pm, other, sb.scheduler_root), capsys)
        assert doc["timer"]["servesAnotherProjectRoot"] is True
        assert str(other) not in json.dumps(doc) and str(sb.project) not in json.dumps(doc)


# -- diffs show what changed without leaking ---------------------------------------------------
OLD_AIOS_RUN = "/opt/old venv/bin/aios-run"


def _install_in_sub_dir(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str], edit: dict[str, str]) -> str:
    """Install for a project root below the asked-about one (with a space in it), then
    hand-edit the service: this installation's aios-run becomes OLD_AIOS_RUN, and each
    key of ``edit`` its value.  Returns this installation's aios-run."""
    from aios_systemd.units.templates import resolve_aios_run

    (sb.project / "sub dir").mkdir(mode=0o700)
    code, out, err = units_cli(sb, capsys, "install", JOB, "--project-root", str(sb.project / "sub dir"))
    assert code == 0, out + err
    ours = str(resolve_aios_run())
    path = sb.unit_dir / SERVICE
    text = path.read_text().replace(ours, OLD_AIOS_RUN)
    for old, new in edit.items():
        text = text.replace(old, new)
    path.write_text(text)
    return ours


def test_a_diff_names_changed_paths_by_role_never_showing_them(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    _install_in_sub_dir(sb, capsys, {})
    code, out, err = units_cli(sb, capsys, "diff", JOB)
    assert code == 1, out + err
    lines = out.splitlines()
    minus = next(line for line in lines if line.startswith("-ExecStart="))
    plus = next(line for line in lines if line.startswith("+ExecStart="))
    assert minus.startswith('-ExecStart="<another aios-run #') and plus.startswith(
        '+ExecStart="<this installation\'s aios-run>"'
    ), (minus, plus)
    assert any(line.startswith("-WorkingDirectory=<path #") for line in lines), out
    assert "+WorkingDirectory=<project root>" in lines, out
    assert "/opt/old" not in out and "venv" not in out and str(sb.project) not in out
    # The fingerprint is stable: the same other path gives the same label.
    assert minus in units_cli(sb, capsys, "diff", JOB)[1].splitlines()


def test_show_paths_prints_both_sides_of_a_changed_path_and_still_masks_secrets(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    token = "ghp_" + "Q" * 36  # a credential by its form alone
    ours = _install_in_sub_dir(
        sb,
        capsys,
        {
            "[Service]\n": f"[Service]\nEnvironment=APIFY_TOKEN=apify_api_{'z' * 30}\n",
            "Description=": f"Description=pinned by {token} ",
        },
    )

    code, out, err = units_cli(sb, capsys, "diff", JOB, "--show-paths")
    assert code == 1, out + err
    lines = out.splitlines()
    minus = next(line for line in lines if line.startswith("-ExecStart="))
    plus = next(line for line in lines if line.startswith("+ExecStart="))
    assert minus.startswith(f'-ExecStart="{OLD_AIOS_RUN}" "agent-aggregate"'), minus
    assert plus.startswith(f'+ExecStart="{ours}" "agent-aggregate"'), plus
    assert f"-WorkingDirectory={sb.project / 'sub dir'}" in lines, out
    assert f"+WorkingDirectory={sb.project}" in lines, out
    assert "<project root>" not in out and "aios-run #" not in out and "<path" not in out
    # Secrets are not paths: still masked.
    assert "-Environment=<hidden>" in lines and "apify_api_" not in out, out
    assert any(line.startswith("-Description=pinned by ") for line in lines) and token not in out, out

    code, out, err = units_cli(sb, capsys, "diff", JOB, "--json", "--show-paths")
    assert code == 1, out + err
    diff = next(u["diff"] for u in json.loads(out)["units"] if u["name"] == SERVICE)
    assert f'-ExecStart="{OLD_AIOS_RUN}"' in diff and token not in diff
    # Without it, the same diff names them by role (the test above).
    assert "/opt/old" not in units_cli(sb, capsys, "diff", JOB)[1]


# -- doctor compares the manager with the shell -----------------------------------------------
def test_doctor_names_settings_a_timer_run_sees_otherwise(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], user_manager_factory
) -> None:
    sb = units_sandbox
    pm = user_manager_factory(
        {"AI_OS_DREAM_ENABLED": "true", "TZ": "Asia/Tokyo", "APIFY_TOKEN": "apify_api_" + "x" * 30}
    )
    (sb.project / ".env.local").write_text("VITE_CLAUDE_OS_ENABLED_EXTENSIONS=trend-finder\nAPIFY_TOKEN=tok-123456\n")
    shell = {
        **pm.env,
        "AIOS_PROJECT_ROOT": str(sb.project),
        "AIOS_SCHEDULER_ROOT": str(sb.scheduler_root),
        "VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "",  # the shell turns the extension off; timer runs read .env.local
    }
    code, out, err = units_cli(sb, capsys, "doctor", "--json", env=shell)
    assert code in (0, 1), err
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    env_check = checks["environment"]
    assert env_check["level"] == "warn", env_check
    named = env_check["detail"].split(": ", 1)[1].split(", ")
    assert {"AI_OS_DREAM_ENABLED", "TZ", "VITE_CLAUDE_OS_ENABLED_EXTENSIONS"} <= set(named)
    assert "AIOS_SCHEDULER_ROOT" not in named  # the units pin it
    assert "APIFY_TOKEN" not in named  # set on both sides: presence alone is compared
    for value in ("Asia/Tokyo", "trend-finder", "tok-123456", "apify_api_"):
        assert value not in out
    code, out, _ = units_cli(sb, capsys, "doctor", env=shell)
    assert "WARN  environment" in out and "warning(s)" in out.splitlines()[-1]
    # A shell whose XDG_CONFIG_HOME is not the manager's writes units the manager never reads.
    code, out, err = units_cli(sb, capsys, "doctor", "--json", env={**shell, "XDG_CONFIG_HOME": str(sb.project)})
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["unit path"]["level"] == "fail" and code == 1, err


def test_doctor_says_to_remove_a_setting_the_managers_environment_sets_over_env_local(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], user_manager_factory
) -> None:
    """`systemctl --user set-environment` wins over the project's .env.local for every timer
    run: the fix is to remove it there, not to write .env.local (which already says it)."""
    import subprocess

    sb = units_sandbox
    pm = user_manager_factory()
    (sb.project / ".env.local").write_text("AI_OS_DREAM_ENABLED=true\nVITE_CLAUDE_OS_ENABLED_EXTENSIONS=trend-finder\n")
    systemctl = ["systemctl", "--user"]
    subprocess.run(
        [*systemctl, "set-environment", "TZ=Asia/Tokyo", "AI_OS_DREAM_ENABLED=false"], env=pm.env, check=True
    )
    shell = {
        **pm.env,
        "AIOS_PROJECT_ROOT": str(sb.project),
        "AIOS_SCHEDULER_ROOT": str(sb.scheduler_root),
        "VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "",  # this shell only: timer runs read .env.local
    }
    _, out, _ = units_cli(sb, capsys, "doctor", "--json", env=shell)
    env_check = {c["check"]: c for c in json.loads(out)["checks"]}["environment"]
    assert env_check["level"] == "warn", env_check
    hint = env_check["hint"]
    assert "systemctl --user unset-environment AI_OS_DREAM_ENABLED TZ" in hint, hint
    assert "environment.d" in hint and "import-environment" in hint
    # The shell-only setting keeps its own advice, and only it.
    assert "VITE_CLAUDE_OS_ENABLED_EXTENSIONS: put job settings in the project's .env.local" in hint, hint
    assert "VITE_CLAUDE_OS_ENABLED_EXTENSIONS" not in hint.split("unset-environment", 1)[1].split(")", 1)[0]
    for value in ("Asia/Tokyo", "trend-finder", "=false", "=true"):
        assert value not in out
    # Removed from the manager's environment: only the shell's difference is left.
    subprocess.run([*systemctl, "unset-environment", "TZ", "AI_OS_DREAM_ENABLED"], env=pm.env, check=True)
    _, out, _ = units_cli(sb, capsys, "doctor", "--json", env=shell)
    env_check = {c["check"]: c for c in json.loads(out)["checks"]}["environment"]
    assert env_check["detail"].endswith(": VITE_CLAUDE_OS_ENABLED_EXTENSIONS"), env_check
    assert env_check["hint"].startswith("put job settings in the project's .env.local"), env_check
    assert "unset-environment" not in env_check["hint"]


def test_a_drop_in_added_before_a_reload_is_named_with_the_reload_hint(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new override.conf beside an already loaded desc.conf: the note names the new one
    (on disk, not loaded), not the loaded one, and the hint is the reload."""
    sb = units_sandbox
    _install(sb, capsys)
    _dropin(sb, f"{SERVICE}.d", "desc.conf", "[Unit]\nDescription=mine\n")  # loaded (reloads)
    override = sb.unit_dir / f"{SERVICE}.d" / "override.conf"
    override.write_text('[Service]\nExecStart=\nExecStart=/bin/sh -c "echo replaced"\n')  # no reload
    code, units, human = _diff_units(sb, capsys)
    service = units[SERVICE]
    assert code == 1 and {"overridden", "needs-daemon-reload"} <= set(service["findings"]), service
    note = next(n for n in service["notes"] if "reload" in n)
    assert f"{SERVICE}.d/override.conf (in the unit directory, for this unit)" in note, note
    assert "desc.conf" not in note, note
    assert "hint: run 'systemctl --user daemon-reload'" in human, human
    assert str(sb.unit_dir) not in human
    # Install cannot judge it either: the reload comes first, not an edit of the drop-in.
    code, out, err = units_cli(sb, capsys, "install", JOB)
    assert code == 1 and "hint: run 'systemctl --user daemon-reload'" in err, out + err
    # A removed one the manager still applies is named as such.
    with sb.pm.connect() as mgr:
        mgr.reload()
    (sb.unit_dir / f"{SERVICE}.d" / "desc.conf").unlink()
    _, units, human = _diff_units(sb, capsys)
    note = next(n for n in units[SERVICE]["notes"] if "reload" in n)
    assert "desc.conf" in note and "override.conf" not in note, note
    assert "hint: run 'systemctl --user daemon-reload'" in human, human
    # The first drop-in of a unit that had none is named too.
    with sb.pm.connect() as mgr:
        mgr.reload()
    timer_dropin = sb.unit_dir / f"{TIMER}.d" / "override.conf"
    timer_dropin.parent.mkdir()
    timer_dropin.write_text("[Timer]\nPersistent=false\n")
    _, units, human = _diff_units(sb, capsys)
    timer = units[TIMER]
    note = next((n for n in timer["notes"] if "reload" in n), None)
    assert note is not None and f"{TIMER}.d/override.conf" in note, json.dumps(timer)
    assert "needs-daemon-reload" in timer["findings"], timer
