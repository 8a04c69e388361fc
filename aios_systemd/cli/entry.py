"""Console-script entry points.

They answer the two calls that must cost about one bare interpreter start, a shell's
completion request and ``--version``, before importing a command module at all; every
other call goes to that command's ``main``.
"""

from __future__ import annotations

import sys
from importlib import import_module

MODULES = {
    "aios-run": "run",
    "aios-status": "status",
    "aios-units": "units",
    "aios-aggregate": "aggregate",
    "aios-check-private": "check_private",
}


def _start(prog: str) -> None:
    from .common import answer_early

    early = answer_early(prog, sys.argv[1:])
    if early is not None:
        sys.exit(early)
    main = import_module(f"{__package__}.{MODULES[prog]}").main
    code = main(None)
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
    from ..runner import stops

    stops.install()
    try:
        _start("aios-run")
    finally:
        # The outcome is recorded: no stop may now change the exit status (the teardown
        # restores the default actions); a blocked one dies with the process.
        stops.block()


def aios_status() -> None:
    _start("aios-status")


def aios_units() -> None:
    _start("aios-units")


def aios_aggregate() -> None:
    _start("aios-aggregate")


def aios_check_private() -> None:
    _start("aios-check-private")
