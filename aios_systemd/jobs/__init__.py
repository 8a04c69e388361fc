"""The jobs, one module each, and the map the runner dispatches through.

Each job's module here (``aggregate``, ``agent_aggregate``, ``trend_finder``, ``dream``)
exposes its handler, ``run(rc: RunContext) -> HandlerResult`` (:mod:`aios_systemd.runner.api`),
and is imported only when its job runs, in the runner's child process, so one job never
pays for another's collectors.  docs/ARCHITECTURE.md says how to add one.
"""

from __future__ import annotations

import importlib
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
    """Every job's handler, keyed by :class:`~aios_systemd.registry.HandlerId` value."""
    return MappingProxyType({str(hid): _lazy(module) for hid, module in MODULES.items()})
