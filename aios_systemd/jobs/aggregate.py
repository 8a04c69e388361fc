"""``aggregate``: the full compatibility writer (host/local plus every enabled extension).

Run by the runner (:func:`run`), or directly by ``aios-aggregate`` (:func:`direct`, the
runbook's ``bun run aggregate``): the same collectors, the same generated-data gate and
shared data lock, but no scheduler run state and no job lock.  The direct aggregate's
diagnostic trace (redacted JSON lines, 0600) goes to
``<project-root>/logs/aggregate-<run-id>.jsonl`` and ``logs/aggregate.latest.jsonl``; only
the newest traces are kept.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd.jobs.agent_aggregate import lock_timeout, to_handler_result
from aios_systemd.registry import ScopeKind

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.data.orchestration import Aggregated
    from aios_systemd.runner.api import HandlerResult, RunContext

# Time kept back from the job timeout for the write after the extension collectors.
WRITE_RESERVE_SECONDS = 60.0


def run(rc: RunContext) -> HandlerResult:
    from aios_systemd.data.orchestration import aggregate_full

    reserve = min(WRITE_RESERVE_SECONDS, rc.remaining() * 0.1)
    out = aggregate_full(
        rc.ctx,
        rc.registry,
        deadline=rc.deadline - reserve,
        lock_timeout=lock_timeout(rc),
        emit=rc.log.event,
        on_written=rc.data_written,
    )
    return to_handler_result(out)


# -- aios-aggregate: the same aggregate without the runner ------------------------------

TRACE_KEEP = 20
TRACE_PREFIX = "aggregate-"
LATEST = "aggregate.latest.jsonl"
MAX_TRACE_BYTES = 1 << 20
DEFAULT_JOB = "aggregate"


def _logs_dir(ctx: Context) -> Path:
    from aios_systemd import fsio
    from aios_systemd.errors import UnsafePathError

    logs = ctx.project_root / "logs"
    try:
        st = os.lstat(logs)
    except FileNotFoundError:
        return fsio.make_dirs(logs, "the project logs directory", fsio.PRIVATE_DIR_MODE)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            "the project logs directory is a symlink or not a directory",
            "replace it with a real directory (or remove it) and rerun",
        )
    return logs


class Trace:
    """The direct aggregate's diagnostic trace: one redacted JSON object per line."""

    def __init__(self, ctx: Context, run_id: str) -> None:
        from aios_systemd.runlog import RunLog

        self.dir = _logs_dir(ctx)
        self.path = self.dir / f"{TRACE_PREFIX}{run_id}.jsonl"
        self._log = RunLog(self.path, run_id, DEFAULT_JOB, ctx.privacy)

    def event(self, name: str, **fields: object) -> None:
        self._log.event(name, **fields)

    @property
    def refused(self) -> str | None:
        return self._log.refused

    def finish(self) -> None:
        from aios_systemd import fsio
        from aios_systemd.errors import AiosError

        with contextlib.suppress(AiosError, OSError):
            data = fsio.read_bytes(self.path, "the aggregate trace", 2 * MAX_TRACE_BYTES, trusted=True)
            if data is not None:
                fsio.atomic_write(self.dir / LATEST, data, "the latest aggregate trace")
        prune(self.dir)


def prune(logs: Path, keep: int = TRACE_KEEP) -> int:
    """Delete all but the newest ``keep`` traces (names sort by time); returns how many went."""
    # A trace rotated by the run log (``.jsonl.1``) belongs to its run and goes with it.
    runs: dict[str, list[Path]] = {}
    for p in logs.glob(f"{TRACE_PREFIX}*.jsonl*"):
        if not p.name.startswith(LATEST):
            runs.setdefault(p.name.removesuffix(".1"), []).append(p)
    names = sorted(runs)
    gone = 0
    for name in names[:-keep] if keep else names:
        for old in runs[name]:
            with contextlib.suppress(OSError):
                old.unlink()
                gone += 1
    return gone


def summary(out: Aggregated, duration: float) -> dict[str, Any]:
    write = out.write
    return {
        "scope": str(out.scope),
        "outcome": write.outcome if write else "not-run",
        "rule": write.rule if write else None,
        "generatedAt": write.generated_at if write else None,
        "bytesWritten": write.bytes_written if write else 0,
        "degraded": out.degraded,
        "warnings": list(out.warnings),
        "freshness": out.freshness(),
        "durationMs": int(duration * 1000),
    }


def exit_code(out: Aggregated) -> int:
    from aios_systemd.errors import ExitCode

    if out.write is None or out.write.ok:
        return int(ExitCode.OK)
    if out.write.outcome == "lock-timeout":
        return int(ExitCode.BLOCKED)
    return int(ExitCode.FAILED)


def direct(ctx: Context, scope: ScopeKind, *, lock_timeout: float = 30.0) -> tuple[Aggregated, float]:
    """Run the direct aggregate for ``scope`` (host-local or full) with its trace; returns
    the outcome and duration."""
    from aios_systemd.data import orchestration
    from aios_systemd.registry import REGISTRY
    from aios_systemd.runs import new_run_id

    t0 = time.monotonic()
    trace = Trace(ctx, new_run_id())
    trace.event("start", scope=str(scope))
    try:
        if scope is ScopeKind.HOST_LOCAL:
            out = orchestration.aggregate_host_local(ctx, REGISTRY, lock_timeout=lock_timeout, emit=trace.event)
        else:
            deadline = t0 + REGISTRY.get(DEFAULT_JOB).timeout_seconds
            out = orchestration.aggregate_full(
                ctx, REGISTRY, deadline=deadline, lock_timeout=lock_timeout, emit=trace.event
            )
        # As aios-run: a refused .env.local or trace file is said, not silently dropped.
        out.warnings += [w for w in (ctx.env_local_warning(), trace.refused) if w is not None]
        trace.event(
            "finish",
            outcome=out.write.outcome if out.write else None,
            degraded=out.degraded,
            warningCount=len(out.warnings),
            durationMs=int((time.monotonic() - t0) * 1000),
        )
    finally:
        trace.finish()
    return out, time.monotonic() - t0
