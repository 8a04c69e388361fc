"""``aios-aggregate``: the direct aggregate, counterpart of ``bun run aggregate``.

Same collectors, same generated-data gate and shared data lock as the scheduler jobs, but no
scheduler run state and no per-job run lock.  Its diagnostic trace (redacted JSON lines,
0600) goes to ``<project-root>/logs/aggregate-<time>.jsonl`` and
``logs/aggregate.latest.jsonl``; only the newest traces are kept.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd.cli import common
from aios_systemd.cli.spec import Scope

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.data.orchestration import Aggregated

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


def aggregate(ctx: Context, scope: Scope, *, lock_timeout: float = 30.0) -> tuple[Aggregated, float]:
    """Run the direct aggregate for ``scope`` with its trace; returns the outcome and duration."""
    from aios_systemd.data import orchestration
    from aios_systemd.registry import REGISTRY
    from aios_systemd.runs import new_run_id

    t0 = time.monotonic()
    trace = Trace(ctx, new_run_id())
    trace.event("start", scope=str(scope))
    try:
        if scope is Scope.HOST_LOCAL:
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


def _human(doc: dict[str, Any]) -> str:
    state = "written" if doc["outcome"] == "written" else f"not written ({doc['outcome']})"
    if doc["outcome"] == "written" and doc["degraded"]:
        state += ", degraded"
    warnings: list[str] = doc["warnings"]
    lines = [f"aggregate ({doc['scope']}): {state} · {doc['durationMs'] / 1000:.1f}s · {len(warnings)} warning(s)"]
    if doc["generatedAt"]:
        lines.append(f"generatedAt {doc['generatedAt']} ({doc['bytesWritten']} bytes)")
    if doc["rule"]:
        lines.append(f"rule: {doc['rule']}")
    lines += [f"  warning: {w}" for w in warnings[:10]]
    lines.append("trace: logs/aggregate.latest.jsonl")
    return "\n".join(lines)


def run(*, scope: Scope, project_root: Path | None, json_: bool) -> int:
    from aios_systemd import fsio
    from aios_systemd.context import Context

    ctx = Context.from_environ(project_root=project_root)
    ctx.require_project_root()
    # Refused up front with its own fix, as aios-run does (the data lock lives there).
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    out, duration = aggregate(ctx, scope)
    doc = summary(out, duration)
    # Warnings and rules are already operator-safe; redact once more at the last step.
    doc["warnings"] = [ctx.privacy.redact_line(str(w)) for w in out.warnings]
    doc["rule"] = ctx.privacy.redact_line(str(doc["rule"])) if doc["rule"] else None
    if json_:
        common.print_json(doc)
    else:
        print(_human(doc))
    if out.write is not None and not out.write.ok:
        from aios_systemd.outcomes import NEWER_DATA_FIX, UNUSABLE_DATA_FIX

        hint = {
            "newer-version": NEWER_DATA_FIX,
            "unusable": UNUSABLE_DATA_FIX,
            "lock-timeout": "another writer holds the generated-data lock; wait and rerun",
            "privacy": "a collector produced private data; see logs/aggregate.latest.jsonl",
            "invalid": "a collector produced data the schema refuses; see logs/aggregate.latest.jsonl",
        }.get(out.write.outcome, "check the project's src/data directory and free space, then rerun")
        common.print_error("generated data was not written", hint)
    return exit_code(out)


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-aggregate", argv)
