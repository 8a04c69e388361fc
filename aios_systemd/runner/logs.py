"""``aios-units logs``: a job's recent runs as lines, each with its run id.

Two sources, one timeline:

* the private run log (``<scheduler-root>/logs/<job>.jsonl`` and its rotated ``.1``):
  every run, by hand or by timer, with what only it keeps (a handler's error, the tail of
  its output, a traceback), already redacted when written;
* where there is a journal, the job's service there: the user manager's own lines about
  it (notice and above: a service that failed before aios-run ran, a stop, a kill) and,
  for a run the private log no longer has, aios-run's journal lines.

A journal line finds its run through the service invocation: the runner records
``$INVOCATION_ID`` on a run's first log line, and the manager files its lines about the
service under that id.  Service output without an invocation id (journald reads it from
a cgroup attribute that some cgroup layouts lack) belongs to the invocation the manager
started last: a oneshot service runs one invocation at a time.  Every line is redacted
again as it is shown, through the one privacy layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from .. import runlog
from .._typing import TYPE_CHECKING
from ..isotime import iso_from_epoch
from ..outcomes import hint_for
from ..record import Record

if TYPE_CHECKING:
    from ..context import Context
    from ..privacy import Privacy
    from ..units.journal import Entry

NOTICE = 5  # the manager's lines shown: notice and more serious (failures, stops, kills)
STARTED = re.compile(r": started run (\S+) \(")  # the runner's journal line (cli.progress)
SETTLE_SECONDS = 1.0  # --follow waits this long for the other source to catch up


class Line(Record):
    at: str  # ISO-8601 UTC with milliseconds: sorts as time does
    run_id: str | None  # None: a service invocation that never reached a run
    text: str
    key: str  # the line's identity across reads (for --follow); never shown

    def show(self) -> str:
        return f"{self.at[:19]}Z  {self.run_id or '-':<27}  {self.text}"


class Run(Record):
    run_id: str | None
    lines: tuple[Line, ...]  # oldest first


def _seconds(ms: object) -> str:
    return f"{ms / 1000:.1f}s" if isinstance(ms, int | float) and not isinstance(ms, bool) else "?"


def event_lines(event: Mapping[str, object], job_id: str) -> list[str]:
    """A private log event as the lines an operator reads (worded as aios-run's own)."""
    name = event["event"]

    def f(key: str) -> str:  # a field as text, the way every value here is shown
        return _compact(event.get(key))

    if name == "start":
        return [f"started (trigger {f('trigger')}, lock {f('lockOutcome')}, timeout {f('timeoutSeconds')}s)"]
    if name == "finish":
        reason = event.get("reason")
        warnings = event.get("warnings")
        out = [f"warning: {w}" for w in (warnings if isinstance(warnings, list) else [])]
        took = _seconds(event.get("durationMs"))
        out.append(
            f"{f('state')}{f' ({reason})' if reason else ''} in {took}, exit {f('exitCode')}"
            + (" (details cut: the event was too large)" if event.get("truncated") else "")
        )
        hint = hint_for(str(reason) if reason else None, job_id)
        return out + ([f"hint: {hint}"] if hint else [])
    if name == "blocked":
        return [f"blocked: run {event.get('blockedBy') or '?'} holds the job lock"]
    if name == "stale-lock-recovered":
        return [f"recovered a stale lock left by run {event.get('previousRunId') or '?'}"]
    if name == "handler-error":
        return [f"handler error ({f('error')}): {f('message')}"]
    if name == "handler-crash":
        return [f"handler crashed ({f('error')})", *_indented(event.get("traceback"))]
    if name == "handler-output":
        return ["handler output (its last lines):", *_indented(event.get("tail"))]
    if name == "stopping":
        return [f"stopping the job's process tree ({f('reason')})"]
    if name == "killed-leftovers":
        return [f"killed {f('count')} leftover process(es)"]
    if name == "stopped-before-start":
        return [f"stopped before the run started ({f('reason')})"]
    if name == "written-before-stop":
        return ["generated data was written before the stop"]
    return _generic(event)


# Any other event (a collector's, the data write's, a command's): its subject, its outcome,
# then the rest; a multi-line value (a command's output) is indented under the line.
_SUBJECT = ("collector", "extension", "scope", "command", "refreshJob")
_OUTCOME = ("status", "outcome", "exitCode")
_NOT_SHOWN = ("ts", "job", "runId", "event", "invocationId")


def _generic(event: Mapping[str, object]) -> list[str]:
    head = str(event["event"])
    subject = next((event[k] for k in _SUBJECT if event.get(k) not in (None, "")), None)
    outcome = next((event[k] for k in _OUTCOME if event.get(k) not in (None, "")), None)
    if subject is not None:
        head += f" {subject}"
    if outcome is not None:
        head += f": {outcome}"
    details, below = [], []
    for key, value in event.items():
        if key in _NOT_SHOWN or value in (None, "", [], {}) or value is subject or value is outcome:
            continue
        if isinstance(value, str) and "\n" in value.strip():
            below += [f"  {key}:", *("  " + line for line in _indented(value))]
        elif key == "durationMs":
            details.append(f"in {value} ms")
        else:
            details.append(f"{key} {_compact(value)}")
    return [head + (f" ({', '.join(details)})" if details else ""), *below]


def _indented(text: object) -> list[str]:
    return ["  " + line for line in str(text or "").splitlines() if line.strip()]


def _compact(value: object) -> str:
    """A field's value as the lines show it: ``yes``/``no`` and ``none`` rather than
    Python's words, a dict or list compactly, anything else as its text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return str(value)


def runs(job_id: str, events: Sequence[Mapping[str, object]], entries: Sequence[Entry], privacy: Privacy) -> list[Run]:
    """Every run the two sources know, oldest first, each with its lines."""
    by_invocation = {str(e["invocationId"]): str(e["runId"]) for e in events if isinstance(e.get("invocationId"), str)}
    logged = {str(e["runId"]) for e in events}
    grouped: dict[str, list[Line]] = {}
    for line in _log_lines(events, job_id):
        grouped.setdefault(str(line.run_id), []).append(line)
    for entry, invocation in _placed(entries, by_invocation):
        owner = by_invocation.get(invocation) if invocation else None
        if entry.output and owner in logged:
            continue  # the private log has this run, in more detail
        if not entry.output and entry.priority > NOTICE:
            continue  # "Starting...", "Finished...", "Consumed 1.2s CPU time": every run has them
        line = Line(iso_from_epoch(entry.usec / 1_000_000), owner, entry.message, f"journal {entry.cursor}")
        grouped.setdefault(owner or f"invocation {invocation or entry.cursor}", []).append(line)
    out = [Run(ls[0].run_id, tuple(_redacted(sorted(ls, key=lambda x: x.at), privacy))) for ls in grouped.values()]
    return sorted(out, key=lambda r: r.lines[0].at)


def _log_lines(events: Sequence[Mapping[str, object]], job_id: str) -> list[Line]:
    out: list[Line] = []
    seen: dict[tuple[str, str, str], int] = {}
    for event in events:
        run_id, ts, name = str(event["runId"]), str(event["ts"]), str(event["event"])
        seen[run_id, ts, name] = n = seen.get((run_id, ts, name), 0) + 1
        for i, text in enumerate(event_lines(event, job_id)):
            out.append(Line(ts, run_id, text, f"log {run_id} {ts} {name} {n} {i}"))
    return out


def _placed(entries: Sequence[Entry], by_invocation: dict[str, str]) -> list[tuple[Entry, str | None]]:
    """Each journal entry with its service invocation; ``by_invocation`` learns the run id
    of an invocation whose aios-run said "started run <id>"."""
    current: str | None = None  # the invocation the manager started last
    of_process: dict[tuple[int | None, str | None], str] = {}  # from each process's first line
    out: list[tuple[Entry, str | None]] = []
    for entry in entries:
        invocation: str | None
        if not entry.output:
            invocation = entry.invocation
            current = entry.invocation or current
        elif entry.invocation:
            invocation = entry.invocation
        else:
            fallback = current or f"process {entry.pid} {entry.usec}"
            invocation = of_process.setdefault((entry.pid, current), fallback)
        started = STARTED.search(entry.message) if entry.output else None
        if started and invocation is not None:
            by_invocation.setdefault(invocation, started.group(1))
        out.append((entry, invocation))
    return out


def _redacted(lines: Iterable[Line], privacy: Privacy) -> list[Line]:
    return [
        line._replace(
            run_id=privacy.redact_line(line.run_id) if line.run_id else None, text=privacy.redact_line(line.text)
        )
        for line in lines
    ]


def select(found: Sequence[Run], *, run: str | None, last: int) -> list[Run]:
    """The runs to show: the one ``run`` names, or the ``last`` newest (newest last)."""
    if run is not None:
        return [r for r in found if r.run_id == run]
    return list(found[-last:]) if last > 0 else []


def _unit(job_id: str) -> str:
    from ..units.templates import unit_names

    return unit_names(job_id)[0]


class Reader:
    """Both sources of one job, read again on each call (``--follow`` polls it): the
    private log when it changed, the journal from where the last read ended."""

    def __init__(self, ctx: Context, job_id: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.unit = _unit(job_id)
        self.problem: str | None = None  # why the private log was skipped
        self._events: list[dict[str, object]] = []
        self._signature: tuple[int, ...] | None = None
        self._entries: list[Entry] = []
        self._cursor: str | None = None
        self._runs: list[Run] | None = None

    def _read_log(self) -> bool:
        import os

        path = self.ctx.log_path(self.job_id)
        signature: list[int] = []
        for file in (path.with_name(path.name + ".1"), path):
            try:
                st = os.lstat(file)
                signature += [st.st_ino, st.st_size, st.st_mtime_ns]
            except OSError:
                signature += [0, 0, 0]
        if tuple(signature) == self._signature:
            return False
        self._events, self.problem = runlog.read_events(path)
        self._signature = tuple(signature)
        return True

    def _read_journal(self, since_usec: int | None) -> bool:
        from ..units import journal

        if self._cursor is None:
            new = journal.read(self.ctx.env, self.unit, since_usec=since_usec)
        else:
            new = journal.read(self.ctx.env, self.unit, after=self._cursor)
        self._entries.extend(new)
        self._cursor = new[-1].cursor if new else self._cursor
        return bool(new)

    def read(self, *, run: str | None = None) -> list[Run]:
        """Every run known so far; for ``run``, the journal is read from a minute before
        the private log's first line of it (it may be older than the newest entries)."""
        changed = self._read_log()
        since_usec = None
        if run is not None and self._cursor is None:
            first = next((str(e["ts"]) for e in self._events if e["runId"] == run), None)
            since_usec = None if first is None else _usec(first) - 60_000_000
        changed = self._read_journal(since_usec) or changed
        if changed or self._runs is None:
            self._runs = runs(self.job_id, self._events, self._entries, self.ctx.privacy)
        return self._runs


def _usec(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1_000_000)
    except (ValueError, OverflowError):
        return 0


def settled(found: Sequence[Run], shown: set[str], *, run: str | None, now: datetime) -> list[Line]:
    """The lines of ``found`` not in ``shown`` and at least :data:`SETTLE_SECONDS` old (the
    other source has caught up with them by then), oldest first; ``shown`` is updated."""
    limit = now.timestamp() - SETTLE_SECONDS
    new = [
        line
        for r in found
        if run is None or r.run_id == run
        for line in r.lines
        if line.key not in shown and _usec(line.at) / 1_000_000 <= limit
    ]
    new.sort(key=lambda line: line.at)
    shown.update(line.key for line in new)
    return new
