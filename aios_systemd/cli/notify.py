"""``aios-notify UNIT``: what the notify unit runs when a job's service failed."""

from __future__ import annotations

from collections.abc import Sequence

from .._typing import TYPE_CHECKING
from . import common

if TYPE_CHECKING:
    from pathlib import Path

    from ..context import Context
    from ..units.alert import Alert

_PING_LINES = {
    "sent": "ping: the failure went to the job's check ({setting}/fail)",
    "reported-by-run": "ping: none sent: aios-run reported this run to the job's check itself (its exit-status ping)",
    "not-set": "ping: none sent: {setting} is not set",
    "env-local-unreadable": "ping: none sent: {setting} is not in the environment, and the project's "
    ".env.local cannot be read{why}",
}


def lines(alert: Alert) -> list[tuple[str, str]]:
    """``(priority, text)`` per line of the report (sd-daemon(3) priorities)."""
    from ..units.alert import ALREADY, Ping
    from .common import INFO, NOTICE, WARNING

    if not alert.failed:
        return [(INFO, f"nothing to report: {alert.detail}")]
    out = [(NOTICE, f"{alert.job}: {alert.detail}")]
    if alert.ping is Ping.ALREADY:
        out.append((INFO, f"{ALREADY}: nothing sent again"))
        return out + ([(NOTICE, f"hint: {alert.hint}")] if alert.hint else [])
    if alert.ping is not None and str(alert.ping) in _PING_LINES:
        # Without a refusal to say why, the project root itself is gone.
        why = "" if alert.warning else " (the checkout the unit names is gone?)"
        out.append((INFO, _PING_LINES[str(alert.ping)].format(setting=alert.ping_setting, why=why)))
    if alert.desktop is None:
        out.append((INFO, "desktop: notification shown"))
    else:
        out.append((INFO, f"desktop: not shown: {alert.desktop}"))
    for hint in (alert.hint, alert.ping_hint):
        if hint:
            out.append((NOTICE, f"hint: {hint}"))
    for warning in (alert.warning, alert.unrecorded):
        if warning:
            out.append((WARNING, f"warning: {warning}"))
    return out


def _pinned_root(ctx: Context, unit: str) -> Path | None:
    """For a run by hand with neither --project-root nor AIOS_PROJECT_ROOT: the project
    root the failed service's installed unit pins, whose .env.local holds the job's ping
    URL (not the current directory's).  The notify unit passes its own --project-root."""
    from pathlib import Path

    from ..units.drift import OUR_UNIT, pinned_project_root, read_installed

    if ctx.env.get("AIOS_PROJECT_ROOT") or OUR_UNIT.fullmatch(unit) is None:
        return None  # a unit that is not ours is refused later, with its hint
    text = read_installed(ctx.unit_dir, unit).text
    root = pinned_project_root(text) if text is not None else None
    return Path(root) if root and root.startswith("/") else None


def notify_command(*, unit: str, project_root: Path | None, json_: bool) -> int:
    import os
    import sys

    from ..context import Context
    from ..errors import AiosError, ExitCode
    from ..registry import REGISTRY
    from ..units.alert import Ping, report_failure
    from ..units.systemd import UserManager

    ctx = Context.from_environ(project_root=project_root)
    pinned = _pinned_root(ctx, unit) if project_root is None else None
    if pinned is not None:
        ctx = Context.from_environ(project_root=pinned)
    with UserManager(ctx.env) as manager:
        alert = report_failure(ctx, REGISTRY, unit, manager)
    if json_:
        common.print_json(alert.to_dict())
    else:
        journal = common.is_journal(sys.stdout, os.environ)
        for priority, text in lines(alert):
            print(f"{priority if journal else ''}{text}")
    if alert.ping is Ping.FAILED:
        raise AiosError(
            f"{alert.job}: the failure was not told to the job's check: {alert.warning}",
            f"check {alert.ping_setting} (the check's ping URL) and that its server answers; "
            f"'aios-units logs {alert.job}' shows the failure itself",
            exit_code=ExitCode.FAILED,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.dispatch("aios-notify", argv)
