"""Scenario 4: the user manager goes away in the middle of ``aios-units install`` or
``diff``.  A clear error (exit 1 or 2 with a hint, no traceback), no half-written unit
file, an install all or nothing (the unit files and the timer's ``.wants`` link as before,
none, or as wanted, both: never half), and a rerun against a new manager converges
(install, then diff exits 0)."""

from __future__ import annotations

import random
import shutil
import subprocess
import time

from tests.reliability.common import Attempt, Counts, Tally, cli_problems
from tests.reliability.units_common import AIOS_UNITS, JOB, half_written, units
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import UnitsSandbox, _stop, private_manager, start_manager, stop_manager


def one(a: Attempt, rng: random.Random) -> None:
    command = rng.choice(["install", "diff"])
    with safe_directory("campaign-gone-") as project:
        sched = project / ".sched"
        pm = start_manager()
        try:
            sb = UnitsSandbox(pm, project, sched)
            proc = subprocess.Popen(
                [AIOS_UNITS, command, JOB],
                env=sb.env,
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            if command == "install" and rng.random() < 0.5:
                # Mid-way through the steps: as soon as the first unit file is written.
                deadline = time.monotonic() + 10
                while not list(pm.unit_dir.glob("ai-os-*")) and time.monotonic() < deadline:
                    time.sleep(0.002)
            else:
                # An install takes a few tenths of a second: aim the exit inside it.
                time.sleep(rng.uniform(0.0, 0.4 if command == "install" else 1.2))
            _stop(pm)  # Manager.Exit(), and wait for it to be gone
            out, err = proc.communicate(timeout=120)
            done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            for problem in cli_problems(done, allowed=(0, 1, 2)):
                a.lose(f"{command}: {problem}")
            if done.returncode != 0 and (command == "install" or done.returncode == 2):
                a.check("error:" in err and "hint:" in err, f"{command}: no error/hint")
                a.note(f"{command} stopped with a clear error" + (" and rolled back" if "rolled back" in err else ""))
            else:
                a.note(f"{command} finished before the manager left")
            bad = half_written(pm.unit_dir)
            a.check(not bad, f"{command}: half-written unit file")
            if command == "install":
                files = {p.name for p in pm.unit_dir.glob("ai-os-*")}
                link = (pm.unit_dir / "timers.target.wants" / f"ai-os-{JOB}.timer").is_symlink()
                whole = files == {f"ai-os-{JOB}.service", f"ai-os-{JOB}.timer"} and link
                a.check(whole if done.returncode == 0 else (not files and not link), f"install left half: {files}")
            leftover = pm.unit_dir
            with private_manager() as pm2:
                # The same unit files, now in front of a fresh manager.
                shutil.copytree(leftover, pm2.unit_dir, symlinks=True, dirs_exist_ok=True)
                sb2 = UnitsSandbox(pm2, project, sched)
                again = units(sb2, "install", JOB)
                a.check(again.returncode == 0, f"rerun install exit {again.returncode}")
                a.check(units(sb2, "diff", JOB).returncode == 0, "rerun did not converge (diff not 0)")
        finally:
            stop_manager(pm)


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("manager-gone")
    for _ in range(counts.manager_gone):
        with tally.attempt() as a:
            one(a, random.Random(rng.random()))
    return tally
