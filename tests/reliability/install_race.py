"""Scenario 7: two concurrent ``aios-units install`` of the same job: one set of files, one
reload, both succeed, no failed unit in the manager."""

from __future__ import annotations

import json
import random
import subprocess

from tests.reliability.common import Attempt, Counts, Tally
from tests.reliability.units_common import AIOS_UNITS, JOB, SERVICE, TIMER, failed_units, units, units_sandbox


def one(a: Attempt) -> None:
    with units_sandbox() as sb:
        argv = [AIOS_UNITS, "install", JOB, "--json"]
        procs = [
            subprocess.Popen(
                argv, env=sb.env, cwd=sb.project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
        if not a.check([r[2] for r in results] == [0, 0], f"exit codes {[r[2] for r in results]}"):
            return
        docs = [json.loads(r[0]) for r in results]
        a.check(sorted(bool(d["reloaded"]) for d in docs) == [False, True], "not exactly one reload")
        writes = [s for d in docs for s in d["done"] if s["action"] == "write"]
        a.check(len(writes) == 2, f"{len(writes)} unit writes (want 2)")
        names = sorted(p.name for p in sb.unit_dir.iterdir())
        a.check(names == [SERVICE, TIMER, "timers.target.wants"], "unexpected files in the unit dir")
        a.check(not failed_units(sb), "failed unit in the manager")
        a.check(units(sb, "diff", JOB).returncode == 0, "diff not in sync afterwards")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("install-race")
    for _ in range(counts.install_races):
        with tally.attempt() as a:
            one(a)
    return tally
