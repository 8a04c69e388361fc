"""Human text for a status report (the JSON form is the report itself)."""

from __future__ import annotations

from datetime import UTC, datetime

from .._typing import TYPE_CHECKING
from .model import NO_TIMER_VIEW, Level, age_seconds, assess, source_label, span

if TYPE_CHECKING:
    from typing import Any

MARKS = {Level.OK: " ", Level.WARNING: "!", Level.CRITICAL: "!", Level.UNKNOWN: "?"}


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _age(seconds: int | None) -> str:
    return "age unknown" if seconds is None else f"{span(seconds)} ago"


def _timer_line(job: dict[str, Any]) -> str:
    timer = job["timer"]
    if timer is None:
        return f"unknown ({job['timerReason']})"
    if not timer.get("installed"):
        return "not installed (no timer exists for this job)"
    parts = ["installed", str(timer.get("activeState") or "?"), str(timer.get("unitFileState") or "?")]
    if timer.get("nextElapse"):
        parts.append(f"next {timer['nextElapse']}")
    if timer.get("lastTrigger"):
        parts.append(f"last {timer['lastTrigger']}")
    if timer.get("drift"):
        parts.append(f"drift {timer['drift']}")
    if timer.get("servesAnotherProjectRoot"):
        parts.append("serves another project root (its runs write that checkout's data)")
    line = ", ".join(parts)
    problem = timer.get("problem")
    if problem:
        line += f"\n                FAILING: {problem['detail']}"
    return line


def render_job(job: dict[str, Any]) -> str:
    run = job["latestRun"]
    cad = job["cadence"]
    intent = job["timerIntent"]
    lines = [
        f"{job['job']} — {job['title']}",
        f"  lifecycle     {job['lifecycle']} · write scope {job['writeScope']}"
        f" · timeout {job['timeoutSeconds'] // 60} min · network {job['network']}",
        f"  cadence       {cad['id']} ({cad['calendar']}) from {source_label(cad['source'])}",
        f"  starter       {'enabled' if job['enabledByDefault'] else 'not enabled'} by default",
        f"  timer intent  {'on' if intent['enabled'] else 'off'} from {source_label(intent['source'])}"
        " (intent only: it does not prove a timer exists)",
        f"  timer         {_timer_line(job)}",
    ]
    if run["state"] == "first-run":
        lines.append("  latest run    Not run yet")
    else:
        lines.append(f"  latest run    {run['state']} — {run['label']}")
        if run.get("forAnotherProjectRoot"):
            lines.append("                for another checkout (this scheduler root is shared)")
        if run.get("runId"):
            lines.append(
                f"                run {run['runId']} · exit {run['exitCode']} · trigger {run['trigger']}"
                f" · lock {run['lockOutcome']} · {run['warningCount']} warning(s)"
            )
            lines.append(
                f"                started {run['startedAt']} · finished {run['finishedAt'] or '-'}"
                f" · took {_duration(run['durationMs'])}"
            )
        prev = run.get("previous")
        if prev:
            lines.append(
                f"                previous run {prev['runId']}: {prev['state']} · finished {prev['finishedAt']}"
            )
        if run.get("reason"):
            lines.append(f"                reason {run['reason']}")
        for w in (run.get("warnings") or [])[:5]:
            lines.append(f"                warning: {w}")
    if job.get("lastBlocked"):
        b = job["lastBlocked"]
        lines.append(f"  last blocked  run {b['runId']} at {b['at']} (run {b['blockedBy'] or '?'} held the job lock)")
    if job["activeRun"]:
        lines.append(f"  running now   run {job['activeRun']['runId']} since {job['activeRun']['startedAt']}")
    if job["freshness"]:
        for branch, f in job["freshness"].items():
            lines.append(f"  data          {branch} generated {f['generatedAt']} ({_age(f['ageSeconds'])})")
    else:
        lines.append(f"  data          {job.get('freshnessNote') or 'no generated-data freshness recorded'}")
    lines.append("  next steps    " + "\n                ".join(job["nextSteps"]))
    return "\n".join(lines)


# -- one line per job, as `systemctl list-timers` lists timers ----------------------------
def _latest_cell(job: dict[str, Any], now: datetime) -> str:
    run = job["latestRun"]
    if job["activeRun"]:
        return f"running, {span(age_seconds(job['activeRun']['startedAt'], now) or 0)}"
    if run["state"] == "first-run":
        return "not run yet"
    age = age_seconds(run.get("finishedAt") or run.get("startedAt"), now)
    return run["state"] if age is None else f"{run['state']}, {_age(age)}"


def _next_cell(job: dict[str, Any], now: datetime) -> str:
    nxt = (job["timer"] or {}).get("nextElapse")
    if not nxt:
        return "-"
    try:
        left = (datetime.fromisoformat(nxt.replace("Z", "+00:00")) - now).total_seconds()
    except (ValueError, TypeError, OverflowError):
        return "-"
    return f"in {span(max(0, int(left)))}"


def _timer_cell(job: dict[str, Any]) -> str:
    timer = job["timer"]
    if timer is None:
        return "-" if job["timerReason"] == NO_TIMER_VIEW.reason else "unknown"
    if not timer.get("installed"):
        return "none (intent on)" if job["timerIntent"]["enabled"] else "none"
    cell = str(timer.get("activeState") or "?")
    if timer.get("problem"):
        cell += ", runs fail"
    elif timer.get("drift") not in (None, "in-sync"):
        cell += f", {timer['drift']}"
    return cell


def _data_cell(job: dict[str, Any]) -> str:
    from ..data.freshness import INVALID, UNREADABLE

    ages = [f["ageSeconds"] for f in job["freshness"].values() if f.get("ageSeconds") is not None]
    if ages:
        return _age(max(ages))
    return "unreadable" if job.get("freshnessNote") in (UNREADABLE, INVALID) else "-"


def table(report: dict[str, Any], now: datetime | None = None) -> str:
    """One line per job: its latest run, next elapse, timer, data age, and a mark (``!``
    needs action, ``?`` cannot be read) from the same assessment as ``--check``."""
    now = now or datetime.now(UTC)
    rows = [("", "JOB", "LATEST RUN", "NEXT", "TIMER", "DATA")]
    marked = False
    for job in report["jobs"]:
        mark = MARKS[assess(job).level]
        marked = marked or mark != " "
        rows.append((mark, job["job"], _latest_cell(job, now), _next_cell(job, now), _timer_cell(job), _data_cell(job)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if marked:
        lines.append("! needs action, ? cannot be read: the job's next steps say what (aios-status --job JOB)")
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    cfg = report["config"]
    head = [
        f"Local config: {cfg['path']} "
        + ("present" if cfg["present"] else f"not present (registry defaults; example: {cfg['example']})")
    ]
    root = report.get("schedulerRoot") or {}
    if not root.get("ok", True):
        head.append(f"Scheduler root: {root['problem']}\n  hint: {root['hint']}")
    if cfg["warningCount"]:
        head.append(f"Config warnings ({cfg['warningCount']}), defaults used where invalid:")
        head.extend(f"  - {w}" for w in cfg["warnings"])
    return "\n".join(head) + "\n\n" + "\n\n".join(render_job(j) for j in report["jobs"])
