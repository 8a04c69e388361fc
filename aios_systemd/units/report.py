"""Timer facts for ``aios-status``: what the user manager really has for each job.

:func:`timer_status` is the one entry point.  It never raises for a manager that cannot be
asked: every job then maps to ``None`` and the reason says why, in operator-safe words.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import AiosError
from aios_systemd.registry import unit_names

if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry
    from aios_systemd.units.drift import DriftReport, Expected, UnitReport
    from aios_systemd.units.systemd import UserManager


def _expected(ctx: Context, registry: Registry, cfg: LocalConfig) -> tuple[Expected, ...]:
    from aios_systemd.units import drift, templates

    try:
        return drift.expected_units(
            ctx, registry, cfg, None, working_directory=ctx.project_root, aios_run=templates.resolve_aios_run()
        )
    except AiosError:
        # Status must not fail because this checkout cannot render (say, aios-run is not
        # installed): compare what is installed and loaded without the rendered layer.
        out: list[Expected] = []
        for job in registry:
            wanted = cfg.settings(job.id).timer_intent
            service, timer = templates.unit_names(job.id)
            out += [drift.Expected(service, job.id, "service", wanted), drift.Expected(timer, job.id, "timer", wanted)]
        return tuple(out)


def _job_view(report: DriftReport, job_id: str) -> dict[str, Any]:
    from aios_systemd.units.drift import summary

    units = {u.kind: u for u in report.for_job(job_id)}
    timer = units.get("timer")
    loaded = timer.loaded if timer else None
    service = units["service"].loaded if "service" in units else None
    drift = summary(units.values())
    worst = [u.state for u in units.values() if not u.in_sync]
    return {
        "installed": bool(timer and (timer.installed is not None or (loaded and loaded.load_state == "loaded"))),
        "unit": timer.name if timer else None,
        "ownership": str(timer.installed) if timer and timer.installed else None,
        "unitFileState": (loaded.unit_file_state or None) if loaded else None,
        "activeState": loaded.active_state if loaded else None,
        "calendars": list(loaded.calendars) if loaded else [],
        "nextElapse": loaded.next_elapse if loaded else None,
        "lastTrigger": loaded.last_trigger if loaded else None,
        "drift": str(min(worst, key=_severity)) if worst else "in-sync",
        "driftFindings": drift["findings"],
        "servesAnotherProjectRoot": bool("service" in units and units["service"].other_root),
        "service": (
            {
                "unit": units["service"].name,
                "activeState": service.active_state,
                "result": service.result or None,
                "exit": service.exit,
                "exitedAt": service.exited_at,
                "installedAt": units["service"].installed_at,
            }
            if service is not None
            else None
        ),
    }


def _severity(finding: Any) -> int:
    from aios_systemd.units.drift import SEVERITY

    return SEVERITY.index(finding) if finding in SEVERITY else len(SEVERITY)


def timer_status(
    ctx: Context, registry: Registry, cfg: LocalConfig
) -> tuple[dict[str, dict[str, Any] | None], str | None]:
    """``(timers, reason)``: per job id a JSON-ready dict, or every job ``None`` plus why
    (operator-safe words) when the manager cannot be asked; never raises for that.  The one
    place status, its metrics and the scheduler projection read timer facts.

        Per job: ``installed`` (our timer file exists, or the manager has the timer loaded),
        ``unit``, ``ownership`` (ours / hand-edited / foreign / None), ``unitFileState``,
        ``activeState``, ``calendars`` (normalized, as loaded), ``nextElapse`` and
        ``lastTrigger`` (ISO-8601 UTC or None), ``drift`` (the job's worst drift state,
        ``in-sync`` when none) and ``driftFindings`` (every finding, most serious first).
    """
    from aios_systemd.units.systemd import UserManager

    try:
        with UserManager(ctx.env) as manager:
            report = drift_report(ctx, registry, cfg, manager)
    except AiosError as exc:  # the bus unreachable, the manager refusing
        return {job.id: None for job in registry}, exc.message
    return {job.id: _job_view(report, job.id) for job in registry}, None


def drift_report(ctx: Context, registry: Registry, cfg: LocalConfig, manager: UserManager) -> DriftReport:
    """Every reviewed job's units and any other of our shape in the unit directory, as
    ``aios-units diff`` with no job compares them (without the rendered layer when this
    installation cannot render)."""
    from aios_systemd.units.drift import gather

    return gather(ctx, _expected(ctx, registry, cfg), manager)


def installed_units(report: DriftReport) -> tuple[UnitReport, ...]:
    """The units of every job that has a unit installed or loaded (a job not installed yet
    is not drift of what is installed), and the notify unit when it is."""
    from aios_systemd.units.drift import Finding

    ours = [u for u in report.units if Finding.FOREIGN not in u.findings]
    jobs = {u.job_id for u in ours if u.installed is not None or u.loaded is not None}
    return tuple(u for u in ours if u.job_id in jobs)


def unit_dir_label(ctx: Context) -> str:
    """The unit directory as an operator-safe label."""
    default = ctx.home / ".config" / "systemd" / "user"
    return "~/.config/systemd/user" if Path(ctx.unit_dir) == default else "$XDG_CONFIG_HOME/systemd/user"


# -- what the manager did with the job's runs ----------------------------------------------
# Exit statuses of aios-run itself (outcomes.ExitCode): the run's own record says why,
# except 2, a refusal before any run was recorded (an unsafe project root, an unknown job).
_RUN_EXITS = frozenset({"1", "124", "130", "143"})


def failed_inside_run(exit_: str | None) -> bool:
    """Whether a failed service's exit (``exit_description``) is aios-run's own for a run
    that took the job lock: that run recorded why, and its exit-status ping told the job's
    check.  Anything else (200/CHDIR, 203/EXEC, 2, a signal) happened before or outside it."""
    return exit_ in _RUN_EXITS


_SETUP_HINTS = {
    "200/CHDIR": "its working directory (the project root) is gone or moved: run 'aios-units install {job}' "
    "from the checkout where it lives now, or 'aios-units uninstall {job}'",
    "203/EXEC": "the aios-run it starts is gone or not executable (a removed virtual environment or package): "
    "run 'aios-units install {job}' from the installation you use now",
    "2": "aios-run refused to start the job (a usage error: an unsafe project root, an unknown job); "
    "'aios-units logs {job}' shows the error and its hint",
}


def moved_root_hint(*jobs: str) -> str:
    """The fix for services whose project root is gone or moved (200/CHDIR), for ``jobs``."""
    return _SETUP_HINTS["200/CHDIR"].format(job=" ".join(jobs))


def _when(iso: str | None) -> Any:
    from datetime import datetime

    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def run_problem(job_id: str, view: Mapping[str, Any] | None, last_attempt_at: str | None) -> dict[str, str] | None:
    """What the manager's own facts say went wrong with the job's timer runs, or ``None``.

    ``view`` is the job's timer view (:func:`timer_status`), ``last_attempt_at`` when the
    latest recorded attempt (a run or a blocked try) started.  A failed service is one;
    a timer that fired after the latest recorded attempt, with no run under way, is the
    other: the service never reached aios-run, so nothing else records it."""
    service = (view or {}).get("service") or {}
    unit = str(service.get("unit") or unit_names(job_id)[0])
    logs = f"aios-units logs {job_id}"  # the service's journal lines with the runs
    from aios_systemd.units.drift import Finding  # a view comes from a drift report: loaded already

    # A drop-in that changes what the unit runs explains a failure or a missing run better
    # than any log line: what it started may write nowhere we read.
    overridden = Finding.OVERRIDDEN in ((view or {}).get("driftFindings") or ())
    override_hint = (
        f"a drop-in changes what {unit} runs: 'aios-units diff {job_id}' names it; "
        "remove or fix that drop-in (aios-units never edits it)"
    )
    if service.get("activeState") == "failed":
        exit_ = service.get("exit")
        detail = f"{unit} failed" + (f" ({exit_})" if exit_ else f" ({service.get('result') or 'failed'})")
        if service.get("exitedAt"):
            detail += f" at {service['exitedAt']}"
        if overridden:
            hint = override_hint
        elif failed_inside_run(exit_):
            hint = f"aios-run ran and failed: the latest run says why ('{logs}' shows it)"
        elif exit_ in _SETUP_HINTS:
            hint = _SETUP_HINTS[str(exit_)].format(job=job_id, unit=unit)
        else:
            hint = (
                f"'{logs}' shows why; check the manager's environment "
                "(aios-units doctor) and that the project root and aios-run still exist"
            )
        return {"kind": "service-failed", "detail": detail, "hint": hint}
    trigger = _when((view or {}).get("lastTrigger"))
    attempt = _when(last_attempt_at)
    # A service file written after the trigger answers it too: install replaced the unit
    # that trigger started, so its fate says nothing of this one.  (Both in whole seconds:
    # the same second is not after.)
    installed = _when(service.get("installedAt"))
    running = service.get("activeState") in ("activating", "active", "deactivating", "reloading")
    if (
        trigger is not None
        and not running
        and (attempt is None or trigger > attempt)
        and (installed is None or trigger >= installed)
    ):
        return {
            "kind": "trigger-without-run",
            "detail": f"the timer fired at {view and view.get('lastTrigger')} but no run was recorded after it",
            "hint": override_hint
            if overridden
            else f"the service did not reach aios-run: '{logs}' shows why; check the manager's "
            "environment (aios-units doctor) and that the project root and aios-run still exist",
        }
    return None
