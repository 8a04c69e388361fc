"""Helpers of the unit scenarios: a project wired to a private user manager, ``aios-units`` runs."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from aios_systemd.units.stamp import Ownership, classify
from tests.reliability.common import BIN, run
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import UnitsSandbox, private_manager

JOB = "agent-aggregate"
SERVICE, TIMER = f"ai-os-{JOB}.service", f"ai-os-{JOB}.timer"
AIOS_UNITS = str(BIN / "aios-units")


@contextlib.contextmanager
def units_sandbox() -> Iterator[UnitsSandbox]:
    with safe_directory("campaign-units-") as project, private_manager() as pm:
        yield UnitsSandbox(pm, project, project.parent / f"{project.name}-sched")
    shutil.rmtree(project.parent / f"{project.name}-sched", ignore_errors=True)


def units(sb: UnitsSandbox, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([AIOS_UNITS, *argv], env or sb.env, cwd=sb.project, timeout=120)


def half_written(unit_dir: Path) -> list[str]:
    """Unit files of ours that are not complete stamped units, and temp files."""
    bad = []
    for path in unit_dir.iterdir():
        ours = path.name.startswith("ai-os-") and path.suffix in (".service", ".timer") and path.is_file()
        torn = ours and classify(path.read_text(errors="surrogateescape")) is not Ownership.OURS
        if torn or path.name.endswith(".tmp"):
            bad.append(path.name)
    return bad


def failed_units(sb: UnitsSandbox) -> list[str]:
    with sb.pm.connect() as mgr:
        loaded = mgr.units([SERVICE, TIMER])
    return [
        name for name, u in loaded.items() if u.active_state == "failed" or u.load_state not in ("loaded", "not-found")
    ]
