"""``aios-check-private``: what :mod:`aios_systemd.private_artifacts` finds, human or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd.cli import common

if TYPE_CHECKING:
    from aios_systemd.private_artifacts import Finding


def _human(findings: list[Finding]) -> str:
    from aios_systemd.private_artifacts import TRACKED

    if not findings:
        return "private artifacts: ok (none tracked, all ignored)"
    lines = [f"private artifacts: {len(findings)} problem(s)"]
    for f in findings:
        lines.append(f"  {f.path}: {'tracked by git' if f.problem == TRACKED else 'not ignored'} ({f.artifact})")
        lines.append(f"    fix: {f.fix}")
    return "\n".join(lines)


def run(*, project_root: Path | None, json_: bool) -> int:
    from aios_systemd.context import Context
    from aios_systemd.errors import ExitCode
    from aios_systemd.private_artifacts import check

    ctx = Context.from_environ(project_root=project_root)
    findings = check(ctx)
    doc: dict[str, Any] = {"ok": not findings, "findings": [f.to_json() for f in findings]}
    if json_:
        common.print_json(doc)
    else:
        print(_human(findings))
    if findings:
        common.print_error(
            "private artifacts are tracked or not ignored", "apply the fixes above, then rerun aios-check-private"
        )
        return int(ExitCode.FAILED)
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-check-private", argv)
