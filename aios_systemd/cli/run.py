"""``aios-run JOB``: what a timer's service runs, and what a person runs by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._typing import TYPE_CHECKING
from . import common

if TYPE_CHECKING:
    from pathlib import Path

    from ..context import Context
    from ..registry import Registry
    from ..runner.api import Handler
    from ..runner.run import RunOutcome


def format_outcome(outcome: RunOutcome, *, with_hint: bool = True) -> str:
    from ..outcomes import hint_for

    r = outcome.record
    seconds = (r.duration_ms or 0) / 1000
    parts = [
        f"{r.job}: {r.state}",
        f"{seconds:.1f}s",
        f"{r.warning_count} warning(s)",
        f"exit {int(outcome.exit_code)}",
    ]
    if r.reason:
        parts.append(f"reason {r.reason}")
    line = " · ".join(parts) + f"\nrun {r.run_id} (trigger {r.trigger}, lock {r.lock_outcome})"
    for w in r.warnings[:10]:
        line += f"\n  warning: {w}"
    hint = hint_for(r.reason, r.job) if with_hint else None
    if hint:
        line += f"\nhint: {hint}"
    return line


def print_failure(outcome: RunOutcome) -> None:
    """A run that did not end cleanly (exit other than 0) is an error on stderr, as every
    refusal is, with its fix: the reason's, else the state's usual response."""
    from ..outcomes import STATE_COPY, hint_for

    r = outcome.record
    reason = f" (reason {r.reason})" if r.reason else ""
    fix = hint_for(r.reason, r.job) or STATE_COPY[r.state][1].format(job=r.job)
    common.print_error(f"{r.job}: {r.state}, exit {int(outcome.exit_code)}{reason}", fix)


def execute(ctx: Context, job_id: str, *, registry: Registry, handlers: Mapping[str, Handler], as_json: bool) -> int:
    """Run ``job_id`` and print its outcome; shared with the test-job harness.

    stdout carries the summary (or the record as JSON) for scripts; a run that failed is
    also an ``error:`` and ``hint:`` on stderr, where its fix then goes, not twice.  Under
    systemd the journal lines (with their priorities) say all of it."""
    from ..errors import ExitCode
    from ..runner.run import run_job
    from .progress import JournalReporter, reporter_for

    ctx.require_project_root()
    reporter = None if as_json else reporter_for(ctx.env)
    if reporter is None:
        outcome = run_job(ctx, job_id, registry=registry, handlers=handlers)
    else:
        outcome = run_job(ctx, job_id, registry=registry, handlers=handlers, observe=reporter)
    failed = outcome.exit_code != ExitCode.OK
    if as_json:
        from ..outcomes import hint_for

        # The record as its state file holds it, plus the fix the human summary prints.
        common.print_json({**outcome.record.to_json(), "hint": hint_for(outcome.record.reason, outcome.record.job)})
    elif isinstance(reporter, JournalReporter):
        return int(outcome.exit_code)
    else:
        print(format_outcome(outcome, with_hint=not failed), flush=True)
    if failed:
        print_failure(outcome)
    return int(outcome.exit_code)


def run_command(*, job: str, project_root: Path | None, json_: bool) -> int:
    from ..context import Context
    from ..jobs import default_handlers
    from ..registry import REGISTRY

    ctx = Context.from_environ(project_root=project_root)
    return execute(ctx, job, registry=REGISTRY, handlers=default_handlers(), as_json=json_)


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-run", argv)
