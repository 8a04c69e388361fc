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

from aios_systemd import fsio
from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import AiosError, UsageError
from aios_systemd.isotime import now_iso
from aios_systemd.record import Record

if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.context import Context
    from aios_systemd.registry import Registry
    from aios_systemd.units.systemd import LoadedUnit, UserManager


class Ping(enum.StrEnum):
    SENT = "sent"
    BY_RUN = "reported-by-run"  # aios-run's own exit-status ping told the check
    NOT_SET = "not-set"  # the job has no ping URL
    # None in the environment, and the project's .env.local, where it may be, cannot be
    # read: the project root is gone (a moved checkout), or the file is refused (warning).
    UNREADABLE = "env-local-unreadable"
    FAILED = "failed"  # the ping, or the URL, did not work: see the warning
    ALREADY = "already-reported"  # this failure was reported before: nothing sent again


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
    unrecorded: str | None = None  # why the report was not remembered (a rerun repeats it)

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
            "unrecorded": self.unrecorded,
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


def failure_key(loaded: LoadedUnit) -> str | None:
    """What tells one failure of a service from the next: its invocation (each start gets
    a new InvocationID), else when its main process exited; ``None`` when neither is known."""
    if loaded.invocation_id:
        return loaded.invocation_id
    return f"exited-{loaded.exec_main_exit_usec}" if loaded.exec_main_exit_usec else None


NOTIFY_LOCK_WAIT_SECONDS = 30  # within the notify unit's TimeoutStartSec (60)


def report_failure(ctx: Context, registry: Registry, unit: str, manager: UserManager) -> Alert:
    """Report ``unit``'s failure once: the ``/fail`` ping when ``aios-run`` did not report
    it, and a desktop notification.  The failure reported is remembered in the private
    state (:func:`state.record_reported_failure`), under the job's notify lock: a repeat for
    the same failure (by hand, or the notify unit started again) sends nothing."""
    from aios_systemd import locks, state

    job = job_of(unit, registry)
    loaded = manager.unit(unit)
    if loaded.active_state != "failed":
        found = loaded.active_state if loaded.load_state != "not-found" else "not loaded"
        return Alert(job, unit, False, f"{unit} has not failed (it is {found})", None, None, _ping_setting(job))
    key = failure_key(loaded)
    lock = locks.RunLock(ctx.locks_dir / f"{job}.notify.lock", "the job's failure-alert lock")
    try:
        fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
        fsio.ensure_private_dir(ctx.locks_dir, "the scheduler locks directory")
        held = lock.try_acquire(NOTIFY_LOCK_WAIT_SECONDS).acquired
        unrecorded = None if held else "another aios-notify held the job's failure-alert lock too long"
    except AiosError as exc:
        unrecorded = _why(exc)  # the report goes out all the same: twice is better than never
    if key is None and unrecorded is None:
        unrecorded = "the manager names neither the failed invocation nor when it exited"
    try:
        if key is not None and unrecorded is None and state.reported_failure(ctx, job) == key:
            return _alert(ctx, job, unit, loaded)._replace(ping=Ping.ALREADY, desktop=ALREADY)
        alert = _send(ctx, _alert(ctx, job, unit, loaded))
        if alert.ping is Ping.FAILED:
            return alert  # not reported: a rerun tries again (the error says so)
        if key is not None and unrecorded is None:
            try:
                state.record_reported_failure(ctx, job, key, now_iso("seconds"))
            except AiosError as exc:
                unrecorded = _why(exc)
        if unrecorded is None:
            return alert
        return alert._replace(unrecorded=f"this report was not recorded, so a rerun reports it again: {unrecorded}")
    finally:
        lock.release()


def _why(exc: AiosError) -> str:
    return exc.message + (f": {exc.hint}" if exc.hint else "")


ALREADY = "already reported this failure"


def _ping_setting(job: str) -> str:
    from aios_systemd import settings

    return settings.PING_URL.for_job(job).name


def _alert(ctx: Context, job: str, unit: str, loaded: LoadedUnit) -> Alert:
    """The failure as status says it, nothing sent yet."""
    from aios_systemd.units.drift import exit_description
    from aios_systemd.units.report import failed_inside_run, run_problem
    from aios_systemd.units.systemd import usec_to_iso

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
    ping = Ping.BY_RUN if failed_inside_run(exit_) else None
    return Alert(job, unit, True, detail, hint, ping, _ping_setting(job))


def _send(ctx: Context, alert: Alert) -> Alert:
    """``alert`` reported: the ``/fail`` ping unless aios-run pinged, the notification."""
    from aios_systemd import envfile, settings
    from aios_systemd.units.systemd import notify_desktop

    job, detail, hint = alert.job, alert.detail, alert.hint
    # The project root is the one the notify unit pins (--project-root), the same the
    # failed service pins as its working directory: with a moved checkout it is gone.
    refused: list[str] = []
    name, url = settings.ping_url(job, ctx.env, envfile.load(ctx.env_local_path, refused))
    ping, warning, ping_hint = alert.ping, None, None
    if ping is Ping.BY_RUN:
        pass
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
    return alert._replace(ping=ping, warning=warning, desktop=desktop, ping_hint=ping_hint)
