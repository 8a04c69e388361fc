"""Stop signals for ``aios-run``: SIGTERM, SIGINT and SIGHUP are noted, never acted on mid-step.

A signal's default action kills a process wherever it is: between writing the ``running``
state and starting the handler, or between the final state and releasing the job lock, and
a ``running`` state then outlives the run.  Python cannot install a handler before the
interpreter starts, so ``aios-run``'s console script installs this one first thing, before
it imports anything else; from then on a stop signal only sets a note, and the runner
reads the note at fixed points:

* before it takes the job lock, and once it holds it but has recorded nothing: the run
  ends there (exit 143, or 130 for SIGINT), nothing recorded, the lock released;
* from the moment ``running`` is written: the handler's tree is stopped and the run ends
  ``failed`` (``terminated`` / ``interrupted``) with a final state and exit 143 / 130;
* once the outcome is decided: a stop no longer changes it, and the exit status is the
  recorded one; at exit the signals are blocked, so the interpreter's teardown (which
  restores the default actions) cannot die by one.

Around ``fork`` the signals are blocked, so the handler process sets the default action
before any can reach it (it has nothing to finish: a stop kills it at once).
"""

from __future__ import annotations

import enum
import signal

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType
    from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_noted: list[int] = []


class StopReason(enum.StrEnum):
    """Why a run was stopped before its handler finished: the reason its state records."""

    INTERRUPTED = "interrupted"  # SIGINT
    TERMINATED = "terminated"  # SIGTERM or SIGHUP
    TIMEOUT = "timeout"  # the job's own timeout, which the runner enforces


def _note(signum: int, _frame: FrameType | None) -> None:
    _noted.append(signum)


def install() -> dict[signal.Signals, Any] | None:
    """Note stop signals from now on.  Returns the handlers this replaced, for
    :func:`restore`; ``None`` when they are noted already (or this is not the main thread,
    where Python cannot set a handler)."""
    if signal.getsignal(signal.SIGTERM) is _note:
        return None
    try:
        replaced = {sig: signal.signal(sig, _note) for sig in STOP_SIGNALS}
    except ValueError:
        return None
    _noted.clear()
    return replaced


def restore(replaced: dict[signal.Signals, Any] | None) -> None:
    if replaced is not None:
        for sig, handler in replaced.items():
            signal.signal(sig, handler)
        _noted.clear()  # an in-process caller's next run starts without this one's stop


def received() -> StopReason | None:
    """``INTERRUPTED`` (SIGINT) or ``TERMINATED`` (SIGTERM, SIGHUP) once one came."""
    if not _noted:
        return None
    return StopReason.INTERRUPTED if _noted[0] == signal.SIGINT else StopReason.TERMINATED


def block() -> set[int | signal.Signals]:
    """Hold stop signals back (pending) until :func:`unblock`; returns the mask to restore."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def unblock(mask: set[int | signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def default_actions() -> None:
    """For a forked process that must die of a stop signal (set while they are blocked)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
