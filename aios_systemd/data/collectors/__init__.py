"""The collectors: the built-in host/local ones (each returns one root branch of the
artifact, as a :class:`Collected`) and the extension collectors (``trend_finder``: its
``extensions.items`` entry), which both the extension's own job and the full aggregate run.

A built-in collector reads this machine only (no network), never prints, and raises only
when it cannot produce its branch at all; the orchestration turns that into a warning and a
degraded run while the others still write.
Branches carry their own ``generatedAt``: the time their facts were read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aios_systemd.record import Record

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry


class Collected(Record):
    branch: dict[str, Any]
    warnings: tuple[str, ...] = ()
    degraded: bool = False
    extra: Mapping[str, Any] = MappingProxyType({})  # private diagnostics for the trace only


Collector = Callable[["Context", "Registry"], Collected]
