"""Timer facts for ``aios-status``: what the user manager really has for each job.

:func:`timer_status` is the one entry point.  It never raises for an unreachable bus: every
job then maps to ``None`` and the reason says why, in operator-safe words.
"""

from __future__ import annotations

from pathlib import Path

from aios_systemd.errors import AiosError, BusUnavailableError

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry
    from aios_systemd.units.drift import DriftReport, Expected


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
    }


def _severity(finding: Any) -> int:
    from aios_systemd.units.drift import SEVERITY

    return SEVERITY.index(finding) if finding in SEVERITY else len(SEVERITY)


def timer_status(
    ctx: Context, registry: Registry, cfg: LocalConfig
) -> tuple[dict[str, dict[str, Any] | None], str | None]:
    """``(timers, reason)``: per job id a JSON-ready dict, or every job ``None`` plus why.

    Per job: ``installed`` (our timer file exists, or the manager has the timer loaded),
    ``unit``, ``ownership`` (ours / hand-edited / foreign / None), ``unitFileState``,
    ``activeState``, ``calendars`` (normalized, as loaded), ``nextElapse`` and
    ``lastTrigger`` (ISO-8601 UTC or None), ``drift`` (the job's worst drift state,
    ``in-sync`` when none) and ``driftFindings`` (every finding, most serious first).
    """
    from aios_systemd.units.drift import gather
    from aios_systemd.units.systemd import UserManager

    try:
        manager = UserManager(ctx.env)
        with manager:
            report = gather(ctx, _expected(ctx, registry, cfg), manager)
    except BusUnavailableError as exc:
        return {job.id: None for job in registry}, exc.message
    return {job.id: _job_view(report, job.id) for job in registry}, None


def unit_dir_label(ctx: Context) -> str:
    """The unit directory as an operator-safe label."""
    default = ctx.home / ".config" / "systemd" / "user"
    return "~/.config/systemd/user" if Path(ctx.unit_dir) == default else "$XDG_CONFIG_HOME/systemd/user"
