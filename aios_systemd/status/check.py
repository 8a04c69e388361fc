"""``aios-status --check``: the status report as a monitoring-plugin check.

It follows the Monitoring Plugins development guidelines, as Nagios, Icinga, Naemon,
Checkmk and Zabbix read plugins: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first
line ``AIOS <STATE> - <summary> | <performance data>``, then one line per job.  Every
fact comes from the report ``aios-status --json`` prints (:func:`.model.assess` judges
each job), never from a second reading of the world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from .._typing import TYPE_CHECKING
from ..record import Record
from .model import LEVEL_RANK, Level, age_seconds, assess, span, stale_after, worst

if TYPE_CHECKING:
    from typing import Any

SERVICE = "AIOS"  # the guidelines' SERVICE STATUS: the first word a monitoring system shows


class CheckResult(Record):
    level: Level
    lines: tuple[str, ...]  # the status line (with the performance data), then one per job

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _one_line(text: str) -> str:
    # "|" starts the performance data for every reader: never in the text before it.
    return " ".join(text.replace("|", "/").split())


def status_line(level: Level, summary: str, perfdata: Sequence[str] = ()) -> str:
    line = f"{SERVICE} {level.name} - {_one_line(summary)}"
    return line + (" | " + " ".join(perfdata) if perfdata else "")


def unknown(message: str) -> str:
    """The line for a check that could not run (a usage error, an internal error)."""
    return status_line(Level.UNKNOWN, message)


def watched(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The jobs a check of every job looks at: available ones whose timer intent is on or
    whose timer is installed (a manual job's failed run by hand is not an alert)."""
    return [
        j
        for j in report["jobs"]
        if j["lifecycle"] == "available" and (j["timerIntent"]["enabled"] or (j["timer"] or {}).get("installed"))
    ]


def _perfdata(job: Mapping[str, Any], now: datetime) -> list[str]:
    """``'label'=value[UOM];[warn];[crit];[min];[max]`` for what is known of ``job``."""
    name = job["job"]  # a reviewed id: [a-z0-9-], nothing to quote inside the quotes
    out = []
    ages = [f["ageSeconds"] for f in job["freshness"].values() if f.get("ageSeconds") is not None]
    if ages:
        out.append(f"'{name}_data_age'={max(ages)}s;{stale_after(job) or ''};;0")
    run = job["latestRun"]
    ran = age_seconds(run.get("finishedAt"), now)
    if ran is not None:
        out.append(f"'{name}_run_age'={ran}s;;;0")
    if isinstance(run.get("durationMs"), int):
        out.append(f"'{name}_duration'={run['durationMs'] / 1000:.3f}s;;;0;{job['timeoutSeconds']}")
    return out


def _fine(job: Mapping[str, Any], now: datetime) -> str:
    """What an OK job is doing, in a few words."""
    run = job["latestRun"]
    if job["activeRun"]:
        text = "running"
    elif run["state"] == "first-run":
        text = "not run yet"
    else:
        age = age_seconds(run.get("finishedAt") or run.get("startedAt"), now)
        text = run["state"] + (f" {span(age)} ago" if age is not None else "")
    ages = [f["ageSeconds"] for f in job["freshness"].values() if f.get("ageSeconds") is not None]
    return text + (f", data {span(max(ages))} old" if ages else "")


def check(report: Mapping[str, Any], *, one_job: bool, now: datetime | None = None) -> CheckResult:
    """The check of ``report`` (every watched job, or the one job ``--job`` asked for)."""
    now = now or datetime.now(UTC)
    jobs = list(report["jobs"]) if one_job else watched(report)
    general: list[tuple[Level, str]] = []
    root = report.get("schedulerRoot") or {}
    if not root.get("ok", True):
        general.append((Level.UNKNOWN, f"scheduler root: {root['problem']}"))
    if report["config"]["warningCount"]:
        general.append((Level.WARNING, "the local scheduler config is invalid (defaults in use)"))
    judged = [(j, assess(j)) for j in jobs]
    # Each job's most serious reason, one phrase per reason ("a, b: timer facts unavailable").
    by_reason: dict[tuple[Level, str], list[str]] = {}
    for j, a in judged:
        if a.reasons:
            by_reason.setdefault((a.level, a.reasons[0]), []).append(j["job"])
    found = [(lvl, f"{', '.join(names)}: {text}") for (lvl, text), names in by_reason.items()] + general
    level = worst(lvl for lvl, _ in found)
    if found:
        # The most serious first: the start of the line is what a dashboard shows.
        summary = "; ".join(text for _, text in sorted(found, key=lambda f: -LEVEL_RANK.index(f[0])))
    elif len(judged) == 1:
        summary = f"{judged[0][0]['job']}: {_fine(judged[0][0], now)}"
    elif judged:
        summary = f"{len(judged)} jobs OK"
    else:
        summary = "no job has its timer intent on"
    perfdata = [p for j, _ in judged for p in _perfdata(j, now)]
    details = [
        _one_line(f"{j['job']}: {a.level.name} - {', '.join(a.reasons) if a.reasons else _fine(j, now)}")
        for j, a in judged
    ]
    return CheckResult(level, (status_line(level, summary, perfdata), *details))
