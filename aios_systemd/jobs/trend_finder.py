"""``trend-finder``: refresh ``extensions.items["trend-finder"]`` and nothing else.

Skipped (reason ``extension-disabled``) unless ``VITE_CLAUDE_OS_ENABLED_EXTENSIONS`` names
``trend-finder`` in the environment or ``.env.local``.  Degraded sources still write;
only a refused or failed write fails the run.
"""

from __future__ import annotations

import time

from aios_systemd.data.collectors import trend_finder as tf
from aios_systemd.data.orchestration import PARTLY_KEPT_REASON, dropped_warnings
from aios_systemd.outcomes import write_failure
from aios_systemd.runner.api import HandlerOutcome, HandlerResult, RunContext

# Time kept back from the job deadline for the locked write after collection.
WRITE_RESERVE_SECONDS = 45.0
LOCK_TIMEOUT_SECONDS = 30.0


def run(rc: RunContext) -> HandlerResult:
    from aios_systemd.data.writer import WriteResult, write_live_data_for_scope

    env = tf.merged_env(rc.ctx)
    if not tf.extension_enabled(env):
        rc.log.event("skipped", reason="extension-disabled")
        return HandlerResult(HandlerOutcome.SKIPPED, reason="extension-disabled")

    deadline = rc.deadline - WRITE_RESERVE_SECONDS
    item, warnings, is_degraded, summaries = tf.collect_summaries(rc.ctx, env, deadline)
    for s in summaries:
        # Row metadata only: the dataset id and token never reach the log.
        rc.log.event(
            "source",
            source=s.id,
            kind=s.kind,
            status=s.status,
            itemCount=s.item_count,
            durationMs=s.duration_ms,
            httpStatus=s.http_status,
            reason=s.reason,
        )

    lock_timeout = max(1.0, min(LOCK_TIMEOUT_SECONDS, rc.deadline - time.monotonic() - 5.0))

    def freshness(result: WriteResult) -> dict[str, str]:
        return {tf.EXTENSION_ID: result.generated_at or str(item["generatedAt"])}

    result = write_live_data_for_scope(
        rc.ctx,
        rc.job.write_scope,
        item,
        lock_timeout=lock_timeout,
        on_written=lambda written: rc.data_written(freshness(written)),
    )
    rc.log.event("write", outcome=result.outcome, rule=result.rule, bytes=result.bytes_written)
    if result.outcome != "written":
        # The aggregate jobs' reasons and words for the same refusal (outcomes.WRITE_FAILURES).
        failure = write_failure(result.outcome)
        message = failure.message + (f" (rule: {result.rule})" if result.rule else "")
        return HandlerResult(HandlerOutcome.FAILED, (*warnings, message), reason=failure.reason)

    dropped = dropped_warnings(result)
    outcome = HandlerOutcome.DEGRADED if is_degraded or dropped else HandlerOutcome.SUCCESS
    why = (
        PARTLY_KEPT_REASON
        if dropped
        else ("sources-degraded" if is_degraded else ("no-sources" if not summaries else None))
    )
    return HandlerResult(outcome, (*warnings, *dropped), freshness=freshness(result), reason=why)
