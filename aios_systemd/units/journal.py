"""A job's service in the journal, read through ``journalctl`` (journald's files are read
only through it or sd-journal; the binary format is journald's own).

``journalctl --user-unit=ai-os-<job>.service`` is what ``journalctl --user -u`` matches,
without ``--user``'s limit to the user's own journal files: journald files the user
services of a system user (root) in the system journal, and so does a volatile journal
for every user.  No journalctl, no journal, or nothing readable is no entry, never an
error: the private run log still has every run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aios_systemd import proc
from aios_systemd.errors import AiosError
from aios_systemd.record import Record

# What the lines need; journalctl adds the cursor and the timestamps to each entry itself.
FIELDS = ("MESSAGE", "PRIORITY", "_PID", "_SYSTEMD_USER_UNIT", "USER_INVOCATION_ID", "_SYSTEMD_INVOCATION_ID")
MAX_ENTRIES = 2000  # per read: well over a hundred runs of a job
TIMEOUT_SECONDS = 10.0
INFO = 6


class Entry(Record):
    cursor: str
    usec: int  # when it was logged, microseconds since the epoch (__REALTIME_TIMESTAMP)
    message: str
    priority: int  # syslog priority: 3 error, 4 warning, 5 notice, 6 info
    invocation: str | None  # the service invocation it belongs to, when the journal says
    output: bool  # the service's own output (aios-run's lines); else systemd's line about it
    pid: int | None = None  # the process that logged it


def read(env: Mapping[str, str], unit: str, *, after: str | None = None, since_usec: int | None = None) -> list[Entry]:
    """The newest entries of ``unit`` (oldest first), those after the cursor ``after``, or
    those since ``since_usec``; ``[]`` when there is no journal to read."""
    argv = ["journalctl", f"--user-unit={unit}", "--output=json", "--output-fields=" + ",".join(FIELDS)]
    argv += ["--all", "--no-pager", "--quiet"]
    if after is not None:
        argv.append(f"--after-cursor={after}")
    else:
        argv.append(f"--lines={MAX_ENTRIES}")
        if since_usec is not None:
            argv.append(f"--since=@{max(0, since_usec // 1_000_000)}")
    try:
        result = proc.run(argv, cwd=Path("/"), env=proc.clean_env(env), timeout=TIMEOUT_SECONDS, check=False)
    except AiosError:
        return []  # no journalctl, or it hung: no journal to read
    return parse(result.stdout, unit) if result.returncode == 0 else []


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")  # journalctl's form for binary data
    return None


def parse(data: bytes, unit: str) -> list[Entry]:
    """``journalctl --output=json`` lines as entries of ``unit`` (anything else is skipped)."""
    out: list[Entry] = []
    for raw in data.splitlines():
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            continue  # a line cut short (the capture keeps the newest megabyte)
        if not isinstance(doc, dict):
            continue
        cursor, stamp, message = doc.get("__CURSOR"), doc.get("__REALTIME_TIMESTAMP"), _text(doc.get("MESSAGE"))
        if not isinstance(cursor, str) or not isinstance(stamp, str) or not stamp.isdigit() or message is None:
            continue
        priority, pid = doc.get("PRIORITY"), doc.get("_PID")
        # systemd tags its own lines about a unit with USER_INVOCATION_ID, those its child
        # logs from inside the unit before the exec too ("Failed at step CHDIR").
        output = doc.get("_SYSTEMD_USER_UNIT") == unit and "USER_INVOCATION_ID" not in doc
        invocation = doc.get("_SYSTEMD_INVOCATION_ID" if output else "USER_INVOCATION_ID")
        out.append(
            Entry(
                cursor,
                int(stamp),
                message,
                int(priority) if isinstance(priority, str) and priority.isdigit() else INFO,
                invocation if isinstance(invocation, str) and invocation else None,
                output,
                int(pid) if isinstance(pid, str) and pid.isdigit() else None,
            )
        )
    return out
