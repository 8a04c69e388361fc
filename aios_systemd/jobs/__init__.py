"""The runtime map from handler id to handler function.

Each handler lives in its own module here (``aggregate``, ``agent_aggregate``,
``trend_finder``, ``dream``) exposing ``run(rc: RunContext) -> HandlerResult``.  Modules
are imported only when their job runs, so one job never pays for another's collectors;
a module this build does not ship simply leaves its handler id out of the map.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from types import MappingProxyType

from ..registry import HandlerId
from ..runner.api import Handler, HandlerResult, RunContext

MODULES: Mapping[HandlerId, str] = MappingProxyType(
    {
        HandlerId.AGGREGATE: "aggregate",
        HandlerId.AGENT_AGGREGATE: "agent_aggregate",
        HandlerId.TREND_FINDER: "trend_finder",
        HandlerId.DREAM: "dream",
    }
)


def _lazy(module: str) -> Handler:
    def handler(rc: RunContext) -> HandlerResult:
        run: Handler = importlib.import_module(f"{__name__}.{module}").run
        return run(rc)

    handler.__name__ = module
    return handler


def default_handlers() -> Mapping[str, Handler]:
    """The handlers this build ships, keyed by :class:`~aios_systemd.registry.HandlerId` value."""
    return MappingProxyType(
        {
            str(hid): _lazy(module)
            for hid, module in MODULES.items()
            if importlib.util.find_spec(f"{__name__}.{module}") is not None
        }
    )
