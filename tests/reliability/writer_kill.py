"""Scenario 2: the generated-data writer SIGKILLed at random moments of a write loop.

After each kill the artifact is the previous document or one the writer wrote, valid, and
never missing once it existed; a following write gets the data lock promptly.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aios_systemd.context import Context
from aios_systemd.data import writer
from aios_systemd.registry import ScopeKind, WriteScope
from tests.data.support import host_branch
from tests.reliability.common import PYTHON, Attempt, Counts, Tally, clean_env
from tests.support.safe_dirs import safe_directory

MODES = ("host", "item", "full")


def _marker(doc: dict[str, object], mode: str) -> str | None:
    """What identifies the write that produced ``doc`` (the child numbers its writes)."""
    try:
        if mode == "host":
            return str(doc["host"]["kernel"])  # type: ignore[index]
        item = doc["extensions"]["items"]["demo-ext"]  # type: ignore[index]
        return f"{mode}:{item['count']}:{doc['host']['kernel'] if mode == 'full' else ''}"  # type: ignore[index]
    except (KeyError, TypeError):
        return None


def _expected(mode: str, n: int) -> str:
    if mode == "host":
        return f"6.1.{n}-test"
    return f"{mode}:{n}:{f'6.1.{n}-full' if mode == 'full' else ''}"


def one(a: Attempt, rng: random.Random, root: Path) -> None:
    sched, project = root / "sched", root / "project"
    project.mkdir(parents=True, exist_ok=True)
    env = clean_env(AIOS_SCHEDULER_ROOT=str(sched), HOME=str(root))
    ctx = Context.from_environ(env, project_root=project)
    mode = rng.choice(MODES)
    before = ctx.live_data_path.read_bytes() if ctx.live_data_path.exists() else None
    padding = str(rng.choice([0, 50, 2000]))  # bigger documents widen the write window
    child = subprocess.Popen(
        [PYTHON, "-m", "tests.data.writer_child", str(project), mode, "100000", padding],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    time.sleep(rng.uniform(0.4, 2.2))
    child.kill()
    out, _ = child.communicate()
    landed = [int(line.split()[1]) for line in out.splitlines() if line.split()[1:2] and line.split()[1].isdigit()]
    a.note("killed mid-write loop" if landed else "killed before its first write")

    data = ctx.live_data_path.read_bytes() if ctx.live_data_path.exists() else None
    if (before is not None or landed) and not a.check(data is not None, "artifact missing after it existed"):
        return
    if data is None:
        return
    model, source = writer.read_live_data(ctx)
    if not a.check(source == "live" and model is not None, "artifact invalid after kill"):
        return
    doc = json.loads(data)
    # Old, the last write reported, or the one in flight when the kill came.
    allowed = {_marker(json.loads(before), mode)} if before is not None else set()
    if landed:
        allowed |= {_expected(mode, landed[-1]), _expected(mode, landed[-1] + 1)}
    else:
        allowed.add(_expected(mode, 0))
    a.check(_marker(doc, mode) in allowed or data == before, "artifact is neither the old nor a written document")

    t0 = time.monotonic()
    result = writer.write_live_data_for_scope(
        ctx, WriteScope(ScopeKind.HOST_LOCAL), host_branch("6.1.0-after"), lock_timeout=5
    )
    a.check(result.ok, f"following write failed: {result.outcome}")
    a.check(time.monotonic() - t0 < 5, "data lock stuck")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("writer-kill")
    with safe_directory("campaign-writer-") as root:
        seeds = [random.Random(rng.random()) for _ in range(counts.writer_kills)]

        def lane(index: int) -> list[Attempt]:
            out = []
            for r in seeds[index :: counts.workers]:
                a = Attempt()
                try:
                    one(a, r, root / f"w{index}")
                except Exception as exc:  # noqa: BLE001 - recorded as a failed try
                    a.lose(f"harness error {type(exc).__name__}: {exc}")
                out.append(a)
            return out

        with ThreadPoolExecutor(counts.workers) as pool:
            for attempts in pool.map(lane, range(counts.workers)):
                for a in attempts:
                    tally.record(a)
    return tally
