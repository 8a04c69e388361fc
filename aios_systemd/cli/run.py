"""``aios-run JOB``: what a timer's service runs, and what a person runs by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import common

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    from pathlib import Path

    from ..context import Context
    from ..registry import Registry
    from ..runner.api import Handler
    from ..runner.run import RunOutcome


def format_outcome(outcome: RunOutcome) -> str:
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
    hint = hint_for(r.reason, r.job)
    if hint:
        line += f"\nhint: {hint}"
    return line


def execute(ctx: Context, job_id: str, *, registry: Registry, handlers: Mapping[str, Handler], as_json: bool) -> int:
    """Run ``job_id`` and print its outcome; shared with the test-job harness."""
    from ..runner.run import run_job
    from .progress import JournalReporter, reporter_for

    ctx.require_project_root()
    reporter = None if as_json else reporter_for(ctx.env)
    if reporter is None:
        outcome = run_job(ctx, job_id, registry=registry, handlers=handlers)
    else:
        outcome = run_job(ctx, job_id, registry=registry, handlers=handlers, observe=reporter)
    if as_json:
        from ..outcomes import hint_for

        # The record as its state file holds it, plus the fix the human summary prints.
        common.print_json({**outcome.record.to_json(), "hint": hint_for(outcome.record.reason, outcome.record.job)})
    elif not isinstance(reporter, JournalReporter):
        print(format_outcome(outcome))
    return int(outcome.exit_code)


def run_command(*, job: str, project_root: Path | None, json_: bool) -> int:
    from ..context import Context
    from ..registry import REGISTRY
    from ..runner.handlers import default_handlers

    ctx = Context.from_environ(project_root=project_root)
    return execute(ctx, job, registry=REGISTRY, handlers=default_handlers(), as_json=json_)


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-run", argv)
