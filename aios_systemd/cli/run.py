"""``aios-run JOB``: what a timer's service runs, and what a person runs by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from . import common
from .spec import COMMANDS, PROJECT_ROOT

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    import typer

    from ..context import Context
    from ..registry import Registry
    from ..runner.api import Handler
    from ..runner.run import RunOutcome

HELP = """Run one reviewed scheduler job: registry check, non-overlap lock, timeout on the
whole process tree, sanitized latest-run state and a private log.

Examples:

  aios-run agent-aggregate

  aios-run trend-finder --project-root ~/src/ai-os --json

Exit codes: 0 success, warning-only, degraded, skipped or stale-lock; 1 failed;
2 usage (unknown or unavailable job); 75 blocked by a live run; 124 timeout;
130/143 stopped by SIGINT/SIGTERM.
"""


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


def run_command(job: str, project_root: str | Path | None = None, json_: bool = False) -> int:
    from ..context import Context
    from ..registry import REGISTRY
    from ..runner.handlers import default_handlers

    ctx = Context.from_environ(project_root=project_root)
    return execute(ctx, job, registry=REGISTRY, handlers=default_handlers(), as_json=json_)


def build_app() -> typer.Typer:
    import typer

    app = typer.Typer(add_completion=False, help=HELP, no_args_is_help=True)

    @app.command(help=HELP)
    def run(
        job: str = typer.Argument(..., help="A reviewed job id: aggregate, agent-aggregate, trend-finder, dream."),
        project_root: Path | None = typer.Option(None, "--project-root", help=PROJECT_ROOT.help),
        json_: bool = typer.Option(False, "--json", help="Print the final run record as JSON."),
    ) -> int:
        return run_command(job, project_root, json_)

    return app


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch(COMMANDS["aios-run"], argv, {(): run_command}, build_app)


entry = common.entry_point(main)
