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

import json
from typing import TYPE_CHECKING, Any

from aios_systemd.data.collectors import Collected
from aios_systemd.isotime import now_iso
from aios_systemd.outcomes import RunState

if TYPE_CHECKING:
    from aios_systemd import state
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
    from aios_systemd.units.report import timer_status

    try:
        timers, reason = timer_status(ctx, registry, cfg)
    except Exception:  # noqa: BLE001 - timer facts are optional; status must still be projected
        return {}, "timer-status-failed"
    if reason is not None:
        return {}, "user-manager-unreachable"
    return timers, None


def collect(ctx: Context, registry: Registry) -> Collected:
    from aios_systemd import config, state

    cfg = config.load(ctx.config_path, registry, ctx.cache_dir)
    timers, timer_reason = timer_facts(ctx, registry, cfg)
    jobs: dict[str, Any] = {}
    for job in registry:
        settings = cfg.settings(job.id)
        read = state.read(ctx, job.id)
        record = read.record
        raw_timer = timers.get(job.id)
        label = str(read.state)
        if read.state is RunState.RUNNING and not _live(ctx, job.id, record):
            # A run that died (SIGKILL, power loss): its lock is stale, not a run going on.
            label = str(RunState.STALE_LOCK)
        if read.state is RunState.RUNNING:
            # A run in flight (this is how the aggregate jobs see themselves) keeps the
            # latest finished run's summary in its record.
            prev = (record.previous if record else None) or {}
            count = prev.get("warningCount")
            last = {
                "lastFinishedState": prev.get("state"),
                "finishedAt": prev.get("finishedAt"),
                "warningCount": count if isinstance(count, int) else 0,
            }
        elif record is not None:
            last = {
                "lastFinishedState": str(read.state),
                "finishedAt": record.finished_at,
                "warningCount": record.warning_count,
            }
        else:
            last = {"lastFinishedState": None, "finishedAt": None, "warningCount": 0}
        jobs[job.id] = {
            "state": label,
            **last,
            "cadence": {"id": settings.cadence.id, "calendars": list(settings.calendars)},
            "timerIntent": settings.timer_intent,
            "timer": _timer_view(raw_timer) if isinstance(raw_timer, dict) else None,
            "timerUnavailable": None if isinstance(raw_timer, dict) else (timer_reason or "no-timer-facts"),
        }
    branch = {"generatedAt": now_iso(), "jobs": jobs, "configWarningCount": len(cfg.warnings)}
    warnings = ("local scheduler config has warnings; see aios-status",) if cfg.warnings else ()
    return Collected(branch, warnings, extra={"timerReason": timer_reason})


def _live(ctx: Context, job_id: str, record: state.RunRecord | None) -> bool:
    """Whether the ``running`` record is a run going now (its holder alive and holding the lock)."""
    from aios_systemd.locks import live_holder

    holder = live_holder(ctx.lock_path(job_id))
    return holder is not None and record is not None and holder.run_id == record.run_id


def collect_dream(ctx: Context, registry: Registry) -> Collected:
    from aios_systemd import state

    last: str | None = None
    if "dream" in registry.jobs:
        read = state.read(ctx, "dream")
        if read.record is not None and str(read.state) in DREAM_COMPLETED:
            last = read.record.finished_at
    if last is None:
        before = previous_branch(ctx, "dream")
        last = before.get("lastRunAt") if before else None
    return Collected({"generatedAt": now_iso(), "lastRunAt": last})


def previous_branch(ctx: Context, name: str) -> dict[str, Any] | None:
    """Branch ``name`` of the current artifact when it is valid, else ``None``.  Only that
    branch is validated: the rest of the file is not this collector's business."""
    from pydantic import ValidationError

    from aios_systemd import fsio
    from aios_systemd.data import LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES, schema
    from aios_systemd.errors import AiosError

    try:
        raw = fsio.read_bytes(ctx.live_data_path, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES)
        doc = json.loads(raw) if raw is not None else None
    except (AiosError, ValueError, RecursionError):
        return None
    branch = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(branch, dict):
        return None
    try:
        schema.HOST_LOCAL_MODELS[name].model_validate(branch)
    except ValidationError:
        return None
    return branch
