"""``aios-aggregate``: the direct aggregate (:func:`aios_systemd.jobs.aggregate.direct`),
counterpart of ``bun run aggregate``: its summary, human or JSON, and its hint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aios_systemd.cli import common
from aios_systemd.cli.spec import Scope

TRACE = "logs/aggregate.latest.jsonl"  # the latest trace, in the project root


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
    lines.append(f"trace: {TRACE}")
    return "\n".join(lines)


def run(*, scope: Scope, project_root: Path | None, json_: bool) -> int:
    from aios_systemd import fsio
    from aios_systemd.context import Context
    from aios_systemd.jobs import aggregate
    from aios_systemd.registry import ScopeKind

    ctx = Context.from_environ(project_root=project_root)
    ctx.require_project_root()
    # Refused up front with its own fix, as aios-run does (the data lock lives there).
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    out, duration = aggregate.direct(ctx, ScopeKind(str(scope)))
    doc = aggregate.summary(out, duration)
    # Warnings and rules are already operator-safe; redact once more at the last step.
    doc["warnings"] = [ctx.privacy.redact_line(str(w)) for w in out.warnings]
    doc["rule"] = ctx.privacy.redact_line(str(doc["rule"])) if doc["rule"] else None
    if json_:
        common.print_json(doc)
    else:
        print(_human(doc))
    if out.write is not None and not out.write.ok:
        from aios_systemd.outcomes import write_failure

        fix = write_failure(out.write.outcome).fix
        common.print_error("generated data was not written", fix.format(where=TRACE, rerun="aios-aggregate"))
    return aggregate.exit_code(out)


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-aggregate", argv)
