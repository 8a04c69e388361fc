"""Scenario 6: load.  N concurrent ``aios-run`` of the same job: exactly one runs, the others
exit 75 (blocked), and no state or log line is torn.  Concurrent runs of different jobs
(real agent-aggregate and trend-finder, plus two extension-item writers) all complete and
their scoped writes all land in the artifact."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from aios_systemd import state as state_mod
from aios_systemd.context import Context
from aios_systemd.data import writer
from aios_systemd.outcomes import RunState
from tests.reliability.common import BIN, PYTHON, Attempt, Counts, Tally, clean_env, testjob_argv, torn_log_lines
from tests.support.safe_dirs import safe_directory

ITEM_WRITER = (
    "import sys; from aios_systemd.context import Context; from aios_systemd.data.writer import "
    "write_live_data_for_scope as w; from aios_systemd.registry import ScopeKind, WriteScope;"
    "ctx = Context.from_environ(); ext = sys.argv[1]\n"
    "for n in range(int(sys.argv[2])):\n"
    "    r = w(ctx, WriteScope(ScopeKind.EXTENSION_ITEM, ext), {'generatedAt': '2026-11-26T05:00:00.000Z',"
    " 'status': 'ok', 'count': n}, lock_timeout=60)\n"
    "    assert r.ok, r\n"
)


def same_job(a: Attempt, root: Path, n: int) -> None:
    sched, project = root / "sched", root / "project"
    project.mkdir(parents=True)
    env = clean_env(AIOS_SCHEDULER_ROOT=str(sched), AIOS_PROJECT_ROOT=str(project), AIOS_TEST_SLOW=f"{4 + n * 0.25}")
    procs = [
        subprocess.Popen(
            testjob_argv("slow"), env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    codes = sorted(p.wait(timeout=600) for p in procs)
    errs = [p.stderr.read() if p.stderr else "" for p in procs]
    a.check(codes == [0] + [75] * (n - 1), f"exit codes: {codes.count(0)} ran, {codes.count(75)} blocked")
    a.check(all("Traceback" not in e for e in errs), "traceback")
    ctx = Context.from_environ(env, project_root=project)
    a.check(torn_log_lines(ctx.log_path("slow")) == 0, "torn log line")
    events = [json.loads(line)["event"] for line in ctx.log_path("slow").read_text().splitlines()]
    a.check(events.count("start") == 1 and events.count("blocked") == n - 1, "log does not show one run")
    read = state_mod.read(ctx, "slow")
    a.check(read.state is RunState.SUCCESS, f"final state {read.state}")


def mixed(a: Attempt, root: Path) -> None:
    sched, project = root / "sched", root / "project"
    project.mkdir(parents=True)
    env = clean_env(AIOS_SCHEDULER_ROOT=str(sched), AIOS_PROJECT_ROOT=str(project), HOME=str(root))
    procs = {
        "agent-aggregate": [str(BIN / "aios-run"), "agent-aggregate"],
        "trend-finder": [str(BIN / "aios-run"), "trend-finder"],
        "ext-a": [PYTHON, "-c", ITEM_WRITER, "ext-a", "15"],
        "ext-b": [PYTHON, "-c", ITEM_WRITER, "ext-b", "15"],
    }
    running = {
        k: subprocess.Popen(v, env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for k, v in procs.items()
    }
    for name, p in running.items():
        code = p.wait(timeout=600)
        a.check(code == 0, f"{name} exit {code}")
    ctx = Context.from_environ(env, project_root=project)
    _model, source = writer.read_live_data(ctx)
    if not a.check(source == "live", "artifact missing or invalid"):
        return
    doc = json.loads(ctx.live_data_path.read_bytes())
    items = doc.get("extensions", {}).get("items", {})
    for ext in ("ext-a", "ext-b"):
        a.check(items.get(ext, {}).get("count") == 14, f"{ext} write lost")
    agent = state_mod.read(ctx, "agent-aggregate").record
    a.check(
        agent is not None and agent.state in (RunState.SUCCESS, RunState.WARNING_ONLY, RunState.DEGRADED),
        "agent-aggregate did not complete",
    )
    if agent is not None:
        a.check(str(doc.get("generatedAt", "")) >= agent.started_at, "agent-aggregate's host-local write lost")
    tf = state_mod.read(ctx, "trend-finder").record
    a.check(tf is not None and tf.state is not RunState.FAILED, "trend-finder failed")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("load")
    with safe_directory("campaign-load-") as base:
        for i in range(counts.load_same_rounds):
            with tally.attempt() as a:
                same_job(a, base / f"same{i}", counts.load_same)
        for i in range(counts.load_mixed_rounds):
            with tally.attempt() as a:
                mixed(a, base / f"mixed{i}")
    return tally
