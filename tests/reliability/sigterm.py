"""Scenario: the real ``aios-run agent-aggregate`` sent SIGTERM at random moments.

Moments: right at start (the interpreter still starting, its handlers perhaps not yet
installed), uniformly over a whole run, just after ``running`` is written, and around the
end of the run (final state, lock release, exit).  After each: the process is gone with
nothing of it left running; no ``running`` state and no holder record survive and the job
lock is free; the exit status is 143 with a final ``failed``/``terminated`` state of this
run, or 143 before the run recorded anything (``error:`` and ``hint:``), or the recorded
status of a run that had decided its outcome, or (only before its handlers were installed)
death by the signal with nothing recorded; a run whose handler had written the generated
data before the stop says so; no temp file is left; the next run takes the lock as
``acquired`` (not stale) and succeeds.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

from aios_systemd import state as state_mod
from aios_systemd.context import Context
from aios_systemd.locks import RunLock, holder_path
from aios_systemd.outcomes import RunState
from aios_systemd.runner.run import WRITTEN_BEFORE_STOP
from tests.reliability.common import (
    BIN,
    Attempt,
    Counts,
    Tally,
    clean_env,
    kill_all,
    pids_with_env,
    run_in_lanes,
    tmp_leftovers,
    torn_log_lines,
    wait_gone,
)
from tests.support.safe_dirs import safe_directory

JOB = "agent-aggregate"
MODES = ("start", "random", "running", "end")
TERMINATED = 128 + signal.SIGTERM


def _doc(path: Path) -> dict[str, object] | None:
    try:
        doc = json.loads(path.read_bytes())
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


class Worker:
    """One project and scheduler root; tries run one after another in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "project"
        self.home = root / "home"
        self.project.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.env = clean_env(AIOS_SCHEDULER_ROOT=str(root / "sched"), HOME=str(self.home))
        self.env.pop("JOURNAL_STREAM", None)
        self.ctx = Context.from_environ(self.env, project_root=self.project)
        self.argv = [str(BIN / "aios-run"), JOB, "--project-root", str(self.project)]

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv, env={**self.env, **extra}, capture_output=True, text=True, timeout=120, check=False
        )

    def baseline(self) -> float:
        t0 = time.monotonic()
        self.run()
        return time.monotonic() - t0

    def one(self, a: Attempt, rng: random.Random, mode: str, baseline: float) -> None:
        state_path = self.ctx.state_path(JOB)
        before = _doc(state_path)
        before_id = before.get("runId") if before else None
        data_before = _doc(self.ctx.live_data_path)
        marker = f"aios-sigterm-{uuid.uuid4().hex}"
        proc = subprocess.Popen(
            self.argv,
            env={**self.env, "AIOS_CAMPAIGN_MARK": marker},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def running() -> bool:
            doc = _doc(state_path)
            return bool(doc and doc.get("state") == "running" and doc.get("runId") != before_id)

        if mode == "start":
            time.sleep(rng.uniform(0, 0.03))
        elif mode == "random":
            time.sleep(rng.uniform(0, baseline * 1.2))
        elif mode == "running":
            deadline = time.monotonic() + 10
            while not running() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.03))
        else:
            time.sleep(max(0.0, baseline + rng.uniform(-0.06, 0.02)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        else:
            a.note(f"{mode}: the run ended before the signal")
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            a.lose(f"{mode}: aios-run did not end within 30 s of SIGTERM")
        self._check(a, mode, proc.returncode, out, err, before_id, data_before, marker)

    def _check(
        self,
        a: Attempt,
        mode: str,
        code: int,
        out: str,
        err: str,
        before_id: object,
        data_before: dict[str, object] | None,
        marker: str,
    ) -> None:
        left = wait_gone(pids_with_env(marker), 5.0)
        if left:
            a.lose(f"{mode}: a process of the run survived")
            kill_all(left)
        a.check("Traceback" not in out + err, f"{mode}: traceback printed")
        read = state_mod.read(self.ctx, JOB)
        a.check(read.state is not RunState.RUNNING, f"{mode}: a running state survived")
        a.check(read.state is not RunState.UNREADABLE_STATE, f"{mode}: state unreadable")
        a.check(not holder_path(self.ctx.lock_path(JOB)).exists(), f"{mode}: a holder record survived")
        if self.ctx.locks_dir.exists():  # else nothing ever took it
            lock = RunLock(self.ctx.lock_path(JOB), "the job lock")
            if a.check(lock.try_acquire().acquired, f"{mode}: the job lock is still held"):
                lock.release()
        record = read.record if read.record is not None and read.record.run_id != before_id else None
        if code == -signal.SIGTERM:
            a.note("died by the signal while the interpreter started")
            a.check(record is None, f"{mode}: killed by the signal after it recorded a run")
        elif code == TERMINATED and record is None:
            a.note("stopped before the run started")
            a.check("error: stopped by SIGTERM" in err and "hint: " in err, f"{mode}: early stop without error/hint")
        elif record is None:
            a.lose(f"{mode}: exit {code} without a record of the run")
        else:
            a.check(record.exit_code == code, f"{mode}: exit {code} but the state records {record.exit_code}")
            if code == TERMINATED:
                a.note("stopped mid-run: failed/terminated recorded")
                a.check(
                    record.state is RunState.FAILED and record.reason == "terminated",
                    f"{mode}: exit 143 recorded as {record.state}/{record.reason}",
                )
            else:
                a.note("finished before the stop mattered")
                a.check(code == 0, f"{mode}: exit {code}")
            data = _doc(self.ctx.live_data_path)
            wrote = data is not None and (
                data_before is None or data.get("generatedAt") != data_before.get("generatedAt")
            )
            said = WRITTEN_BEFORE_STOP in record.warnings
            if code == TERMINATED and wrote:
                a.note("data written before the stop")
                a.check(said, f"{mode}: data written before the stop but not said")
                a.check(
                    data is not None and record.freshness.get("hostLocal") == data.get("generatedAt"),
                    f"{mode}: freshness is not the data written",
                )
            a.check(not said or wrote, f"{mode}: says data was written, but none was")
        leftovers = (
            tmp_leftovers(self.ctx.state_dir)
            + tmp_leftovers(self.ctx.locks_dir)
            + tmp_leftovers(self.ctx.live_data_path.parent)
        )
        a.check(not leftovers, f"{mode}: temp file left behind")
        a.check(torn_log_lines(self.ctx.log_path(JOB)) == 0, f"{mode}: torn log line")
        nxt = self.run()
        if a.check(nxt.returncode == 0, f"{mode}: next run exit {nxt.returncode}"):
            after = state_mod.read(self.ctx, JOB).record
            a.check(
                after is not None and after.lock_outcome == "acquired" and after.state is not RunState.STALE_LOCK,
                f"{mode}: next run found a stale lock",
            )


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("sigterm")
    with safe_directory("campaign-sigterm-") as root:
        workers = [Worker(root / f"w{i}") for i in range(counts.workers)]
        baseline = min(workers[0].baseline() for _ in range(3))
        plan = [(MODES[i % len(MODES)], random.Random(rng.random())) for i in range(counts.sigterms)]

        run_in_lanes(tally, plan, len(workers), lambda i, a, p: workers[i].one(a, p[1], p[0], baseline))
    return tally
