"""install and uninstall converge on what a real private ``systemd --user`` manager has:
self-contained units, enablement from disk, all-or-nothing changes, drop-ins respected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.rendering import render_with, write_pair
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, UnitsSandbox, units_cli

pytestmark = pytest.mark.user_manager

JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
TIMER = f"ai-os-{JOB}.timer"
BIN = Path(sys.executable).parent


def _install(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str], *args: str, env: dict | None = None) -> tuple:
    return units_cli(sb, capsys, "install", JOB, *args, env=env)


def _timer(pm: PrivateManager):  # type: ignore[no-untyped-def]
    with pm.connect() as mgr:
        return mgr.unit(TIMER)


def test_units_pin_both_roots_whatever_the_managers_environment(
    user_manager_factory, capsys: pytest.CaptureFixture[str]
) -> None:
    """AIOS_PROJECT_ROOT/AIOS_SCHEDULER_ROOT in the manager's environment (set-environment,
    environment.d) no longer move timer runs; a scheduler root set only in the installing
    shell is where the runs write."""
    with (
        safe_directory("pin-project-") as project,
        safe_directory("pin-sched-") as sched,
        safe_directory("pin-elsewhere-") as elsewhere,
    ):
        (elsewhere / "src" / "data").mkdir(parents=True)
        pm = user_manager_factory(
            {"AIOS_PROJECT_ROOT": str(elsewhere), "AIOS_SCHEDULER_ROOT": str(elsewhere / "sched")}
        )
        sb = UnitsSandbox(pm, project, sched / "custom-root")
        code, out, err = _install(sb, capsys)
        assert code == 0, out + err
        with pm.connect() as mgr:
            mgr.wait_job(mgr.start(SERVICE), timeout=120)
        state = json.loads((sched / "custom-root" / "state" / f"{JOB}.json").read_text())
        assert state["trigger"] == "systemd" and state["state"] in ("success", "warning-only"), state
        assert (project / "src" / "data" / "live-data.json").is_file()
        assert not (elsewhere / "sched").exists() and not (elsewhere / "src" / "data" / "live-data.json").exists()
        # The shell's status sees the timer's run: same scheduler root.
        code, out, err = units_cli(sb, capsys, "diff", JOB)
        assert code == 0, out + err
        # Rendered from another scheduler root, the unit is drift.
        code, out, _ = units_cli(sb, capsys, "diff", JOB, env={**sb.env, "AIOS_SCHEDULER_ROOT": str(sched / "other")})
        assert code == 1 and "changed" in out


@pytest.mark.parametrize("now", [False, True])
def test_install_after_a_disable_enables_and_starts_again(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], now: bool
) -> None:
    sb = units_sandbox
    assert _install(sb, capsys)[0] == 0
    with sb.pm.connect() as mgr:
        if now:
            mgr.wait_job(mgr.stop(TIMER))
        mgr.disable([TIMER])  # no reload: the cached state still says enabled
    code, out, err = _install(sb, capsys)
    assert code == 0 and f"enable {TIMER}" in out and out.rstrip().splitlines()[-1].startswith("done:"), out + err
    assert (sb.unit_dir / "timers.target.wants" / TIMER).is_symlink()
    timer = _timer(sb.pm)
    assert timer.unit_file_state == "enabled" and timer.active_state == "active"
    code, out, _ = _install(sb, capsys)
    assert code == 0 and "nothing to do" in out


def test_install_into_a_directory_the_manager_does_not_read_is_refused_leaving_nothing(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    with safe_directory("other-config-") as other:
        code, out, err = _install(sb, capsys, env={**sb.env, "XDG_CONFIG_HOME": str(other)})
        assert code == 1, out + err
        assert "the user manager does not read units from" in err and "hint:" in err
        assert str(other) not in out + err
        assert not list(other.rglob("*")), list(other.rglob("*"))


def test_a_refused_enable_rolls_back_and_a_rerun_converges(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    blocker = sb.unit_dir / "timers.target.wants"
    blocker.write_text("not a directory\n")  # EnableUnitFiles cannot link into it
    code, out, err = _install(sb, capsys)
    assert code == 1, out + err
    assert f"install failed at 'enable {TIMER}'" in err and "rolled back (removed" in err, err
    assert not (sb.unit_dir / SERVICE).exists() and not (sb.unit_dir / TIMER).exists()
    with sb.pm.connect() as mgr:
        assert mgr.units([SERVICE, TIMER])[TIMER].load_state == "not-found"
    blocker.unlink()
    code, out, err = _install(sb, capsys)
    assert code == 0, out + err
    assert _timer(sb.pm).active_state == "active"


def test_a_failed_update_restores_the_previous_units_and_their_enablement(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    assert _install(sb, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in sb.unit_dir.glob("ai-os-*")}
    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
        mgr.disable([TIMER])
    sb.write_config({JOB: {"cadence": "hourly"}})
    # The update writes the timer, then enabling it fails: the old timer comes back.
    wants = sb.unit_dir / "timers.target.wants"
    if wants.is_dir():
        wants.rmdir()
    wants.write_text("not a directory\n")
    code, out, err = _install(sb, capsys)
    assert code == 1, out + err
    assert f"restored {TIMER}" in err, err
    assert {p.name: p.read_bytes() for p in sb.unit_dir.glob("ai-os-*") if p.is_file()} == before
    timer = _timer(sb.pm)
    assert timer.unit_file_state == "disabled" and timer.active_state == "inactive"  # as it was
    assert timer.calendars == ("*-*-* 00/4:00:00",)  # the manager reloaded the old file
    wants.unlink()
    code, out, err = _install(sb, capsys)
    assert code == 0, out + err
    assert _timer(sb.pm).calendars == ("*-*-* *:00:00",)


@pytest.mark.parametrize("force", [False, True])
def test_install_refuses_under_a_drop_in_that_changes_our_settings(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    sb = units_sandbox
    assert _install(sb, capsys)[0] == 0
    dropin = sb.unit_dir / f"{SERVICE}.d" / "override.conf"
    dropin.parent.mkdir()
    dropin.write_text('[Service]\nExecStart=\nExecStart=/bin/sh -c "echo replaced"\n')
    with sb.pm.connect() as mgr:
        mgr.reload()
    code, out, err = _install(sb, capsys, *(["--force"] if force else []))
    assert code == 1, out + err
    assert f"{SERVICE}.d/override.conf" in err and "ExecStart" in err and "never edits or removes" in err
    assert dropin.read_text().startswith("[Service]\nExecStart=\n")


def test_a_drop_in_seen_only_after_writing_rolls_the_install_back(
    fresh_user_manager: PrivateManager, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A distribution-wide service.d drop-in that replaces ExecStart applies to our
    service only once it exists (on a manager that never loaded it): the check after the
    steps finds it and undoes them."""
    with safe_directory("late-dropin-") as project:
        _late_dropin(UnitsSandbox(fresh_user_manager, project, tmp_path / "sched"), capsys)


def _late_dropin(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    dropin = sb.unit_dir / "service.d" / "50-wrapper.conf"
    dropin.parent.mkdir()
    dropin.write_text("[Service]\nExecStart=\nExecStart=/usr/bin/env true\n")
    code, out, err = _install(sb, capsys)
    assert code == 1, out + err
    assert "service.d/50-wrapper.conf" in err and "rolled back" in err
    assert not (sb.unit_dir / SERVICE).exists() and not (sb.unit_dir / TIMER).exists()
    assert dropin.exists()


def test_uninstall_cleans_the_persistent_stamp_and_reports_drop_ins_left(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    assert _install(sb, capsys)[0] == 0
    stamp = Path(sb.pm.manager_env["XDG_DATA_HOME"]) / "systemd" / "timers" / f"stamp-{TIMER}"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    (sb.unit_dir / f"{SERVICE}.d").mkdir()
    (sb.unit_dir / f"{SERVICE}.d" / "mine.conf").write_text("[Service]\nNice=5\n")
    code, out, err = units_cli(sb, capsys, "uninstall", JOB)
    assert code == 0, out + err
    assert f"clean {TIMER}" in out and not stamp.exists()
    assert f"left {SERVICE}.d" in out and (sb.unit_dir / f"{SERVICE}.d" / "mine.conf").exists()


def test_uninstall_removes_units_of_a_job_the_registry_no_longer_has(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    assert _install(sb, capsys)[0] == 0
    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.stop(TIMER))
        mgr.disable([TIMER])
    for name, new in ((SERVICE, "ai-os-old-job.service"), (TIMER, "ai-os-old-job.timer")):
        os.rename(sb.unit_dir / name, sb.unit_dir / new)
    code, out, _ = units_cli(sb, capsys, "diff")
    assert "orphan" in out
    code, out, err = units_cli(sb, capsys, "uninstall", "old-job")
    assert code == 0, out + err
    assert not list(sb.unit_dir.glob("ai-os-old-job.*"))
    code, out, err = units_cli(sb, capsys, "uninstall", "never-a-job")
    assert code == 2 and "unknown job id" in err


def test_a_stop_the_user_asked_for_ends_the_unit_inactive(user_manager: PrivateManager, tmp_path: Path) -> None:
    """A run stopped by `systemctl --user stop` writes its final state and exits 143: the
    rendered unit counts that as a clean end (SuccessExitStatus), not a failure."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aios-run"
    fake.write_text("#!/bin/sh\ntrap 'exit 143' TERM\nsleep 30 &\nwait\n")
    fake.chmod(0o755)
    service, timer = render_with(tmp_path, aios_run=fake)
    write_pair((service, timer), user_manager.unit_dir)
    env = dict(user_manager.env)
    subprocess.run(["systemctl", "--user", "daemon-reload"], env=env, check=True, timeout=30)
    subprocess.run(["systemctl", "--user", "start", "--no-block", service.name], env=env, check=True, timeout=30)
    with user_manager.connect() as mgr:
        deadline = time.monotonic() + 10
        while mgr.unit(service.name).active_state != "activating" and time.monotonic() < deadline:
            time.sleep(0.05)
        mgr.wait_job(mgr.stop(service.name))
        assert mgr.unit(service.name).active_state == "inactive"


def test_the_plan_says_when_a_timer_will_fire_at_once(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Persistent= stamp older than the calendar's latest elapse (left by an install
    from before stamps were cleaned) makes the timer fire as soon as it starts."""
    sb = units_sandbox
    code, out, _ = _install(sb, capsys, "--dry-run")
    assert code == 0 and "fires at once" not in out
    stamp = Path(sb.pm.manager_env["XDG_DATA_HOME"]) / "systemd" / "timers" / f"stamp-{TIMER}"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    os.utime(stamp, (time.time() - 30 * 3600, time.time() - 30 * 3600))
    code, out, err = _install(sb, capsys, "--dry-run")
    assert code == 0, err
    start = next(line for line in out.splitlines() if f"start {TIMER}" in line)
    assert "it fires at once" in start, out
    code, out, err = _install(sb, capsys)
    assert code == 0 and "it fires at once" in out, out + err
    assert _timer(sb.pm).last_trigger_usec is not None  # and it did


def test_a_write_the_filesystem_refuses_changes_nothing(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A unit file the kernel refuses to write (as on a full disk: here a file-size limit,
    EFBIG) stops the install with the cause, restores what was written, and a rerun
    converges."""
    import resource
    import signal

    sb = units_sandbox

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))

    done = subprocess.run(
        [str(BIN / "aios-units"), "install", JOB],
        env=sb.env,
        cwd=sb.project,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "install failed at 'write ai-os-agent-aggregate.service" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "hint:" in done.stderr
    assert not list(sb.unit_dir.glob("ai-os-*")), list(sb.unit_dir.glob("*"))
    assert _install(sb, capsys)[0] == 0
