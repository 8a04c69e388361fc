"""End to end on a real user manager: install, run through systemd, drift, uninstall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import UnitsSandbox, units_cli

pytestmark = pytest.mark.user_manager

JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
TIMER = f"ai-os-{JOB}.timer"
FINAL_STATES = {"success", "warning-only", "degraded", "failed", "timeout", "skipped", "stale-lock"}
BIN = Path(sys.executable).parent


def _diff(sb: UnitsSandbox, capsys) -> tuple[int, dict]:
    code, out, err = units_cli(sb, capsys, "diff", JOB, "--json")
    assert code in (0, 1), err
    doc = json.loads(out)
    return code, {u["name"]: u for u in doc["units"]}


def test_install_run_through_systemd_drift_and_uninstall(user_manager_factory, capsys):
    with safe_directory("e2e-project-") as project, safe_directory("e2e-sched-") as sched_base:
        scheduler_root = sched_base / "scheduler"
        # The manager hands ITS environment to the services it starts.
        pm = user_manager_factory({"AIOS_SCHEDULER_ROOT": str(scheduler_root), "AIOS_PROJECT_ROOT": str(project)})
        sb = UnitsSandbox(pm, project, scheduler_root)

        # 1. install through the real console script
        done = subprocess.run(
            [str(BIN / "aios-units"), "install", JOB],
            env=sb.env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

        # 2. the timer is active, with the right normalized calendar and a future elapse
        code, units = _diff(sb, capsys)
        assert code == 0, units
        timer = units[TIMER]["loaded"]
        assert timer["activeState"] == "active" and timer["unitFileState"] == "enabled"
        assert timer["calendars"] == ["*-*-* 00/4:00:00"]
        next_elapse = datetime.fromisoformat(timer["nextElapse"].replace("Z", "+00:00"))
        assert next_elapse > datetime.now(UTC)

        # 3. start the service by hand through the manager and wait for it to finish
        with pm.connect() as mgr:
            mgr.wait_job(mgr.start(SERVICE), timeout=300)
            service = mgr.unit(SERVICE)
        assert service.active_state in ("inactive", "failed")

        # 4. the run happened through systemd: the runner's state says so
        state_path = scheduler_root / "state" / f"{JOB}.json"
        assert state_path.exists(), f"no run state; manager output:\n{pm.output()}"
        state = json.loads(state_path.read_text())
        assert state["trigger"] == "systemd", state
        assert state["state"] in FINAL_STATES, state
        status = subprocess.run(
            [str(BIN / "aios-status"), "--job", JOB, "--json"],
            env=sb.env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr  # 1 would be an internal error
        assert '"systemd"' in status.stdout
        assert str(project) not in status.stdout

        # 5. a hand edit shows up in diff
        path = pm.unit_dir / SERVICE
        original = path.read_text()
        path.write_text(original.replace("Type=oneshot", "Type=oneshot\nNice=10"))
        code, units = _diff(sb, capsys)
        assert code == 1
        assert units[SERVICE]["state"] == "hand-edited"
        assert "+Nice=10" not in units[SERVICE]["diff"] and "-Nice=10" in units[SERVICE]["diff"]
        path.write_text(original)

        # 6. a cadence change shows up as changed + calendar-mismatch
        sb.write_config({JOB: {"cadence": "hourly"}})
        code, units = _diff(sb, capsys)
        assert code == 1
        assert {"changed", "calendar-mismatch"} <= set(units[TIMER]["findings"])

        # 7. uninstall leaves nothing of ours behind
        code, out, err = units_cli(sb, capsys, "uninstall", JOB)
        assert code == 0, out + err
        leftovers = [str(p.relative_to(pm.unit_dir)) for p in pm.unit_dir.rglob("*")]
        assert leftovers == ["timers.target.wants"] or leftovers == [], leftovers
        assert not os.path.lexists(pm.unit_dir / "timers.target.wants" / TIMER)
        with pm.connect() as mgr:
            units_now = mgr.units([SERVICE, TIMER])
        assert all(u.load_state == "not-found" for u in units_now.values())
