"""``dream``: the runner's binding of :mod:`aios_systemd.jobs.dream`.

The host/local refresh runs the installed ``aios-run agent-aggregate`` as a separate job
(its own lock and state) through the process wrapper, so a timer run in progress blocks it
(exit 75) instead of racing it.  Trend Finder is never run from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aios_systemd import proc
from aios_systemd.jobs import dream
from aios_systemd.runner.api import HandlerOutcome, HandlerResult, RunContext
from aios_systemd.runs import TRIGGER_ENV, TRIGGERS

REFRESH_JOB = "agent-aggregate"
RUNNER_MISSING = 127  # as a shell reports a command it cannot find


def aios_run_path() -> Path:
    """The ``aios-run`` installed beside this interpreter (the same build as this runner)."""
    return Path(sys.executable).parent / "aios-run"


def refresher(rc: RunContext) -> dream.Refresher:
    argv = [str(aios_run_path()), REFRESH_JOB, "--project-root", str(rc.ctx.project_root), "--json"]
    # The clean child environment drops AIOS_SCHEDULER_ROOT: without it the refresh would
    # lock, record and write under a different scheduler root than this run.
    extra = {"AIOS_SCHEDULER_ROOT": str(rc.ctx.scheduler_root)}
    if rc.trigger in TRIGGERS:
        extra[TRIGGER_ENV] = rc.trigger

    def refresh(timeout: float) -> int | None:
        if not Path(argv[0]).is_file():
            rc.log.event("refresh-unavailable", reason="aios-run not found beside the interpreter")
            return RUNNER_MISSING
        rc.log.event("refresh-start", refreshJob=REFRESH_JOB)
        try:
            result = rc.run_command(argv, timeout=timeout, extra_env=extra, check=False)
        except proc.ProcessTimeoutError:
            return None
        rc.log.event("refresh-end", refreshJob=REFRESH_JOB, exitCode=result.returncode)
        return result.returncode

    return refresh


def run(rc: RunContext) -> HandlerResult:
    env = dream.merged_env(rc.ctx)
    outcome = dream.execute(
        rc.ctx,
        env,
        rc.run_id,
        refresh=refresher(rc),
        run_command=rc.run_command,
        deadline=rc.deadline,
        registry=rc.registry,
    )
    rc.log.event(
        "dream",
        status=outcome.status,
        provider=outcome.provider,
        materialGeneratedAt=outcome.material_generated_at,
        materialRefreshed=outcome.material_refreshed,
        refreshExit=outcome.refresh_exit,
        pruned=outcome.pruned,
    )
    if outcome.status == "disabled":
        return HandlerResult(HandlerOutcome.SKIPPED, reason="dream-disabled")
    if outcome.status == "no-material":
        return HandlerResult(HandlerOutcome.FAILED, outcome.warnings, reason="no-material")
    freshness = {"dream": outcome.generated_at or ""}
    if outcome.material_generated_at:
        freshness["dreamMaterial"] = outcome.material_generated_at
    if not outcome.degraded:
        return HandlerResult(HandlerOutcome.SUCCESS, outcome.warnings, freshness=freshness)
    reason = (
        "provider-fallback"
        if outcome.provider == dream.OFFLINE and any(w.startswith("Dream provider") for w in outcome.warnings)
        else "stale-material"
    )
    return HandlerResult(HandlerOutcome.DEGRADED, outcome.warnings, freshness=freshness, reason=reason)
