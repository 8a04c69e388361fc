"""Local agent activity from file-system metadata only.

Claude Code keeps one JSONL file per session under ``~/.claude/projects/<project>/`` and
Codex under ``~/.codex/sessions/YYYY/MM/DD/``.  This collector counts those files and reads
their modification times with a bounded walk (depth, entries and time capped; symlinks
inside the tree are not followed).  It never opens a file and never records a name or a
path: only counts, the last activity time and per-day counts for the last week (by the
day, UTC, a session file was last written).

Each tool is isolated: a tool whose directory cannot be read is reported ``unreadable``
with a warning and the run degrades, while the other tool's facts still land.
"""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd.data.collectors import Collected
from aios_systemd.isotime import iso_from_epoch, now_iso
from aios_systemd.record import Record

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry

MAX_ENTRIES = 100_000  # directory entries looked at per tool
MAX_SECONDS = 10.0  # wall time per tool
RECENT_DAYS = 7
SUFFIX = ".jsonl"


class Tool(Record):
    key: str  # the branch key
    title: str  # operator copy for warnings
    parts: tuple[str, ...]  # under the home directory
    max_depth: int  # directory levels below the root that may hold session files
    count_projects: bool


TOOLS = (
    Tool("claudeCode", "Claude Code", (".claude", "projects"), 3, True),
    Tool("codex", "Codex", (".codex", "sessions"), 4, False),
)


class Unreadable(Exception):
    pass


class _Walk:
    """What one walk has counted so far."""

    __slots__ = ("entries", "files", "last", "projects", "truncated")

    def __init__(self) -> None:
        self.files = self.projects = self.entries = 0
        self.last: float | None = None
        self.truncated = False


def _open_root(root: Path) -> bool:
    """Whether the tool's root exists; raises :class:`Unreadable` when it exists but cannot
    be walked.  A symlinked root is followed (dotfile setups link ``~/.claude``)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise Unreadable from exc
    if not stat.S_ISDIR(st.st_mode):
        raise Unreadable
    if not os.access(root, os.R_OK | os.X_OK):
        raise Unreadable
    return True


def walk(
    root: Path,
    tool: Tool,
    days: list[float],
    counts: list[int],
    *,
    max_entries: int = MAX_ENTRIES,
    max_seconds: float = MAX_SECONDS,
) -> _Walk:
    out = _Walk()
    stop = time.monotonic() + max_seconds
    todo: list[tuple[str, int]] = [(str(root), 0)]
    first = True
    while todo:
        path, depth = todo.pop()
        try:
            it = os.scandir(path)
        except OSError:
            if first:
                raise Unreadable from None
            out.truncated = True
            continue
        is_root, first = first, False
        with it:
            for entry in it:
                out.entries += 1
                if out.entries > max_entries or time.monotonic() > stop:
                    out.truncated = True
                    return out
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if is_root:
                            out.projects += 1
                        if depth + 1 < tool.max_depth:
                            todo.append((entry.path, depth + 1))
                    elif entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False):
                        mtime = entry.stat(follow_symlinks=False).st_mtime
                        out.files += 1
                        out.last = mtime if out.last is None else max(out.last, mtime)
                        for i, start in enumerate(days):
                            if start <= mtime < start + 86400:
                                counts[i] += 1
                                break
                except OSError:
                    out.truncated = True
    return out


def _day_starts(now: datetime) -> list[datetime]:
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=n) for n in range(RECENT_DAYS - 1, -1, -1)]


def tool_facts(home: Path, tool: Tool, now: datetime | None = None) -> dict[str, Any]:
    root = home.joinpath(*tool.parts)
    starts = _day_starts(now or datetime.now(UTC))
    if not _open_root(root):
        return {
            "status": "absent",
            "sessionFiles": 0,
            "projects": 0 if tool.count_projects else None,
            "lastActivityAt": None,
            "truncated": False,
            "recentDays": [],
        }
    counts = [0] * len(starts)
    result = walk(root, tool, [d.timestamp() for d in starts], counts)
    return {
        "status": "ok",
        "sessionFiles": result.files,
        "projects": result.projects if tool.count_projects else None,
        "lastActivityAt": iso_from_epoch(result.last, "seconds") if result.last is not None else None,
        "truncated": result.truncated,
        "recentDays": [{"day": d.date().isoformat(), "sessions": c} for d, c in zip(starts, counts, strict=True)],
    }


def collect(ctx: Context, registry: Registry | None = None) -> Collected:
    del registry
    branch: dict[str, Any] = {"generatedAt": now_iso()}
    warnings: list[str] = []
    for tool in TOOLS:
        try:
            branch[tool.key] = tool_facts(ctx.home, tool)
        except Unreadable:
            warnings.append(f"{tool.title} session directory could not be read")
            branch[tool.key] = {
                "status": "unreadable",
                "sessionFiles": 0,
                "projects": None,
                "lastActivityAt": None,
                "truncated": False,
                "recentDays": [],
            }
        else:
            if branch[tool.key]["truncated"]:
                warnings.append(f"{tool.title} session scan stopped at its bound; counts are partial")
    degraded = any(branch[t.key]["status"] == "unreadable" for t in TOOLS)
    return Collected(branch, tuple(warnings), degraded=degraded)
