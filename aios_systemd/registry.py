"""The reviewed job and cadence contract, in code and immutable.

This is the Python counterpart of the runbook's ``scripts/lib/scheduler/registry.ts``:
only what is listed here can run, be scheduled, or be named in local config.
Tests that need other jobs build their own :class:`Registry`; nothing mutates this one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from .errors import UsageError
from .record import Record


class Lifecycle(enum.StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


class ScopeKind(enum.StrEnum):
    FULL = "full"
    HOST_LOCAL = "host-local"
    EXTENSION_ITEM = "extension-item"
    NONE = "none"


class NetworkPolicy(enum.StrEnum):
    LOCAL_ONLY = "local-only"  # reads this machine only
    SOURCES = "sources"  # may fetch configured extension sources
    PROVIDER = "provider"  # may call a reviewed Dream provider


class HandlerId(enum.StrEnum):
    """The typed handler contract; the runtime map lives in ``jobs``."""

    AGGREGATE = "aggregate"
    AGENT_AGGREGATE = "agent-aggregate"
    TREND_FINDER = "trend-finder"
    DREAM = "dream"


class WriteScope(Record):
    kind: ScopeKind
    extension_id: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.extension_id}" if self.extension_id else str(self.kind)


class CadenceKind(enum.StrEnum):
    CALENDAR = "calendar"  # fixed reviewed calendar expressions
    TIMES = "times"  # strict HH:MM times chosen in local config (Dream)


class Cadence(Record):
    id: str
    title: str
    kind: CadenceKind
    calendars: tuple[str, ...] = ()
    period_seconds: int = 0  # the time between two elapses; a TIMES cadence's comes from its times


HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


def calendar_for_time(hhmm: str) -> str:
    """The systemd calendar for a strict ``HH:MM`` time; refuses anything else."""
    if not isinstance(hhmm, str) or not HHMM.fullmatch(hhmm):
        raise UsageError("a Dream time is not a strict HH:MM time", "use times such as 06:30 or 18:05")
    return f"*-*-* {hhmm}:00"


class Job(Record):
    id: str
    title: str
    lifecycle: Lifecycle
    handler: HandlerId | str
    write_scope: WriteScope
    default_cadence: str
    cadences: tuple[str, ...]
    enabled_by_default: bool
    timeout_seconds: int
    network: NetworkPolicy
    default_times: tuple[str, ...] = ()  # only for TIMES cadences

    @property
    def available(self) -> bool:
        return self.lifecycle is Lifecycle.AVAILABLE


class Registry(Record):
    """An immutable set of jobs and cadences, validated when built (:meth:`build`)."""

    jobs: Mapping[str, Job]
    cadences: Mapping[str, Cadence]
    order: tuple[str, ...]

    @classmethod
    def build(cls, jobs: tuple[Job, ...], cadences: tuple[Cadence, ...]) -> Registry:
        cad = {c.id: c for c in cadences}
        for job in jobs:
            if not JOB_ID.fullmatch(job.id):
                raise ValueError(f"job id {job.id!r} is not a reviewed id shape")
            for cid in (job.default_cadence, *job.cadences):
                if cid not in cad:
                    raise ValueError(f"job {job.id} names unknown cadence {cid}")
            if job.default_cadence not in job.cadences:
                raise ValueError(f"job {job.id}: default cadence must be one of its cadences")
            for t in job.default_times:
                calendar_for_time(t)
        return cls(MappingProxyType({j.id: j for j in jobs}), MappingProxyType(cad), tuple(j.id for j in jobs))

    def __iter__(self) -> Iterator[Job]:
        return (self.jobs[i] for i in self.order)

    def ids(self) -> tuple[str, ...]:
        return self.order

    def get(self, job_id: str) -> Job:
        """The job named ``job_id``; an unknown id is a usage error listing the reviewed ids."""
        job = self.jobs.get(job_id)
        if job is None:
            raise UsageError(
                "unknown job id (not in the reviewed registry)",
                "use one of: " + ", ".join(self.order),
            )
        return job

    def cadence(self, cadence_id: str) -> Cadence:
        return self.cadences[cadence_id]


JOB_ID_PATTERN = r"[a-z][a-z0-9-]{0,38}[a-z0-9]"  # also the artifact's and the unit names' job ids
JOB_ID = re.compile(JOB_ID_PATTERN)
UNIT_PREFIX = "ai-os-"  # a job's units are ai-os-<job>.service and ai-os-<job>.timer


def unit_names(job_id: str) -> tuple[str, str]:
    """``("ai-os-<job>.service", "ai-os-<job>.timer")``."""
    return f"{UNIT_PREFIX}{job_id}.service", f"{UNIT_PREFIX}{job_id}.timer"


MINUTE = 60

HOUR = 60 * MINUTE
DAY = 24 * HOUR

CADENCES: tuple[Cadence, ...] = (
    Cadence("hourly", "Hourly", CadenceKind.CALENDAR, ("hourly",), HOUR),
    Cadence("every-2-hours", "Every 2 hours", CadenceKind.CALENDAR, ("*-*-* 0/2:00:00",), 2 * HOUR),
    Cadence("every-4-hours", "Every 4 hours", CadenceKind.CALENDAR, ("*-*-* 0/4:00:00",), 4 * HOUR),
    Cadence("daily-0600", "Daily at 06:00", CadenceKind.CALENDAR, ("*-*-* 06:00:00",), DAY),
    Cadence("dream-times", "At the chosen Dream times", CadenceKind.TIMES),
)

_FREQUENT = ("hourly", "every-2-hours", "every-4-hours")

JOBS: tuple[Job, ...] = (
    Job(
        id="aggregate",
        title="Full aggregate (manual compatibility job)",
        lifecycle=Lifecycle.AVAILABLE,
        handler=HandlerId.AGGREGATE,
        write_scope=WriteScope(ScopeKind.FULL),
        default_cadence="every-4-hours",
        cadences=_FREQUENT,
        enabled_by_default=False,
        timeout_seconds=35 * MINUTE,
        network=NetworkPolicy.SOURCES,
    ),
    Job(
        id="agent-aggregate",
        title="Agent aggregate (host/local refresh)",
        lifecycle=Lifecycle.AVAILABLE,
        handler=HandlerId.AGENT_AGGREGATE,
        write_scope=WriteScope(ScopeKind.HOST_LOCAL),
        default_cadence="every-4-hours",
        cadences=_FREQUENT,
        enabled_by_default=True,
        timeout_seconds=10 * MINUTE,
        network=NetworkPolicy.LOCAL_ONLY,
    ),
    Job(
        id="trend-finder",
        title="Trend Finder extension refresh",
        lifecycle=Lifecycle.AVAILABLE,
        handler=HandlerId.TREND_FINDER,
        write_scope=WriteScope(ScopeKind.EXTENSION_ITEM, "trend-finder"),
        default_cadence="daily-0600",
        cadences=("daily-0600", *_FREQUENT),
        enabled_by_default=True,
        timeout_seconds=15 * MINUTE,
        network=NetworkPolicy.SOURCES,
    ),
    Job(
        id="dream",
        title="Dream (private digest from fresh material)",
        lifecycle=Lifecycle.AVAILABLE,
        handler=HandlerId.DREAM,
        write_scope=WriteScope(ScopeKind.NONE),
        default_cadence="dream-times",
        cadences=("dream-times",),
        enabled_by_default=True,
        timeout_seconds=30 * MINUTE,
        network=NetworkPolicy.PROVIDER,
        default_times=("06:30",),
    ),
)

REGISTRY: Registry = Registry.build(JOBS, CADENCES)


def calendars_for(job: Job, cadence: Cadence, times: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The systemd calendar expressions a job's timer uses for ``cadence``."""
    if cadence.kind is CadenceKind.TIMES:
        return tuple(calendar_for_time(t) for t in (times or job.default_times))
    return cadence.calendars


def times_of(calendars: Iterable[str]) -> tuple[str, ...]:
    """The ``HH:MM`` times of calendars made by :func:`calendar_for_time` (others are skipped)."""
    return tuple(c[6:11] for c in calendars if len(c) == 14 and c.startswith("*-*-* ") and HHMM.fullmatch(c[6:11]))


def period_for(cadence: Cadence, times: Iterable[str] = ()) -> int:
    """The longest time between two elapses of ``cadence`` (for chosen times, the longest
    gap between two of them, around midnight too; a day when there are none)."""
    if cadence.kind is not CadenceKind.TIMES:
        return cadence.period_seconds
    minutes = sorted({int(t[:2]) * 60 + int(t[3:5]) for t in times if HHMM.fullmatch(t)})
    if not minutes:
        return DAY
    # Each time to the next one, the last to the first of the next day (one time: a day).
    gaps = [(b - a) % (24 * 60) or 24 * 60 for a, b in zip(minutes, [*minutes[1:], minutes[0]], strict=True)]
    return max(gaps) * MINUTE
