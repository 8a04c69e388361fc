"""``aios-status [--job JOB] [--json]``: what each job is doing, safe to paste anywhere."""

from __future__ import annotations

from collections.abc import Sequence

from . import common

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from ..config import LocalConfig
    from ..context import Context
    from ..registry import Registry
    from ..status.model import TimerView


def timer_view(ctx: Context, registry: Registry, cfg: LocalConfig) -> TimerView:
    """Timer facts from the user manager, or a reason why there are none."""
    from ..errors import AiosError
    from ..status.model import TimerView

    try:
        from ..units.report import timer_status
    except ImportError:
        return TimerView({}, "this build has no systemd unit support")
    try:
        timers, reason = timer_status(ctx, registry, cfg)
    except AiosError as exc:
        return TimerView({}, exc.message)
    return TimerView(timers, reason)


def _root_problem(ctx: Context) -> str | None:
    """Why the scheduler root cannot hold state, if it cannot (reported once, up front,
    instead of every job reading as unreadable-state): the rule the runner and the caches
    apply before they use it."""
    from ..errors import AiosError
    from ..fsio import check_private_dir

    try:
        check_private_dir(ctx.scheduler_root, "the scheduler root")
    except FileNotFoundError:
        return None
    except OSError:
        return "the scheduler root cannot be read"
    except AiosError as exc:
        return exc.message
    return None


def _redact_tree(node: Any, redact: Any) -> Any:
    """Every string value redacted; keys never: they are the report's own field names and
    ids, and a reader looks them up."""
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, list):
        return [_redact_tree(v, redact) for v in node]
    if isinstance(node, dict):
        return {k: _redact_tree(v, redact) for k, v in node.items()}
    return node


def build(ctx: Context, registry: Registry, job_ids: Sequence[str], *, with_timers: bool = True) -> dict[str, Any]:
    from .. import config, locks, state
    from ..data import freshness
    from ..status import model

    jobs = [registry.get(j) for j in job_ids] if job_ids else list(registry)
    cfg = config.load(ctx.config_path, registry, ctx.cache_dir)
    reads = {j.id: state.read(ctx, j.id) for j in jobs}
    holders = {j.id: locks.live_holder(ctx.lock_path(j.id)) for j in jobs}
    blocked = {j.id: state.read_blocked(ctx, j.id) for j in jobs}
    timers = timer_view(ctx, registry, cfg) if with_timers else model.NO_TIMER_VIEW
    artifact = freshness.read(ctx.live_data_path)
    doc = model.report(
        jobs, cfg, reads, holders, timers, blocked=blocked, root_problem=_root_problem(ctx), artifact=artifact
    )
    # The last line of defence: a state file edited by hand could carry anything.
    redacted: dict[str, Any] = _redact_tree(doc, ctx.privacy.redact_line)
    return redacted


def status_command(
    *,
    job: str | None,
    json_: bool,
    brief: bool,
    check: bool,
    metrics: bool,
    project_root: Path | None,
    no_timers: bool,
) -> int:
    from ..context import Context
    from ..registry import REGISTRY
    from ..status import render

    if sum((check, brief, json_, metrics)) > 1:
        from ..errors import UsageError

        raise UsageError("--check, --brief, --json and --metrics each print a format of their own", "pass one of them")
    ctx = Context.from_environ(project_root=project_root)
    if metrics:
        if job is not None:
            from ..errors import UsageError

            raise UsageError(
                "--metrics covers every job", "leave out --job (select the series by their aios_job label)"
            )
        from ..status.metrics import exposition  # the Prometheus client: only here

        print(exposition(ctx, REGISTRY, with_timers=not no_timers), end="")
        return 0
    doc = build(ctx, REGISTRY, [job] if job is not None else [], with_timers=not no_timers)
    if check:
        from ..status.check import check as check_report

        result = check_report(doc, one_job=job is not None)
        print(result.text)
        return int(result.level)
    if json_:
        common.print_json(doc["jobs"][0] if job is not None else doc)
    elif brief:
        print(render.table(doc))
    elif job is None:
        print(render.table(doc) + "\n\n" + render.render(doc))
    else:
        print(render.render(doc))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-status", argv)
