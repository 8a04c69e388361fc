"""Scenario 3: handler process trees (children, grandchildren, one ignoring SIGTERM, one in
a new session) stopped by the job timeout and by a real systemd user manager stopping the
unit.  None survives (process scan) and the final state is written."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tests.reliability.common import (
    PYTHON,
    REPO,
    Attempt,
    Counts,
    Tally,
    clean_env,
    kill_all,
    pid_alive,
    run,
    testjob_argv,
    wait_gone,
)
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, private_manager

TREE_PIDS = 6  # the tree job writes six pids: runner, handler, sh, sleep, setsid sh, its sleep


def _pids(pidfile: Path) -> list[int]:
    try:
        return [int(x) for x in pidfile.read_text().split()]
    except (OSError, ValueError):
        return []


def _final_state(a: Attempt, sched: Path, want_state: str, want_code: int, how: str) -> None:
    try:
        doc = json.loads((sched / "state" / "tree.json").read_text())
    except (OSError, ValueError):
        a.lose(f"{how}: no final state")
        return
    a.check(
        doc.get("state") == want_state and doc.get("exitCode") == want_code,
        f"{how}: final state {doc.get('state')}/{doc.get('exitCode')}/{doc.get('reason')}",
    )


def _survivors(a: Attempt, pids: list[int], how: str) -> None:
    a.check(len(pids) >= TREE_PIDS, f"{how}: tree did not start fully ({len(pids)} pids)")
    left = wait_gone(pids, 2.0)
    if left:
        a.lose(f"{how}: {len(left)} process(es) of the tree survived")
        kill_all(left)


def on_timeout(a: Attempt, root: Path) -> None:
    sched, pidfile = root / "sched", root / "pids"
    pidfile.unlink(missing_ok=True)
    done = run(
        testjob_argv("tree"),
        clean_env(AIOS_SCHEDULER_ROOT=str(sched), AIOS_PROJECT_ROOT=str(root), AIOS_TEST_PIDFILE=str(pidfile)),
        cwd=root,
        timeout=60,
    )
    a.check(done.returncode == 124, f"timeout: exit {done.returncode}")
    _survivors(a, _pids(pidfile), "timeout")
    _final_state(a, sched, "timeout", 124, "timeout")


def on_unit_stop(a: Attempt, rng: random.Random, pm: PrivateManager, root: Path, n: int) -> None:
    sched, pidfile = root / "sched", root / "pids"
    pidfile.unlink(missing_ok=True)
    name = f"aios-campaign-tree-{n}.service"
    env = {
        "PYTHONPATH": str(REPO),
        "AIOS_SCHEDULER_ROOT": str(sched),
        "AIOS_PROJECT_ROOT": str(root),
        "AIOS_TEST_PIDFILE": str(pidfile),
        "AI_OS_SCHEDULER_TRIGGER_SOURCE": "systemd",
    }
    # Shaped like the reviewed service (oneshot, default KillMode), but running the test
    # job: the real units only ever run reviewed jobs.
    (pm.unit_dir / name).write_text(
        "[Unit]\nDescription=campaign tree\n\n[Service]\nType=oneshot\n"
        f"WorkingDirectory={root}\nExecStart={PYTHON} -m tests.support.testjobs tree\n"
        + "".join(f"Environment={k}={v}\n" for k, v in env.items())
    )
    try:
        with pm.connect() as mgr:
            mgr.reload()
            mgr.start(name)
            deadline = time.monotonic() + 20
            while len(_pids(pidfile)) < TREE_PIDS and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            mgr.wait_job(mgr.stop(name), 30)
            state = mgr.unit(name).active_state
        a.check(state in ("inactive", "failed"), f"unit-stop: unit still {state}")
        pids = _pids(pidfile)
        _survivors(a, pids, "unit-stop")
        if pids and pid_alive(pids[0]):
            a.lose("unit-stop: runner still alive")
        _final_state(a, sched, "failed", 143, "unit-stop")
    finally:
        (pm.unit_dir / name).unlink(missing_ok=True)
        with pm.connect() as mgr:
            mgr.reload()
            mgr.reset_failed(name)


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("process-trees")
    with safe_directory("campaign-trees-") as root:
        for _ in range(counts.tree_timeouts):
            with tally.attempt() as a:
                on_timeout(a, root)
        with private_manager() as pm:
            for n in range(counts.tree_stops):
                with tally.attempt() as a:
                    on_unit_stop(a, random.Random(rng.random()), pm, root, n)
    return tally
