"""One error type with a hint, and the single map from outcomes to exit codes.

Every refusal the toolkit makes is an :class:`AiosError`: a message saying what was
wrong and a ``hint`` saying how to fix it.  Neither may carry a secret or a private
path; callers pass labels (``"the scheduler root"``), never raw values.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNKNOWN = 3  # aios-status --check only: a monitoring plugin's UNKNOWN (it exits 0-3 as one)
    BLOCKED = 75  # EX_TEMPFAIL: try again later; units list it in SuccessExitStatus=
    TIMEOUT = 124  # as timeout(1)
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


class AiosError(Exception):
    """A refusal with a fix.  ``exit_code`` decides how the CLI exits."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(AiosError):
    """The caller asked for something that cannot be done as asked (unknown job, bad flag)."""

    exit_code = ExitCode.USAGE


class UnsafePathError(AiosError):
    """A path failed a safety rule (symlink, permissions, owner, location)."""

    exit_code = ExitCode.USAGE


class BusUnavailableError(AiosError):
    """The systemd user manager cannot be reached."""

    exit_code = ExitCode.USAGE


class ProcessFailedError(AiosError):
    """An external command exited non-zero or could not start."""

    def __init__(self, command: str, returncode: int | None, message: str | None = None) -> None:
        self.command = command
        self.returncode = returncode
        text = message or (
            f"command {command!r} could not be started"
            if returncode is None
            else f"command {command!r} exited with code {returncode}"
        )
        super().__init__(text, "'aios-units logs JOB' shows its output")
