"""The contract between the runner and a job's handler.

A handler is a plain function ``(RunContext) -> HandlerResult``.  It runs in a child
process of ``aios-run`` (its own process group) so the runner can enforce the job's
timeout on the whole tree; it returns a structured result, never prints, and sends every
external command through :meth:`RunContext.run_command`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from .. import proc
from .._typing import TYPE_CHECKING
from ..record import Record

if TYPE_CHECKING:
    from ..context import Context
    from ..registry import Job, Registry
    from ..runlog import RunLog


class HandlerOutcome(enum.StrEnum):
    SUCCESS = "success"
    WARNING_ONLY = "warning-only"
    DEGRADED = "degraded"
    SKIPPED = "skipped"
    FAILED = "failed"


class HandlerResult(Record):
    """What a handler reports.  ``warnings`` are short operator-safe summaries (the runner
    redacts them again); ``freshness`` maps a data branch to its ISO-8601 ``generatedAt``;
    ``reason`` is a short code such as ``extension-disabled`` for skipped or failed runs."""

    outcome: HandlerOutcome
    warnings: tuple[str, ...] = ()
    freshness: Mapping[str, str] = MappingProxyType({})
    reason: str | None = None


# The note a handler sends when it has written the generated data (see data_written).
DATA_WRITTEN = "data-written"


class RunContext(Record):
    job: Job
    run_id: str
    trigger: str
    ctx: Context
    registry: Registry
    deadline: float  # time.monotonic() value after which the runner stops the tree
    log: RunLog
    notes_fd: int = -1  # the runner's result pipe, for notes sent before the result

    def data_written(self, freshness: Mapping[str, str]) -> None:
        """Tell the runner the generated data was written (branch -> ``generatedAt``), so a
        run stopped after this says so.  Call it right after the write, with the stop
        signals held around both (the writer's ``on_written`` does), so no stop falls
        between them."""
        if self.notes_fd < 0:
            return
        import json

        line = json.dumps({"note": DATA_WRITTEN, "freshness": dict(freshness)}).encode() + b"\n"
        with contextlib.suppress(OSError):  # the runner is gone: nobody is left to tell
            os.write(self.notes_fd, line)  # a short line in one write: never interleaved on a pipe

    @property
    def project_root(self) -> Path:
        return self.ctx.project_root

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def run_command(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> proc.ProcResult:
        """Run a reviewed command in the project root with a clean environment, bounded by
        the run's deadline; its output goes to the private log only."""
        budget = self.remaining() if timeout is None else min(timeout, self.remaining())
        self.log.event("command-start", command=Path(argv[0]).name if argv else "")
        try:
            result = proc.run(
                argv,
                cwd=self.ctx.project_root,
                env=proc.clean_env(self.ctx.env, extra_env),
                timeout=budget,
                check=False,
                stdin=stdin,
            )
        except proc.ProcessTimeoutError:
            self.log.event("command-timeout", command=Path(argv[0]).name)
            raise
        self.log.event(
            "command-end",
            command=result.command,
            exitCode=result.returncode,
            durationMs=int(result.duration * 1000),
            stdoutTail=result.stdout[-4096:].decode("utf-8", "replace"),
            stderrTail=result.stderr[-4096:].decode("utf-8", "replace"),
        )
        if check and result.returncode != 0:
            from ..errors import ProcessFailedError

            raise ProcessFailedError(result.command, result.returncode)
        return result


Handler = Callable[[RunContext], HandlerResult]
