"""How fresh the generated data is, as the artifact itself says.

Freshness is read from ``src/data/live-data.json`` of the project root asked about: each
branch's own ``generatedAt``.  A run's record only says what that run wrote, somewhere: a
failed run leaves fresh data, a run from another checkout wrote other data, and a branch
kept from an earlier write (its collector refused) is as old as its ``generatedAt``.

Reading is lock-free (writes are atomic renames) and never raises.  A large artifact is
not parsed whole: its members are found by the splicing scanner and only the small values
that carry a ``generatedAt`` are decoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aios_systemd import fsio
from aios_systemd.data import HOST_LOCAL_BRANCHES, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES
from aios_systemd.errors import AiosError
from aios_systemd.record import Record
from aios_systemd.registry import ScopeKind, WriteScope

# Why there is nothing to read (operator-safe); the check tells "not yet" from "cannot read".
NO_ARTIFACT = "no generated data in this project root yet"
UNREADABLE = "the generated data file cannot be read (a symlink, too large or unreadable)"
INVALID = "the generated data file is not a valid artifact"
PARSE_WHOLE_BYTES = 1 << 20  # below this, json.loads is faster than scanning


class Freshness(Record):
    """Branch (``host``, ``extensions.trend-finder``...) → its ``generatedAt``; ``problem``
    says why there is nothing to read (no artifact yet, unreadable), operator-safe."""

    branches: Mapping[str, str]
    problem: str | None = None

    def for_scope(self, scope: WriteScope) -> dict[str, str]:
        """The branches a job with ``scope`` writes."""
        if scope.kind is ScopeKind.FULL:
            return dict(self.branches)
        if scope.kind is ScopeKind.HOST_LOCAL:
            return {k: v for k, v in self.branches.items() if k in HOST_LOCAL_BRANCHES}
        if scope.kind is ScopeKind.EXTENSION_ITEM:
            key = f"extensions.{scope.extension_id}"
            return {key: self.branches[key]} if key in self.branches else {}
        return {}


def read(path: Path) -> Freshness:
    try:
        data = fsio.read_bytes(path, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES)
    except AiosError:
        return Freshness({}, UNREADABLE)
    if data is None:
        return Freshness({}, NO_ARTIFACT)
    try:
        return Freshness(_whole(data) if len(data) <= PARSE_WHOLE_BYTES else _scanned(data))
    except (ValueError, RecursionError, TypeError, AttributeError):
        return Freshness({}, INVALID)


def _stamp(value: object) -> str | None:
    stamp = value.get("generatedAt") if isinstance(value, dict) else None
    return stamp if isinstance(stamp, str) and len(stamp) <= 64 else None


def _collect(branches: Mapping[str, object], items: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in HOST_LOCAL_BRANCHES:
        stamp = _stamp(branches.get(name))
        if stamp:
            out[name] = stamp
    for ext_id, item in items.items():
        stamp = _stamp(item)
        if stamp:
            out[f"extensions.{ext_id}"] = stamp
    return out


def _whole(data: bytes) -> dict[str, str]:
    doc = json.loads(data)
    extensions = doc.get("extensions") if isinstance(doc, dict) else None
    items = extensions.get("items") if isinstance(extensions, dict) else None
    return _collect(doc, items if isinstance(items, dict) else {})


def _scanned(data: bytes) -> dict[str, str]:
    from . import splice

    root = splice.root_members(data, ("extensions", "items"))
    branches = {m.key: json.loads(data[m.value_start : m.end]) for m in root if m.key in HOST_LOCAL_BRANCHES}
    items: dict[str, object] = {}
    for member in root:
        for inner in member.inner or ():
            for item in inner.inner or ():
                if data[item.value_start : item.value_start + 1] != b"{":
                    continue
                fields, _ = splice.members(data, item.value_start)
                stamp = next((f for f in fields if f.key == "generatedAt"), None)
                if stamp is not None:
                    items[item.key] = {"generatedAt": json.loads(data[stamp.value_start : stamp.end])}
    return _collect(branches, items)
