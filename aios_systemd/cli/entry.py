"""Console-script entry points, one per program of the CLI table.

``aios_run`` is written out (it notes stop signals first); every other ``aios_<name>``
is made from the table on first access (``__getattr__``), so a program is listed once
there and once, for packaging, in pyproject's ``[project.scripts]``.  Dispatch answers
the two calls that must cost about one bare interpreter start, a shell's completion
request and ``--version``, before any command module is imported.
"""

from __future__ import annotations

import sys

from .._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def _start(prog: str) -> None:
    from .common import dispatch

    code = dispatch(prog, None)
    _leave_collected()
    sys.exit(code)


def _leave_collected() -> None:
    """Spare the interpreter's exit its full garbage collection.

    At exit CPython collects over every object the command created (each module, class
    and function of the stack it imported): on ``aios-status`` that walk costs about a
    tenth of the command.  Frozen objects (``gc.freeze``, the documented API for objects
    that live until the end) are skipped by it; nothing else about the exit changes:
    atexit handlers, flushes and finalizers of reachable objects run as before, and
    what the walk would have freed the kernel reclaims with the process."""
    import gc

    gc.freeze()


def aios_run() -> None:
    # First, before any import: from here a stop signal is noted, not a kill mid-step.
    from .. import stops

    stops.install()
    try:
        _start("aios-run")
    finally:
        # The outcome is recorded: no stop may now change the exit status (the teardown
        # restores the default actions); a blocked one dies with the process.
        stops.block()


def __getattr__(name: str) -> Callable[[], None]:
    """``aios_status`` → the console script of ``aios-status``, for each program of the
    table (``aios_run`` is the one above)."""
    from .spec import COMMANDS

    prog = name.replace("_", "-")
    if not name.startswith("aios_") or prog not in COMMANDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def script() -> None:
        _start(prog)

    script.__name__ = script.__qualname__ = name
    return script
