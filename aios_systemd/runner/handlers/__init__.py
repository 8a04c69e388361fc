"""The runtime map from handler id to handler function.

Handlers are imported lazily: a job's collectors load only when that job runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..api import Handler


def default_handlers() -> Mapping[str, Handler]:
    """The handlers this build ships, keyed by :class:`~aios_systemd.registry.HandlerId` value."""
    table: dict[str, Handler] = {}
    return MappingProxyType(table)
