"""``agent-aggregate``: host/local collectors, host-local scope, no network.

Also holds what the two aggregate handlers share: the map from an aggregate's outcome to a
:class:`HandlerResult` and the bounded wait on the generated-data lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aios_systemd.runner.api import HandlerOutcome, HandlerResult

if TYPE_CHECKING:
    from aios_systemd.data.orchestration import Aggregated
    from aios_systemd.runner.api import RunContext

DATA_LOCK_TIMEOUT = 30.0


def run(rc: RunContext) -> HandlerResult:
    from aios_systemd.data.orchestration import aggregate_host_local

    out = aggregate_host_local(
        rc.ctx, rc.registry, lock_timeout=lock_timeout(rc), emit=rc.log.event, on_written=rc.data_written
    )
    return to_handler_result(out)


def lock_timeout(rc: RunContext) -> float:
    # Never wait on the data lock past the run's own deadline.
    return max(0.0, min(DATA_LOCK_TIMEOUT, rc.remaining() - 1.0))


def to_handler_result(out: Aggregated) -> HandlerResult:
    """Write failures fail the run with their reason (``data-lock-timeout``,
    ``privacy-check``, ``data-invalid``, ``data-write-failed``, ``data-newer-version``,
    ``data-file-unusable``); a write that dropped parts of the current file is ``degraded``
    (``data-partly-kept``), as is a degraded collection that still wrote; otherwise
    ``success`` (the runner makes it ``warning-only`` when there are warnings)."""
    from aios_systemd.data.orchestration import PARTLY_KEPT_REASON

    warnings = tuple(out.warnings)
    reason = out.failure_reason
    if reason is not None:
        return HandlerResult(HandlerOutcome.FAILED, warnings, reason=reason)
    outcome = HandlerOutcome.DEGRADED if out.degraded else HandlerOutcome.SUCCESS
    why = PARTLY_KEPT_REASON if out.partly_kept else ("collector-degraded" if out.degraded else None)
    return HandlerResult(outcome, warnings, freshness=out.freshness(), reason=why)
