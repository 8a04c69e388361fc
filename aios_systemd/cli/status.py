"""``aios-status [--job JOB] [--json]``: what each job is doing, safe to paste anywhere."""

from __future__ import annotations

from collections.abc import Sequence

from .._typing import TYPE_CHECKING
from . import common

if TYPE_CHECKING:
    from pathlib import Path


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
    from ..status.model import build

    if sum((check, brief, json_, metrics)) > 1:
        from ..errors import UsageError

        raise UsageError("--check, --brief, --json and --metrics each print a format of their own", "pass one of them")
    ctx = Context.from_environ(project_root=project_root)
    ctx.require_project_root(safe=False)  # a typo'd root must not read as all well
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
