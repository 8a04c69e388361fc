"""Human text for a status report (the JSON form is the report itself)."""

from __future__ import annotations

from .model import source_label

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    from typing import Any


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "age unknown"
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


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
