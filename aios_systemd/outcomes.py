"""The ten run-state labels of the runbook and the one map from a state to an exit code."""

from __future__ import annotations

import enum
from types import MappingProxyType

from .errors import ExitCode


class RunState(enum.StrEnum):
    """Latest-run states, spelled exactly as the runbook's "State Meanings" table."""

    FIRST_RUN = "first-run"
    RUNNING = "running"  # only ever on disk while a run is in flight; a dead one becomes stale-lock
    SUCCESS = "success"
    WARNING_ONLY = "warning-only"
    DEGRADED = "degraded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    STALE_LOCK = "stale-lock"
    UNREADABLE_STATE = "unreadable-state"


# Operator copy for each state (runbook "Meaning" and "Usual response" columns).
STATE_COPY: MappingProxyType[RunState, tuple[str, str]] = MappingProxyType(
    {
        RunState.FIRST_RUN: ("Not run yet", "Run the job once: aios-run {job}"),
        RunState.RUNNING: ("A run is in progress", "Wait for it to finish, then check status again"),
        RunState.SUCCESS: ("Latest run completed cleanly", "No action required"),
        RunState.WARNING_ONLY: (
            "Run completed with sanitized warning summaries",
            "Inspect the private log locally if this repeats",
        ),
        RunState.DEGRADED: (
            "Run completed with reduced input or fallback coverage",
            "Check configured sources and providers",
        ),
        RunState.FAILED: ("Handler failed before clean completion", "Check local config and rerun: aios-run {job}"),
        RunState.TIMEOUT: ("Run exceeded the job timeout", "Check slow providers or sources"),
        RunState.BLOCKED: (
            "Existing lock or active run prevented execution",
            "Wait, or rerun to allow stale-lock recovery: aios-run {job}",
        ),
        RunState.SKIPPED: ("Scheduler boundary skipped execution", "Verify registry, handler wiring and activation"),
        RunState.STALE_LOCK: ("Run completed after stale lock recovery", "Watch for repeated recovery"),
        RunState.UNREADABLE_STATE: (
            "Latest state could not be parsed safely",
            "Rerun to replace private state: aios-run {job}",
        ),
    }
)

_EXIT_CODES: MappingProxyType[RunState, ExitCode] = MappingProxyType(
    {
        RunState.SUCCESS: ExitCode.OK,
        RunState.WARNING_ONLY: ExitCode.OK,
        RunState.DEGRADED: ExitCode.OK,
        RunState.SKIPPED: ExitCode.OK,
        RunState.STALE_LOCK: ExitCode.OK,
        RunState.FAILED: ExitCode.FAILED,
        RunState.BLOCKED: ExitCode.BLOCKED,
        RunState.TIMEOUT: ExitCode.TIMEOUT,
    }
)


def exit_code_for(state: RunState) -> ExitCode:
    """The exit code ``aios-run`` returns for a finished run in ``state``."""
    return _EXIT_CODES.get(state, ExitCode.FAILED)
