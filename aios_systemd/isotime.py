"""UTC timestamps as ISO-8601 text: the one spelling of every record, log line and the
artifact (``2026-12-01T10:58:17.528Z``; the manager's facts and the Trend Finder rows to the
second)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime, timespec: str = "milliseconds") -> str:
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def now_iso(timespec: str = "milliseconds") -> str:
    return iso(datetime.now(UTC), timespec)


def iso_from_epoch(seconds: float, timespec: str = "milliseconds") -> str:
    return iso(datetime.fromtimestamp(seconds, UTC), timespec)
