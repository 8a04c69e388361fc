"""Checks shared by the wheel and the Debian package tests: an installed aios-systemd,
driven only through its own console scripts, with nothing from this checkout on the path."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from aios_systemd.cli.spec import COMMANDS
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager

CLIS = tuple(COMMANDS)
JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
RAN_OK = {"success", "warning-only", "degraded"}
# No PYTHONPATH and no virtualenv bin directory: the install must stand on its own.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env(**extra: str) -> dict[str, str]:
    keep = ("HOME", "LANG", "USER", "LOGNAME", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = SYSTEM_PATH
    return {**env, **extra}


def run(argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def check_help_and_version(bin_dir: Path, version: str, cwd: Path) -> None:
    for cli in CLIS:
        done = run([str(bin_dir / cli), "--help"], clean_env(), cwd)
        assert done.returncode == 0, f"{cli} --help: {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Usage" in done.stdout and cli in done.stdout, done.stdout
        done = run([str(bin_dir / cli), "--version"], clean_env(), cwd)
        assert done.returncode == 0, f"{cli} --version: {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert version in done.stdout.split(), done.stdout


def check_status(bin_dir: Path, cwd: Path) -> None:
    """``aios-status --no-timers --json`` on an empty scheduler root: every job, not run yet."""
    with safe_directory("pkg-project-") as project, safe_directory("pkg-sched-") as sched:
        env = clean_env(AIOS_PROJECT_ROOT=str(project), AIOS_SCHEDULER_ROOT=str(sched / "scheduler"))
        done = run([str(bin_dir / "aios-status"), "--no-timers", "--json"], env, cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        doc = json.loads(done.stdout)
        assert doc["schemaVersion"] == 1
        assert JOB in {job["job"] for job in doc["jobs"]}
        assert str(project) not in done.stdout and str(sched) not in done.stdout


def exec_start(unit_text: str) -> str:
    lines = [line for line in unit_text.splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit_text
    return lines[0]


def check_render(bin_dir: Path, aios_run: Path, cwd: Path) -> None:
    """``render --dry-run`` from this install points ExecStart= at this install's aios-run."""
    with safe_directory("pkg-project-") as project, safe_directory("pkg-sched-") as sched:
        env = clean_env(AIOS_PROJECT_ROOT=str(project), AIOS_SCHEDULER_ROOT=str(sched / "scheduler"))
        done = run([str(bin_dir / "aios-units"), "render", "--dry-run", JOB, "--project-root", str(project)], env, cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        assert exec_start(done.stdout) == f'ExecStart="{aios_run}" "{JOB}" "--project-root" "{project}"', done.stdout
        assert f"WorkingDirectory={project}" in done.stdout


def check_unit_flow(
    bin_dir: Path, aios_run: Path, cwd: Path, manager_factory: Callable[[Mapping[str, str]], PrivateManager]
) -> None:
    """Install the unit with this install's aios-units, start it through a real private
    user manager, see the run recorded as triggered by systemd, then uninstall."""
    with safe_directory("pkg-project-") as project, safe_directory("pkg-sched-") as sched:
        scheduler_root = sched / "scheduler"
        roots = {"AIOS_PROJECT_ROOT": str(project), "AIOS_SCHEDULER_ROOT": str(scheduler_root)}
        # The units pin both roots: the manager's environment (a real one's: nothing of
        # ours) cannot move the run.
        pm = manager_factory({"PATH": SYSTEM_PATH})
        env = clean_env(**{k: v for k, v in pm.env.items() if k.startswith("XDG_")}, **roots)
        units = str(bin_dir / "aios-units")

        done = run([units, "install", JOB, "--project-root", str(project)], env, cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        assert exec_start((pm.unit_dir / SERVICE).read_text()) == (
            f'ExecStart="{aios_run}" "{JOB}" "--project-root" "{project}"'
        )

        with pm.connect() as mgr:
            mgr.wait_job(mgr.start(SERVICE), timeout=300)
            assert mgr.unit(SERVICE).active_state in ("inactive", "failed")
        state_path = scheduler_root / "state" / f"{JOB}.json"
        assert state_path.exists(), f"no run state; manager output:\n{pm.output()}"
        state = json.loads(state_path.read_text())
        assert state["trigger"] == "systemd", state
        # A failed run here is a broken install (a missing data file, a module left out).
        assert state["state"] in RAN_OK, state
        assert (project / "src" / "data" / "live-data.json").is_file()

        status = run([str(bin_dir / "aios-status"), "--job", JOB, "--json"], env, cwd)
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["latestRun"]["trigger"] == "systemd", doc
        assert doc["timer"] is not None, doc

        done = run([units, "uninstall", JOB], env, cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not list(pm.unit_dir.glob("ai-os-*")), sorted(p.name for p in pm.unit_dir.rglob("*"))
