"""The versioned latest-run state of each job: written atomically, read defensively."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from . import fsio
from ._typing import TYPE_CHECKING
from .context import Context
from .errors import AiosError
from .fsio import PID_MAX
from .outcomes import RunState
from .privacy import Privacy
from .record import Record

if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1
MAX_STATE_BYTES = 256 * 1024
MAX_WARNINGS = 50
MAX_WARNING_CHARS = 300
_REASON = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_FRESH_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})")
_RUN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z.:_-]{0,63}")
_WORD = re.compile(r"[a-z][a-z0-9-]{0,31}")  # triggers, lock outcomes, handler outcomes
_BOOT_ID = re.compile(r"[0-9a-z-]{1,64}")
_PROJECT_KEY = re.compile(r"[0-9a-f]{8}")
# Counts and durations a run can really record; past it a number is no value of ours (and
# the largest integer JavaScript reads exactly).
MAX_COUNT = (1 << 53) - 1


class LockOutcome:
    ACQUIRED = "acquired"
    RECOVERED_STALE = "recovered-stale"
    HELD = "held"  # a live run holds the lock: this attempt was blocked


class RunRecord(Record):
    job: str
    run_id: str
    state: RunState
    trigger: str
    lock_outcome: str
    started_at: str
    finished_at: str | None = None
    duration_ms: int | None = None
    exit_code: int | None = None
    handler_outcome: str | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    warning_count: int = 0
    freshness: Mapping[str, str] = MappingProxyType({})
    pid: int | None = None
    boot_id: str | None = None
    blocked_by: str | None = None
    # While a run is in flight its record replaces the latest finished one; this keeps
    # that one's summary (state, runId, finishedAt, exitCode) visible.
    previous: Mapping[str, object] | None = None
    # When the latest run that exited 0 finished, this one or one before it (metrics: the
    # last success outlives the failures after it).
    last_success_at: str | None = None
    # The checkout the run was for (Context.project_key; None in records from before it).
    project: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = self._asdict()
        raw["state"] = str(self.state)
        raw["warnings"] = list(self.warnings)
        raw["freshness"] = dict(self.freshness)
        raw["previous"] = dict(self.previous) if self.previous is not None else None
        return {_camel(k): v for k, v in raw.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_FIELDS = {_camel(f): f for f in RunRecord._fields}


class StateRead(Record):
    """A state file read back: a record, or one of the labels ``first-run`` and
    ``unreadable-state`` with no record."""

    state: RunState
    record: RunRecord | None = None


def sanitize(record: RunRecord, privacy: Privacy) -> RunRecord:
    """The record with every free-text field redacted and bounded."""
    warnings = tuple(privacy.redact_line(w)[:MAX_WARNING_CHARS] for w in record.warnings[:MAX_WARNINGS])
    reason = (
        record.reason
        if record.reason and _REASON.fullmatch(record.reason)
        else ("unspecified" if record.reason else None)
    )
    freshness = {
        k: v
        for k, v in record.freshness.items()
        if isinstance(k, str) and _FRESH_KEY.fullmatch(k) and isinstance(v, str) and _ISO.fullmatch(v)
    }
    return record._replace(
        warnings=warnings,
        reason=reason,
        freshness=MappingProxyType(freshness),
        warning_count=max(record.warning_count, len(record.warnings)),
    )


def write(ctx: Context, record: RunRecord) -> None:
    """The latest-run state.  Only the lock holder writes it, so a final record is never
    replaced by an attempt that raced it; blocked attempts go to :func:`write_blocked`."""
    _write(ctx.state_path(record.job), record, ctx, "the latest-run state file")


def write_blocked(ctx: Context, record: RunRecord) -> None:
    """The latest attempt a live run blocked, kept beside (never over) the run's state."""
    _write(ctx.blocked_state_path(record.job), record, ctx, "the blocked-attempt state file")


def _write(path: Path, record: RunRecord, ctx: Context, label: str) -> None:
    clean = sanitize(record, ctx.privacy)
    data = json.dumps(clean.to_json(), indent=2, ensure_ascii=True).encode() + b"\n"
    fsio.atomic_write(path, data, label)


def _from_json(doc: object, job_id: str) -> RunRecord | None:
    if not isinstance(doc, dict) or doc.get("schemaVersion") != SCHEMA_VERSION or doc.get("job") != job_id:
        return None
    kwargs: dict[str, Any] = {}
    for key, value in doc.items():
        name = _FIELDS.get(key)
        if name is not None:
            kwargs[name] = value
    try:
        kwargs["state"] = RunState(kwargs["state"])
        warnings = kwargs.get("warnings", [])
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            return None
        kwargs["warnings"] = tuple(warnings)
        if not isinstance(kwargs.get("freshness") or {}, dict):
            return None
        kwargs["freshness"] = MappingProxyType(dict(kwargs.get("freshness") or {}))
        previous = kwargs.get("previous")
        kwargs["previous"] = _previous(previous) if previous is not None else None
        record = RunRecord(**kwargs)
    except (KeyError, TypeError, ValueError):
        return None
    if not _well_typed(record):
        return None
    if record.state in (RunState.FIRST_RUN, RunState.UNREADABLE_STATE):
        return None
    return record


# Every field's type and range, checked on read: a state file edited by hand or by another
# tool (a 4,000-digit duration, a pid of -1, text that cannot be printed) reads as
# unreadable-state instead of reaching, and crashing, the operator output.
def _count(value: object, top: int = MAX_COUNT, bottom: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and bottom <= value <= top


def _text(value: object, pattern: re.Pattern[str] | None = None) -> bool:
    if not isinstance(value, str):
        return False
    if pattern is not None:
        return pattern.fullmatch(value) is not None
    try:
        value.encode("utf-8")  # a lone surrogate cannot be printed or written
    except UnicodeEncodeError:
        return False
    return True


def _pid(value: object) -> bool:
    return _count(value, PID_MAX, 1)


def _exit_code(value: object) -> bool:
    return _count(value, 255)


def _stamp(value: object) -> bool:
    return _text(value, _ISO)


def _run_id(value: object) -> bool:
    return _text(value, _RUN_ID)


def _word(value: object) -> bool:
    return _text(value, _WORD)


_CHECKS: tuple[tuple[str, Callable[[object], bool], bool], ...] = (  # field, check, may be null
    ("job", _text, False),
    ("run_id", _run_id, False),
    ("trigger", _word, False),
    ("lock_outcome", _word, False),
    ("started_at", _stamp, False),
    ("finished_at", _stamp, True),
    ("duration_ms", _count, True),
    ("exit_code", _exit_code, True),
    ("handler_outcome", _word, True),
    ("reason", _text, True),  # any text: sanitize() shows an unknown one as "unspecified"
    ("warning_count", _count, False),
    ("pid", _pid, True),
    ("boot_id", lambda v: _text(v, _BOOT_ID), True),
    ("blocked_by", _run_id, True),
    ("last_success_at", _stamp, True),
    ("project", lambda v: _text(v, _PROJECT_KEY), True),
    ("schema_version", lambda v: _count(v, SCHEMA_VERSION, SCHEMA_VERSION), False),
)


def _well_typed(record: RunRecord) -> bool:
    for name, check, nullable in _CHECKS:
        value = getattr(record, name)
        if not ((value is None and nullable) or check(value)):
            return False
    if not all(_text(w) for w in record.warnings):
        return False
    return all(_text(k, _FRESH_KEY) and _stamp(v) for k, v in record.freshness.items())


def valid_holder_fields(pid: object, run_id: object, started_at: object, boot: object) -> bool:
    """Whether a lock holder record's fields are what a run of ours writes."""
    return _pid(pid) and _run_id(run_id) and _stamp(started_at) and _text(boot, _BOOT_ID)


_PREVIOUS_CHECKS: dict[str, Callable[[object], bool]] = {
    "state": _word,
    "runId": _run_id,
    "finishedAt": _stamp,
    "exitCode": _exit_code,
    "warningCount": _count,
}


def _previous(doc: object) -> Mapping[str, object]:
    if not isinstance(doc, dict):
        raise TypeError("previous must be an object")
    out = {k: doc.get(k) for k in _PREVIOUS_CHECKS}
    for key, check in _PREVIOUS_CHECKS.items():
        if out[key] is not None and not check(out[key]):
            raise TypeError(key)
    RunState(str(out["state"]))
    return MappingProxyType(out)


def summary(record: RunRecord) -> Mapping[str, object]:
    """What a later run keeps of this one while it runs."""
    return MappingProxyType(
        {
            "state": str(record.state),
            "runId": record.run_id,
            "finishedAt": record.finished_at,
            "exitCode": record.exit_code,
            "warningCount": record.warning_count,
        }
    )


def last_success(record: RunRecord) -> str | None:
    """When the latest run that exited 0 finished, as ``record`` knows it."""
    if record.state is not RunState.RUNNING and record.exit_code == 0 and record.finished_at:
        return record.finished_at
    return record.last_success_at


def read_blocked(ctx: Context, job_id: str) -> RunRecord | None:
    """The latest blocked attempt, or ``None`` (missing or unreadable: it is only a note)."""
    read = _read(ctx, ctx.blocked_state_path(job_id), job_id)
    record = read.record
    return record if record is not None and record.state is RunState.BLOCKED else None


def read(ctx: Context, job_id: str) -> StateRead:
    return _read(ctx, ctx.state_path(job_id), job_id)


def _read(ctx: Context, path: Path, job_id: str) -> StateRead:
    try:
        data = fsio.read_bytes(path, "the latest-run state file", MAX_STATE_BYTES, trusted=True)
    except AiosError:
        return StateRead(RunState.UNREADABLE_STATE)
    if data is None:
        return StateRead(RunState.FIRST_RUN)
    try:
        record = _from_json(json.loads(data), job_id)
    except (ValueError, RecursionError):
        record = None
    if record is None:
        return StateRead(RunState.UNREADABLE_STATE)
    return StateRead(record.state, sanitize(record, ctx.privacy))


# -- the failure alert's memory: which failure of a job was last reported ------------------
_FAILURE_KEY = re.compile(r"[0-9a-z-]{1,64}")  # an InvocationID (hex), or "exited-<usec>"


def reported_failure(ctx: Context, job_id: str) -> str | None:
    """The failure of ``job_id``'s service that ``aios-notify`` reported last (its key),
    or ``None`` (none yet, or a file that is not ours to trust: then it reports again)."""
    try:
        data = fsio.read_bytes(ctx.reported_failure_path(job_id), "the reported-failure file", 4096, trusted=True)
        doc = json.loads(data) if data is not None else None
    except (AiosError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != SCHEMA_VERSION or doc.get("job") != job_id:
        return None
    key = doc.get("failure")
    return key if isinstance(key, str) and _FAILURE_KEY.fullmatch(key) else None


def record_reported_failure(ctx: Context, job_id: str, key: str, at: str) -> None:
    """Remember that the failure ``key`` of ``job_id``'s service was reported (atomically,
    0600, in the private state directory)."""
    if not _FAILURE_KEY.fullmatch(key):
        raise ValueError("not a failure key")
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    fsio.ensure_private_dir(ctx.state_dir, "the scheduler state directory")
    doc = {"schemaVersion": SCHEMA_VERSION, "job": job_id, "failure": key, "reportedAt": at}
    fsio.atomic_write(ctx.reported_failure_path(job_id), json.dumps(doc).encode() + b"\n", "the reported-failure file")
