"""Scenario 1: ``aios-run`` SIGKILLed at random and at targeted moments of a run.

Targeted points: right after the fork of the handler (before it can arm its parent-death
signal), while the handler runs (``running`` state on disk), around the end of the run
(final state write, lock release); plus uniformly random delays over a whole run.  After
each kill: nothing of the run survives, the state file reads back valid, the log has no
torn line, and the next run proceeds (``stale-lock`` when the dead run left its holder
record or a ``running`` state behind).
"""

from __future__ import annotations

import json
import random
import subprocess
import time
import uuid
from pathlib import Path

from aios_systemd import state as state_mod
from aios_systemd.context import Context
from aios_systemd.locks import holder_path
from aios_systemd.outcomes import RunState
from tests.reliability.common import (
    Attempt,
    Counts,
    Tally,
    clean_env,
    kill_all,
    pids_with_env,
    run,
    run_in_lanes,
    testjob_argv,
    tmp_leftovers,
    torn_log_lines,
    wait_gone,
)
from tests.support.safe_dirs import safe_directory

JOB = "slow"
MODES = ("random", "fork", "running", "end")


def _state_doc(path: Path) -> dict[str, object] | None:
    try:
        doc = json.loads(path.read_bytes())
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def _wait_for(predicate, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


class _Worker:
    def __init__(self, root: Path, baseline: float) -> None:
        self.sched = root / "sched"
        self.project = root / "project"
        self.project.mkdir(parents=True, exist_ok=True)
        self.baseline = baseline
        self.ctx = Context.from_environ(
            {"AIOS_SCHEDULER_ROOT": str(self.sched), "HOME": str(root)}, project_root=self.project
        )

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(AIOS_SCHEDULER_ROOT=str(self.sched), AIOS_PROJECT_ROOT=str(self.project), **extra)

    def one(self, a: Attempt, rng: random.Random, mode: str) -> None:
        marker = f"aios-campaign-{uuid.uuid4().hex}"
        state_path = self.ctx.state_path(JOB)
        before = _state_doc(state_path)
        before_id = before.get("runId") if before else None
        slow = {"random": rng.uniform(0, 0.3), "fork": 5.0, "running": 5.0, "end": rng.uniform(0.0, 0.15)}[mode]
        env = self.env(AIOS_CAMPAIGN_MARK=marker, AIOS_TEST_SLOW=f"{slow:.3f}")
        proc = subprocess.Popen(
            testjob_argv(JOB), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.project
        )

        def running() -> bool:
            doc = _state_doc(state_path)
            return bool(doc and doc.get("state") == "running" and doc.get("runId") != before_id)

        if mode == "random":
            time.sleep(rng.uniform(0, self.baseline + slow))
        elif mode == "fork":
            _wait_for(lambda: bool(_children(proc.pid)), proc)
        elif mode == "running":
            _wait_for(running, proc)
            time.sleep(rng.uniform(0, 0.3))
        else:
            _wait_for(running, proc)
            time.sleep(max(0.0, slow + rng.uniform(-0.01, 0.06)))
        proc.kill()
        proc.wait()
        a.note(f"killed {'after exit' if proc.returncode != -9 else 'mid-run'}")

        # The handler (and anything it started) must not outlive the runner: it would keep
        # the job lock and block every later run.
        left = wait_gone(pids_with_env(marker), 3.0)
        if left:
            a.lose(f"{mode}: handler outlived the SIGKILLed runner")
            kill_all(left)
            wait_gone(left, 3.0)

        read = state_mod.read(self.ctx, JOB)
        a.check(read.state is not RunState.UNREADABLE_STATE, f"{mode}: state unreadable after kill")
        expect_stale = holder_path(self.ctx.lock_path(JOB)).exists() or read.state is RunState.RUNNING
        a.check(torn_log_lines(self.ctx.log_path(JOB)) == 0, f"{mode}: torn log line")

        nxt = run(testjob_argv(JOB), self.env(AIOS_TEST_SLOW="0"), cwd=self.project, timeout=60)
        if not a.check(nxt.returncode == 0, f"{mode}: next run exit {nxt.returncode}"):
            return
        after = state_mod.read(self.ctx, JOB)
        want = RunState.STALE_LOCK if expect_stale else RunState.SUCCESS
        a.check(after.state is want, f"{mode}: next run labelled {after.state} (want {want})")
        if expect_stale:
            a.note("next run reported stale-lock")
        a.check(not holder_path(self.ctx.lock_path(JOB)).exists(), f"{mode}: holder record left after a clean run")
        a.check(torn_log_lines(self.ctx.log_path(JOB)) == 0, f"{mode}: torn log line")
        leftovers = tmp_leftovers(self.ctx.state_dir) + tmp_leftovers(self.ctx.locks_dir)
        if leftovers:
            a.note("temp file of a killed write left behind")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("runner-kill")
    with safe_directory("campaign-runner-") as root:
        # How long one whole run takes here, so random delays cover all of it.
        probe = root / "probe"
        probe.mkdir()
        t0 = time.monotonic()
        run(
            testjob_argv(JOB),
            clean_env(AIOS_SCHEDULER_ROOT=str(probe / "s"), AIOS_PROJECT_ROOT=str(probe), AIOS_TEST_SLOW="0"),
            cwd=probe,
        )
        baseline = time.monotonic() - t0
        plan = [(MODES[i % len(MODES)], random.Random(rng.random())) for i in range(counts.runner_kills)]
        workers = [_Worker(root / f"w{i}", baseline) for i in range(counts.workers)]

        run_in_lanes(tally, plan, len(workers), lambda i, a, p: workers[i].one(a, p[1], p[0]))
    return tally
