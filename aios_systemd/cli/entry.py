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
    sys.exit(main(None))


def aios_run() -> None:
    _start("aios-run")


def aios_status() -> None:
    _start("aios-status")


def aios_units() -> None:
    _start("aios-units")


def aios_aggregate() -> None:
    _start("aios-aggregate")


def aios_check_private() -> None:
    _start("aios-check-private")
