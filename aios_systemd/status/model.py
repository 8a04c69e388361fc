"""The operator status model: pure functions from what is known to a JSON-ready report.

Everything here is built from labels, reviewed ids, timestamps and redacted text; the
report never holds a path, a raw log line, an environment value or command output.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from .._typing import TYPE_CHECKING
from ..config import LocalConfig, Source
from ..context import CONFIG_EXAMPLE_RELPATH, CONFIG_RELPATH
from ..errors import ExitCode
from ..locks import Holder
from ..outcomes import STATE_COPY, RunState, hint_for
from ..record import Record
from ..registry import REGISTRY, Job, ScopeKind, period_for, times_of
from ..state import RunRecord, StateRead
from ..units.report import run_problem

if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..data.freshness import Freshness
    from ..registry import Registry

SCHEMA_VERSION = 1


class TimerView(Record):
    """What the user manager says about each job's timer (``None`` per job when unknown)."""

    timers: Mapping[str, Mapping[str, Any] | None]
    reason: str | None  # why timers are unknown (bus unreachable), operator-safe


NO_TIMER_VIEW = TimerView({}, "timer facts were not requested")


def _instant(iso: str) -> datetime:
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def age_seconds(iso: str | None, now: datetime) -> int | None:
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        return max(0, int((now - when).total_seconds()))
    except (ValueError, OverflowError, TypeError):  # year 1 with an offset overflows; naive vs aware
        return None


OTHER_CHECKOUT_STEP = (
    "The latest run of {job} was for another checkout that shares this scheduler root: "
    "run aios-status there, or give each checkout its own AIOS_SCHEDULER_ROOT"
)
OTHER_CHECKOUT = "its latest run was for another checkout (a shared scheduler root)"

DEAD_RUN = (
    "The last run stopped before finishing; the next run recovers it (stale-lock)",
    "Rerun to allow stale-lock recovery: aios-run {job}",
)


def _latest_run(job: Job, read: StateRead, dead: bool, other_checkout: bool) -> dict[str, Any]:
    meaning, _ = DEAD_RUN if dead else STATE_COPY[read.state]
    r = read.record
    # One scheduler root can record runs of several checkouts (state is kept per job id):
    # a run for another one says nothing of this project.
    out: dict[str, Any] = {"state": str(read.state), "label": meaning, "forAnotherProjectRoot": other_checkout}
    keys = (
        "runId",
        "exitCode",
        "trigger",
        "lockOutcome",
        "warningCount",
        "startedAt",
        "finishedAt",
        "durationMs",
        "reason",
        "handlerOutcome",
        "warnings",
    )
    if r is None:
        out.update(dict.fromkeys(keys))
        out["warningCount"] = 0
        out["warnings"] = []
        out["previous"] = None
        return out
    doc = r.to_json()
    out.update({k: doc.get(k) for k in keys})
    out["previous"] = doc.get("previous")
    return out


def _next_steps(
    job: Job,
    read: StateRead,
    dead: bool,
    intent: bool,
    timer: Mapping[str, Any] | None,
    timer_known: bool,
    cfg: LocalConfig,
    other_checkout: bool = False,
    timer_reason: str | None = None,
) -> list[str]:
    steps: list[str] = []
    if not job.available:
        return ["This job is unavailable in this release; nothing to do"]
    if other_checkout:
        steps.append(OTHER_CHECKOUT_STEP.format(job=job.id))
    problem = (timer or {}).get("problem")
    if problem:
        # What the manager did with the timer's runs outranks the latest recorded run:
        # a service that never reaches aios-run leaves an old success on record.
        steps.append(f"Timer runs fail: {problem['detail']}; {problem['hint']}")
    if cfg.warnings:
        steps.append(f"Fix {CONFIG_RELPATH} (see {CONFIG_EXAMPLE_RELPATH}); defaults are in use meanwhile")
    _, response = DEAD_RUN if dead else STATE_COPY[read.state]
    if read.state not in (RunState.SUCCESS,):
        # The fix for the recorded reason first: it is more precise than the label's
        # usual response (a skip for a disabled extension is not a wiring problem).
        hint = None if dead or read.record is None else hint_for(read.record.reason, job.id)
        if hint:
            steps.append(hint[0].upper() + hint[1:])
        steps.append(response.format(job=job.id))
    if timer_known:
        installed = bool(timer and timer.get("installed"))
        if intent and not installed:
            steps.append(f"Install its timer: aios-units install {job.id}")
        elif not intent and installed:
            steps.append(f"Timer intent is off but a timer is installed: aios-units uninstall {job.id}")
        elif timer and timer.get("drift") not in (None, "in-sync"):
            steps.append(f"Timer differs from what is wanted: aios-units diff {job.id}")
    elif intent and timer_reason and timer_reason != NO_TIMER_VIEW.reason:
        # Not "no action": whether the timer exists is unknown from here.
        steps.append(
            f"Its timer could not be checked ({timer_reason}): run aios-status in your login session, "
            "where the user manager answers (aios-units doctor says what is missing)"
        )
    if not steps:
        steps.append("No action required")
    return steps


def job_report(
    job: Job,
    cfg: LocalConfig,
    read: StateRead,
    holder: Holder | None,
    timers: TimerView,
    now: datetime | None = None,
    blocked: RunRecord | None = None,
    artifact: Freshness | None = None,
    project_key: str | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    settings = cfg.settings(job.id)
    calendars = list(settings.calendars)
    record = read.record
    other_checkout = bool(record and record.project and project_key and record.project != project_key)
    if job.write_scope.kind is ScopeKind.NONE or artifact is None:
        # A job that writes no generated data (Dream) records its own private output.
        branches, freshness_note = dict(record.freshness if record else {}), None
    else:
        # The data itself says how fresh it is: a failed run leaves fresh data, a run
        # from another checkout wrote other data.
        branches, freshness_note = artifact.for_scope(job.write_scope), artifact.problem
    freshness = {branch: {"generatedAt": at, "ageSeconds": age_seconds(at, now)} for branch, at in branches.items()}
    timer = timers.timers.get(job.id)
    timer_known = job.id in timers.timers and timer is not None and timers.reason is None
    if timer is not None:
        attempts = [r.started_at for r in (record, blocked) if r is not None and r.started_at]
        timer = {**timer, "problem": run_problem(job.id, timer, max(attempts, key=_instant) if attempts else None)}
    active = None
    if holder is not None:  # a live run's (locks.live_holder)
        active = {"runId": holder.run_id, "startedAt": holder.started_at}
    # A "running" record with no live holder is a run that died (SIGKILL, power loss).
    dead = read.state is RunState.RUNNING and active is None
    return {
        "schemaVersion": SCHEMA_VERSION,
        "job": job.id,
        "title": job.title,
        "lifecycle": str(job.lifecycle),
        "enabledByDefault": job.enabled_by_default,
        "timerEnabled": settings.timer_enabled,
        "timerIntent": {"enabled": settings.timer_intent, "source": str(settings.timer_intent_source)},
        "cadence": {
            "id": settings.cadence.id,
            "title": settings.cadence.title,
            "calendar": "; ".join(calendars),
            "calendars": calendars,
            "source": str(settings.cadence_source),
        },
        "writeScope": str(job.write_scope),
        "timeoutSeconds": job.timeout_seconds,
        "network": str(job.network),
        "latestRun": _latest_run(job, read, dead, other_checkout),
        "activeRun": active,
        "lastBlocked": (
            {"runId": blocked.run_id, "at": blocked.started_at, "blockedBy": blocked.blocked_by}
            if blocked is not None
            else None
        ),
        "freshness": freshness,
        "freshnessNote": freshness_note,
        "timer": dict(timer) if timer is not None else None,
        "timerReason": None if timer is not None else (timers.reason or "no timer facts for this job"),
        "configWarnings": [str(w) for w in cfg.warnings],
        "nextSteps": _next_steps(
            job,
            read,
            dead,
            settings.timer_intent,
            timer,
            timer_known,
            cfg,
            other_checkout,
            None if timer is not None else timers.reason,
        ),
    }


def report(
    jobs: Sequence[Job],
    cfg: LocalConfig,
    reads: Mapping[str, StateRead],
    holders: Mapping[str, Holder | None],
    timers: TimerView,
    now: datetime | None = None,
    blocked: Mapping[str, RunRecord | None] | None = None,
    root_problem: str | None = None,
    artifact: Freshness | None = None,
    project_key: str | None = None,
) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "schedulerRoot": {
            "ok": root_problem is None,
            "problem": root_problem,
            "hint": None
            if root_problem is None
            else ("point AIOS_SCHEDULER_ROOT (or $XDG_STATE_HOME/ai-os/scheduler) at a directory you own, mode 0700"),
        },
        "config": {
            "present": cfg.present,
            "path": str(CONFIG_RELPATH),
            "example": str(CONFIG_EXAMPLE_RELPATH),
            "warningCount": len(cfg.warnings),
            "warnings": [str(w) for w in cfg.warnings],
        },
        "jobs": [
            job_report(
                j,
                cfg,
                reads[j.id],
                holders.get(j.id),
                timers,
                now,
                (blocked or {}).get(j.id),
                artifact,
                project_key,
            )
            for j in jobs
        ],
    }


def source_label(source: str) -> str:
    return "local config" if source == Source.CONFIG else "registry default"


# -- what needs attention ------------------------------------------------------------------
class Level(enum.IntEnum):
    """How a job stands, valued as a monitoring plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = int(ExitCode.UNKNOWN)


# Least to most serious, as the Monitoring Plugins' max_state_alt ranks them: a state that
# is known to be bad outranks one that cannot be read.
LEVEL_RANK = (Level.OK, Level.UNKNOWN, Level.WARNING, Level.CRITICAL)


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, key=LEVEL_RANK.index, default=Level.OK)


class Assessment(Record):
    level: Level
    reasons: tuple[str, ...]  # what needs attention, most serious first; () when OK


STALE_FACTOR = 2  # data older than twice its cadence's period is stale


def assess(job: Mapping[str, Any]) -> Assessment:
    """How a job of the report stands: CRITICAL when its latest run failed or timed out or
    its service failed; WARNING for a degraded run, stale data, drift or an intent with no
    timer; UNKNOWN when its state, its data or its timer cannot be read.  Read from the
    report alone (what ``aios-status --json`` prints), so the table, the check and the JSON
    never disagree."""
    found: list[tuple[Level, str]] = []
    run = job["latestRun"]
    state = run["state"]
    reason = f" ({run['reason']})" if run.get("reason") else ""
    if state in (RunState.FAILED, RunState.TIMEOUT):
        found.append((Level.CRITICAL, f"latest run {state}{reason}"))
    elif state == RunState.DEGRADED:
        found.append((Level.WARNING, f"latest run degraded{reason}"))
    elif state == RunState.UNREADABLE_STATE:
        found.append((Level.UNKNOWN, "its latest state cannot be read"))
    elif state == RunState.RUNNING and job["activeRun"] is None:
        found.append((Level.WARNING, "the last run stopped before finishing"))
    if run.get("forAnotherProjectRoot"):
        found.append((Level.WARNING, OTHER_CHECKOUT))
    timer = job["timer"]
    if timer is not None:
        if timer.get("problem"):
            found.append((Level.CRITICAL, timer["problem"]["detail"]))
        if job["timerIntent"]["enabled"] and not timer.get("installed"):
            found.append((Level.WARNING, "timer intent on, but no timer is installed"))
        elif timer.get("drift") not in (None, "in-sync"):
            found.append((Level.WARNING, f"timer drift ({timer['drift']})"))
    elif job["timerReason"] != NO_TIMER_VIEW.reason:
        found.append((Level.UNKNOWN, f"timer facts unavailable ({job['timerReason']})"))
    if job["timerIntent"]["enabled"] or (timer or {}).get("installed"):
        found.extend(_data_problems(job))  # a job on no schedule has no cadence to be stale by
    found.sort(key=lambda f: -LEVEL_RANK.index(f[0]))
    return Assessment(worst(f[0] for f in found), tuple(text for _, text in found))


def _data_problems(job: Mapping[str, Any]) -> list[tuple[Level, str]]:
    from ..data import freshness

    note = job.get("freshnessNote")
    if note in (freshness.UNREADABLE, freshness.INVALID):
        return [(Level.UNKNOWN, note)]
    ages = [f["ageSeconds"] for f in job["freshness"].values() if f.get("ageSeconds") is not None]
    limit = stale_after(job)
    if ages and limit and max(ages) > limit:
        return [(Level.WARNING, f"data {span(max(ages))} old (stale after {span(limit)})")]
    return []


def stale_after(job: Mapping[str, Any]) -> int | None:
    """Seconds after which the job's data is stale: twice the longest wait between two
    elapses of its cadence (from the report's cadence id and calendars)."""
    cadence = REGISTRY.cadences.get(job["cadence"]["id"])
    return None if cadence is None else STALE_FACTOR * period_for(cadence, times_of(job["cadence"]["calendars"]))


def span(seconds: int) -> str:
    """A duration as an operator reads it: ``45s``, ``12 min``, ``5 h``, ``3 d``."""
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# -- reading what a report is made of ----------------------------------------------------


def _root_problem(ctx: Context) -> str | None:
    """Why the scheduler root cannot hold state, if it cannot (reported once, up front,
    instead of every job reading as unreadable-state): the rule the runner and the caches
    apply before they use it."""
    from ..errors import AiosError
    from ..fsio import check_private_dir

    try:
        check_private_dir(ctx.scheduler_root, "the scheduler root")
    except FileNotFoundError:
        return None
    except OSError:
        return "the scheduler root cannot be read"
    except AiosError as exc:
        return exc.message
    return None


def _redact_tree(node: Any, redact: Any) -> Any:
    """Every string value redacted; keys never: they are the report's own field names and
    ids, and a reader looks them up."""
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, list):
        return [_redact_tree(v, redact) for v in node]
    if isinstance(node, dict):
        return {k: _redact_tree(v, redact) for k, v in node.items()}
    return node


def build(ctx: Context, registry: Registry, job_ids: Sequence[str], *, with_timers: bool = True) -> dict[str, Any]:
    """The redacted report of ``job_ids`` (every job when empty), read from the runs'
    state, the locks, the artifact and (``with_timers``) the user manager."""
    from .. import config, locks, state
    from ..data import freshness
    from ..units.report import timer_status

    jobs = [registry.get(j) for j in job_ids] if job_ids else list(registry)
    cfg = config.load(ctx.config_path, registry, ctx.cache_dir)
    reads = {j.id: state.read(ctx, j.id) for j in jobs}
    holders = {j.id: locks.live_holder(ctx.lock_path(j.id)) for j in jobs}
    blocked = {j.id: state.read_blocked(ctx, j.id) for j in jobs}
    timers = TimerView(*timer_status(ctx, registry, cfg)) if with_timers else NO_TIMER_VIEW
    artifact = freshness.read(ctx.live_data_path)
    doc = report(
        jobs,
        cfg,
        reads,
        holders,
        timers,
        blocked=blocked,
        root_problem=_root_problem(ctx),
        artifact=artifact,
        project_key=ctx.project_key,
    )
    # The last line of defence: a state file edited by hand could carry anything.
    redacted: dict[str, Any] = _redact_tree(doc, ctx.privacy.redact_line)
    return redacted
