"""The failure alert of a job with notify on: what ``aios-notify UNIT`` does when the
notify unit (``ai-os-notify@UNIT``) runs after the job's service failed.

It reads why the service failed from the manager (``Result``, ``ExecMainCode``,
``ExecMainStatus``), then reports it once: a failure inside ``aios-run`` (a run that took
the job lock and exited 1, 124, 130 or 143) was already told to the job's check by that
run's exit-status ping, so only a failure before or outside it (200/CHDIR, 203/EXEC, a
refusal before the lock, a signal) gets the ``/fail`` ping.  Either way a desktop
notification says which job failed and why, in the words ``aios-status`` uses, when a
notification server answers.  Nothing here prints: the CLI does.
"""

from __future__ import annotations

import enum

from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import UsageError
from aios_systemd.record import Record

if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.context import Context
    from aios_systemd.registry import Registry
    from aios_systemd.units.systemd import UserManager


class Ping(enum.StrEnum):
    SENT = "sent"
    BY_RUN = "reported-by-run"  # aios-run's own exit-status ping told the check
    NOT_SET = "not-set"  # the job has no ping URL
    # None in the environment, and the project's .env.local, where it may be, cannot be
    # read: the project root is gone (a moved checkout), or the file is refused (warning).
    UNREADABLE = "env-local-unreadable"
    FAILED = "failed"  # the ping, or the URL, did not work: see the warning


class Alert(Record):
    job: str
    unit: str
    failed: bool  # False: the service has not failed, nothing was reported
    detail: str  # what happened, as status says it (no path, no secret)
    hint: str | None
    ping: Ping | None  # None: nothing to report
    ping_setting: str  # the variable that holds the job's ping URL (never its value)
    warning: str | None = None  # why the ping failed, or why .env.local was refused
    desktop: str | None = None  # None: shown (or nothing to report); else why not
    ping_hint: str | None = None  # how to have the ping sent next time

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "unit": self.unit,
            "failed": self.failed,
            "detail": self.detail,
            "hint": self.hint,
            "ping": str(self.ping) if self.ping else None,
            "pingSetting": self.ping_setting,
            "pingHint": self.ping_hint,
            "warning": self.warning,
            "desktop": "shown" if self.failed and self.desktop is None else self.desktop,
        }


def job_of(unit: str, registry: Registry) -> str:
    """The job whose service ``unit`` is, or a usage error: the notify unit reports the
    services of reviewed jobs only."""
    from aios_systemd.units.drift import OUR_UNIT

    match = OUR_UNIT.fullmatch(unit)
    if match is None or match["kind"] != "service" or match["job"] not in registry.jobs:
        raise UsageError(
            "UNIT is not the service of a reviewed job",
            "pass a job's service, ai-os-<job>.service (the notify unit passes its instance, %i)",
        )
    return match["job"]


def summary(job: str) -> str:
    return f"AI OS job {job} failed"


def report_failure(ctx: Context, registry: Registry, unit: str, manager: UserManager) -> Alert:
    """Report ``unit``'s failure once: the ``/fail`` ping when ``aios-run`` did not report
    it, and a desktop notification."""
    from aios_systemd import envfile, settings
    from aios_systemd.units.drift import exit_description
    from aios_systemd.units.report import failed_inside_run, run_problem
    from aios_systemd.units.systemd import notify_desktop, usec_to_iso

    job = job_of(unit, registry)
    # The project root is the one the notify unit pins (--project-root), the same the
    # failed service pins as its working directory: with a moved checkout it is gone.
    refused: list[str] = []
    name, url = settings.ping_url(job, ctx.env, envfile.load(ctx.env_local_path, refused))
    loaded = manager.unit(unit)
    if loaded.active_state != "failed":
        state = loaded.active_state if loaded.load_state != "not-found" else "not loaded"
        return Alert(job, unit, False, f"{unit} has not failed (it is {state})", None, None, name)
    exit_ = exit_description(loaded.exec_main_code, loaded.exec_main_status)
    view = {
        "service": {
            "unit": unit,
            "activeState": loaded.active_state,
            "result": loaded.result,
            "exit": exit_,
            "exitedAt": usec_to_iso(loaded.exec_main_exit_usec),
        }
    }
    problem = run_problem(job, view, None)
    assert problem is not None  # a failed service is always a problem
    # Fixed copy and the manager's facts; through the privacy layer all the same, as every
    # text that leaves the machine (the ping) or shows on a screen.
    detail, hint = ctx.privacy.redact(problem["detail"]), ctx.privacy.redact(problem["hint"])
    warning = ping_hint = None
    if failed_inside_run(exit_):
        ping = Ping.BY_RUN
    elif not url and (refused or not ctx.project_root.is_dir()):
        ping, warning = Ping.UNREADABLE, (refused[0] if refused else None)
        ping_hint = (
            f"for failure alerts that survive a moved checkout, give the user manager {name} too: "
            f"a line {name}=<its URL> in ~/.config/environment.d/aios.conf (mode 0600), "
            "then systemctl --user daemon-reload"
        )
    elif not url:
        ping = Ping.NOT_SET
    else:
        from aios_systemd import ping as pinging

        try:
            warning = pinging.Pinger(name, pinging.check_url(name, url)).fail(f"{job}: {detail}")
        except pinging.PingUrlError as exc:
            warning = str(exc)
        ping = Ping.FAILED if warning else Ping.SENT
    desktop = notify_desktop(ctx.env, summary(job), f"{detail}\n{hint}")
    return Alert(job, unit, True, detail, hint, ping, name, warning, desktop, ping_hint)
