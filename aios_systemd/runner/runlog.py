"""The private per-job run log: one JSON object per line, 0600, bounded by rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .. import fsio
from ..errors import AiosError, UnsafePathError

TYPE_CHECKING = False  # keeps typing off the start-up path: see record.py
if TYPE_CHECKING:
    from ..privacy import Privacy

MAX_LOG_BYTES = 1 << 20  # rotated to <job>.jsonl.1, so at most about 2 MiB per job
MAX_LINE_BYTES = 16 * 1024
MAX_FIELD_CHARS = 4096


class RunLog:
    """Appends events for one run.  Values pass through redaction even though the file is
    private: it is the place people copy from when asking for help."""

    def __init__(self, path: Path, run_id: str, job_id: str, privacy: Privacy) -> None:
        self.path = path
        self.run_id = run_id
        self.job_id = job_id
        self._privacy = privacy
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
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "job": self.job_id,
            "runId": self.run_id,
            "event": name,
            **{k: self._clean(v) for k, v in fields.items()},
        }
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
        if len(line) >= MAX_LINE_BYTES:
            record = {k: record[k] for k in ("ts", "job", "runId", "event")} | {"truncated": True}
            line = json.dumps(record, separators=(",", ":")).encode()
        # A log that cannot be written must not turn a good run into a failed one.
        try:
            fsio.append_line(self.path, line + b"\n", "the private run log", MAX_LOG_BYTES)
        except UnsafePathError as exc:
            # A planted file or link gets nothing; the run reports it as a warning.
            self.refused = self.refused or f"{exc.message}, so the run was not logged: {exc.hint}"
        except AiosError:
            pass
