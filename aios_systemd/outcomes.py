"""The ten run-state labels of the runbook and the one map from a state to an exit code."""

from __future__ import annotations

import enum
from types import MappingProxyType

from .errors import ExitCode
from .record import Record


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
            "If this repeats, see its runs: aios-units logs {job}",
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


_LOGS = "'aios-units logs {job}'"  # the job's runs, from its private log and the journal
_WRITE_REFUSED = "nothing was written and the previous data is intact; "
NEWER_DATA_FIX = (
    "live-data.json in the project's src/data was written by a newer aios-systemd; upgrade this one "
    "(or move that file away to start over)"
)
UNUSABLE_DATA_FIX = (
    "live-data.json in the project's src/data cannot be used (not valid JSON, not an object, an unknown "
    "schemaVersion, unreadable or too large: the warning says which); move it away and the next write "
    "starts a new one"
)


class WriteFailure(Record):
    """A generated-data write that did not happen: the reason a run records, what a run's
    warning says, and the fix (``{where}``: where the details are; ``{rerun}``: the command
    to run again)."""

    reason: str
    message: str
    fix: str


# By the writer's outcome (data.writer.WriteResult.outcome): the one table of write
# failures, for the jobs' reasons, warnings and hints and for aios-aggregate's hint.
WRITE_FAILURES: MappingProxyType[str, WriteFailure] = MappingProxyType(
    {
        "lock-timeout": WriteFailure(
            "data-lock-timeout",
            "the generated-data lock stayed busy; nothing was written",
            _WRITE_REFUSED + "another writer held the generated-data lock; rerun when it is done: {rerun}",
        ),
        "privacy": WriteFailure(
            "privacy-check",
            "the merged generated data failed the privacy check; not written",
            _WRITE_REFUSED + "a collector produced private data; {where} names the rule and where",
        ),
        "invalid": WriteFailure(
            "data-invalid",
            "the merged generated data failed validation; nothing was written",
            _WRITE_REFUSED + "a collector produced data the schema refuses; {where} names the rule and where",
        ),
        "io-error": WriteFailure(
            "data-write-failed",
            "the generated data could not be written",
            _WRITE_REFUSED + "check that the project's src/data is writable and the disk has space, then rerun: "
            "{rerun}",
        ),
        "newer-version": WriteFailure(
            "data-newer-version",
            "the generated data file was written by a newer aios-systemd; nothing was written",
            _WRITE_REFUSED + NEWER_DATA_FIX + ", then rerun: {rerun}",
        ),
        "unusable": WriteFailure(
            "data-file-unusable",
            "the generated data file cannot be used; nothing was written",
            "nothing was written; " + UNUSABLE_DATA_FIX + ": {rerun}",
        ),
    }
)


def write_failure(outcome: str) -> WriteFailure:
    """The failure a write's ``outcome`` is (an outcome no table row names is an I/O error)."""
    return WRITE_FAILURES.get(outcome, WRITE_FAILURES["io-error"])


# The fix for each reason a run records, where there is one more specific than its state's
# usual response.  Operator copy: no values, no paths beyond the project's own layout.
REASON_HINTS: MappingProxyType[str, str] = MappingProxyType(
    {
        **{f.reason: f.fix.format(where=_LOGS, rerun="aios-run {job}") for f in WRITE_FAILURES.values()},
        # Trend Finder's name for the privacy refusal before it shared the aggregate jobs'
        # codes; state files written then still get the fix.
        "privacy-check-failed": WRITE_FAILURES["privacy"].fix.format(where=_LOGS, rerun=""),
        "data-partly-kept": "parts of live-data.json in the project's src/data that this release cannot read "
        "were not kept (the warnings name them); if a newer aios-systemd wrote them, upgrade this one",
        "job-lock-held": "another run of this job is in progress: aios-status --job {job}",
        "handler-crash": "the handler crashed; " + _LOGS + " shows its error; rerun: aios-run {job}",
        "handler-error": "the handler stopped with an error; " + _LOGS + " shows it; rerun: aios-run {job}",
        "no-result": "the handler ended without a result; " + _LOGS + " shows its output",
        "timeout": "the job ran past its timeout and was stopped with its processes; "
        + _LOGS
        + " shows how far it got",
        "terminated": "the run was stopped from outside (a unit stop or SIGTERM); rerun when ready: aios-run {job}",
        "interrupted": "the run was interrupted (SIGINT); rerun when ready: aios-run {job}",
        "extension-disabled": "to run it, add the extension to VITE_CLAUDE_OS_ENABLED_EXTENSIONS in the "
        "project's .env.local",
        "dream-disabled": "to run it, set AI_OS_DREAM_ENABLED=true in the project's .env.local",
        "no-material": "Dream found no fresh material; run the agent aggregate first: aios-run agent-aggregate",
    }
)


def hint_for(reason: str | None, job: str) -> str | None:
    """The hint for a recorded ``reason``, or ``None`` when its state's response says it all."""
    hint = REASON_HINTS.get(reason or "")
    return hint.format(job=job) if hint else None
