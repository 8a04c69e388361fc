"""The private per-job run log: one JSON object per line, 0600, bounded by rotation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from . import fsio
from ._typing import TYPE_CHECKING
from .errors import AiosError, UnsafePathError
from .isotime import now_iso

if TYPE_CHECKING:
    from .privacy import Privacy

MAX_LOG_BYTES = 1 << 20  # rotated to <job>.jsonl.1, so at most about 2 MiB per job
MAX_LINE_BYTES = 16 * 1024
MAX_FIELD_CHARS = 4096


def invocation_id(env: Mapping[str, str]) -> str | None:
    """The systemd service invocation running us (``$INVOCATION_ID``, 128 bits in hex), or
    ``None``: the user manager files its own journal lines about the service under it."""
    value = env.get("INVOCATION_ID", "")
    return value if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else None


class RunLog:
    """Appends events for one run.  Values pass through redaction even though the file is
    private: it is the place people copy from when asking for help."""

    def __init__(self, path: Path, run_id: str, job_id: str, privacy: Privacy, invocation: str | None = None) -> None:
        self.path = path
        self.run_id = run_id
        self.job_id = job_id
        self._privacy = privacy
        # Named on the run's first line only: it ties the manager's journal lines to the run.
        self._invocation = invocation
        self.refused: str | None = None  # why the log file was refused, once it was

    def _clean(self, value: object) -> object:
        # Redact whole values, then cut them: a secret cut first would no longer match.
        if isinstance(value, str):
            return self._privacy.redact(value)[-MAX_FIELD_CHARS:]
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value[:100]]
        if isinstance(value, dict):
            return {str(k)[:64]: self._clean(v) for k, v in list(value.items())[:100]}
        return self._privacy.redact(str(value))[:MAX_FIELD_CHARS]

    def event(self, name: str, **fields: object) -> None:
        record = {
            "ts": now_iso(),
            "job": self.job_id,
            "runId": self.run_id,
            "event": name,
            **({"invocationId": self._invocation} if self._invocation else {}),
            **{k: self._clean(v) for k, v in fields.items()},
        }
        self._invocation = None
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
        if len(line) >= MAX_LINE_BYTES:
            # The large values go; the small ones (a state, an exit code) still say what happened.
            record = {k: v for k, v in record.items() if len(json.dumps(v)) <= 256} | {"truncated": True}
            line = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
        # A log that cannot be written must not turn a good run into a failed one.
        try:
            fsio.append_line(self.path, line + b"\n", "the private run log", MAX_LOG_BYTES)
        except UnsafePathError as exc:
            # A planted file or link gets nothing; the run reports it as a warning.
            self.refused = self.refused or f"{exc.message}, so the run was not logged: {exc.hint}"
        except AiosError:
            pass


MAX_READ_BYTES = 2 * MAX_LOG_BYTES  # a log is rotated before it grows past MAX_LOG_BYTES


def read_events(path: Path) -> tuple[list[dict[str, object]], str | None]:
    """Every event of a job's private log, oldest first (the rotated ``<job>.jsonl.1``,
    then ``<job>.jsonl``), and why a file was skipped (a symlink, another user's, too
    large: operator-safe) or ``None``.  Lines that are not an event are left out."""
    events: list[dict[str, object]] = []
    problem = None
    for file in (path.with_name(path.name + ".1"), path):
        try:
            data = fsio.read_bytes(file, "the private run log", MAX_READ_BYTES, trusted=True)
        except AiosError as exc:
            problem = problem or fsio.ignored_warning(exc, "the private run log")
            continue
        for raw in (data or b"").splitlines():
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(doc, dict) and all(isinstance(doc.get(k), str) for k in ("ts", "runId", "event")):
                events.append(doc)
    return events, problem
