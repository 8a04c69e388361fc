"""The scheduler projection and Dream's timestamp, from the runner's own private files.

Per job: the latest state label, when it finished, its warning count, the cadence in effect
(local config over registry defaults) and the timer facts the user manager reports when it
is reachable.  Only labels, counts and times leave here: never warnings text, reasons,
paths or unit file contents.

Dream never writes the artifact.  Its one trace, ``dream.lastRunAt``, is projected here
from Dream's own latest-run state by the host-local branch; a Dream run that did not
complete keeps the previous value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aios_systemd.data.collectors import Collected, now_iso

if TYPE_CHECKING:
    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry

# Dream runs that produced a dream (a stale-lock run completed after recovery).
DREAM_COMPLETED = frozenset({"success", "warning-only", "degraded", "stale-lock"})
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _word(value: object) -> str | None:
    if isinstance(value, str) and value and len(value) <= 32 and value[0].isalpha() and set(value) <= _WORD_CHARS:
        return value
    return None


def _timer_view(raw: dict[str, Any]) -> dict[str, Any]:
    # Picks reviewed fields only: the report also carries unit names and drift findings.
    return {
        "installed": bool(raw.get("installed")),
        "activeState": _word(raw.get("activeState")),
        "unitFileState": _word(raw.get("unitFileState")),
        "nextElapseAt": raw.get("nextElapse") if isinstance(raw.get("nextElapse"), str) else None,
        "lastTriggerAt": raw.get("lastTrigger") if isinstance(raw.get("lastTrigger"), str) else None,
        "drift": _word(raw.get("drift")),
    }


def timer_facts(ctx: Context, registry: Registry, cfg: LocalConfig) -> tuple[dict[str, Any], str | None]:
    """``(per-job raw facts, reason code)``; facts are empty with a reason when unreachable."""
    try:
        from aios_systemd.units.report import timer_status
    except ImportError:
        return {}, "not-in-this-build"
    try:
        timers, reason = timer_status(ctx, registry, cfg)
    except Exception:  # noqa: BLE001 - timer facts are optional; status must still be projected
        return {}, "timer-status-failed"
    if reason is not None:
        return {}, "user-manager-unreachable"
    return timers, None


def collect(ctx: Context, registry: Registry) -> Collected:
    from aios_systemd import config
    from aios_systemd.runner import state

    cfg = config.load(ctx.config_path, registry)
    timers, timer_reason = timer_facts(ctx, registry, cfg)
    jobs: dict[str, Any] = {}
    for job in registry:
        settings = cfg.settings(job.id)
        read = state.read(ctx, job.id)
        record = read.record
        raw_timer = timers.get(job.id)
        jobs[job.id] = {
            "state": str(read.state),
            "finishedAt": record.finished_at if record else None,
            "warningCount": record.warning_count if record else 0,
            "cadence": {"id": settings.cadence.id, "calendars": list(settings.calendars)},
            "timerIntent": settings.timer_intent,
            "timer": _timer_view(raw_timer) if isinstance(raw_timer, dict) else None,
            "timerUnavailable": None if isinstance(raw_timer, dict) else (timer_reason or "no-timer-facts"),
        }
    branch = {"generatedAt": now_iso(), "jobs": jobs, "configWarningCount": len(cfg.warnings)}
    warnings = ("local scheduler config has warnings; see aios-status",) if cfg.warnings else ()
    return Collected(branch, warnings, extra={"timerReason": timer_reason})


def collect_dream(ctx: Context, registry: Registry) -> Collected:
    from aios_systemd.runner import state

    last: str | None = None
    if "dream" in registry.jobs:
        read = state.read(ctx, "dream")
        if read.record is not None and str(read.state) in DREAM_COMPLETED:
            last = read.record.finished_at
    if last is None:
        last = _previous_dream(ctx)
    return Collected({"generatedAt": now_iso(), "lastRunAt": last})


def _previous_dream(ctx: Context) -> str | None:
    from aios_systemd.data.writer import read_live_data

    doc, source = read_live_data(ctx)
    if source != "live" or doc is None or doc.dream is None:
        return None
    return doc.dream.last_run_at
