"""A small private cache of results that are expensive to recompute and cheap to check.

Interactive commands run many times with the same inputs (the same config bytes, the same
units to render, the same calendar expressions).  Their results are kept as JSON under
``<scheduler-root>/cache`` keyed by a hash of every input, so a change to any input is a
miss, never a stale answer.  The cache is advisory: a missing, unreadable or foreign entry
is a miss, and a failed write changes nothing for the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from . import __version__, fsio
from ._typing import TYPE_CHECKING
from .errors import AiosError

if TYPE_CHECKING:
    from typing import Any

MAX_ENTRY_BYTES = 1 << 20
KEEP_PER_NAMESPACE = 64


def key_of(*parts: object) -> str:
    """A stable key over ``parts`` and this release (a new release never reads old entries)."""
    h = hashlib.sha256(__version__.encode())
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:40]


def source_identity(*files: str | os.PathLike[str]) -> str:
    """Size and modification time of the source files whose logic decides a cached answer.

    The release is already part of every key; this also makes an edited checkout miss (an
    editable install keeps its version while its code changes).  A stat each, no read."""
    parts = []
    for name in files:
        try:
            st = os.stat(name)
        except OSError:
            parts.append("?")
            continue
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return ",".join(parts)


class Memo:
    """Entries under ``directory`` (``<scheduler-root>/cache``).  It is used only while
    that directory and the scheduler root holding it pass the private-directory rule (no
    symlink, ours, nobody else can write) and an entry only when it is ours: a cache that
    another user could fill would decide what we render and trust."""

    def __init__(self, directory: Path | None, namespace: str) -> None:
        self.directory = directory
        self.namespace = namespace

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.namespace}-{key}.json"

    def get(self, key: str) -> Any | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            fsio.check_private_dir(path.parent.parent, "the scheduler root")
            fsio.check_private_dir(path.parent, "the cache directory")
            raw = fsio.read_bytes(path, "a cache entry", MAX_ENTRY_BYTES, trusted=True)
            return None if raw is None else json.loads(raw)
        except (AiosError, OSError, ValueError, RecursionError):
            return None

    def put(self, key: str, value: Any) -> None:
        path = self._path(key)
        if path is None:
            return
        with contextlib.suppress(AiosError, OSError, TypeError, ValueError):
            fsio.ensure_private_dir(path.parent.parent, "the scheduler root")
            fsio.ensure_private_dir(path.parent, "the cache directory")
            fsio.atomic_write(path, json.dumps(value, separators=(",", ":")).encode(), "a cache entry")
            self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        entries = sorted(
            (e for e in os.scandir(directory) if e.name.startswith(self.namespace + "-") and e.is_file()),
            key=lambda e: e.stat().st_mtime_ns,
        )
        for entry in entries[:-KEEP_PER_NAMESPACE]:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
