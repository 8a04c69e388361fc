"""``aggregate``: the full compatibility writer (host/local plus every enabled extension)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aios_systemd.jobs.agent_aggregate import lock_timeout, to_handler_result

if TYPE_CHECKING:
    from aios_systemd.runner.api import HandlerResult, RunContext

# Time kept back from the job timeout for the write after the extension collectors.
WRITE_RESERVE_SECONDS = 60.0


def run(rc: RunContext) -> HandlerResult:
    from aios_systemd.data.orchestration import aggregate_full

    reserve = min(WRITE_RESERVE_SECONDS, rc.remaining() * 0.1)
    out = aggregate_full(
        rc.ctx,
        rc.registry,
        deadline=rc.deadline - reserve,
        lock_timeout=lock_timeout(rc),
        emit=rc.log.event,
        on_written=rc.data_written,
    )
    return to_handler_result(out)
