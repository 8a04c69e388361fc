"""What every CLI shares: the one place that maps exceptions to exit codes, ``error:``
plus ``hint:`` on stderr, the JSON printer, and :func:`dispatch`, which sends an argv to
shell completion, to the fast path, or to typer, all three read from the CLI table."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from .. import __version__
from .._typing import TYPE_CHECKING
from ..errors import AiosError, ExitCode

if TYPE_CHECKING:
    from typing import TextIO

    from .fastpath import Parsed
    from .spec import Command

    # Finds the function a command runs: the table's own (load_handler) or a test's.
    Resolver = Callable[[Command], Callable[..., int | None]]

COMPLETE_ENV = "AIOS_COMPLETE"
# sd-daemon(3) priority prefixes: journald turns them into the entry's PRIORITY.
ERR, WARNING, NOTICE, INFO = "<3>", "<4>", "<5>", "<6>"


def is_journal(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Whether ``stream`` is the journal stream systemd connected, as systemd's own logging
    decides it: ``JOURNAL_STREAM`` names that stream's ``device:inode``, and only a match
    counts.  A shell started by a terminal that runs as a systemd service (GNOME Terminal)
    inherits the variable while its output is a terminal, not the journal."""
    dev, sep, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not sep or not all(s.isascii() and s.isdigit() and len(s) <= 20 for s in (dev, ino)):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or not backed by a descriptor
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def print_error(message: str, hint: str | None, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    prefix = ERR if is_journal(out, os.environ) else ""  # the journal files the refusal as an error
    print(f"{prefix}error: {message}", file=out)
    if hint:
        print(f"{prefix}hint: {hint}", file=out)


def print_json(document: object, stream: TextIO | None = None) -> None:
    json.dump(document, stream or sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    (stream or sys.stdout).write("\n")


def guard(body: Callable[[], int | None], refused: Callable[[str], int] | None = None) -> int:
    """Run a command body; the single map from exceptions to exit codes.  ``refused``, when
    given, answers every refusal instead (a monitoring plugin's UNKNOWN: see
    :func:`as_plugin`), after the usual ``error:`` and ``hint:``."""
    try:
        result = body()
    except AiosError as exc:
        print_error(exc.message, exc.hint)
        return refused(exc.message) if refused else int(exc.exit_code)
    except KeyboardInterrupt:
        print_error("interrupted", None)
        return refused("interrupted") if refused else int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (``aios-status | head``): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as exc:  # a traceback could carry secrets or private paths: never print one
        message = f"internal error ({type(exc).__name__})"
        print_error(message, "this is a bug; rerun with AIOS_DEBUG=1 to see the traceback")
        if os.environ.get("AIOS_DEBUG") == "1":
            raise
        return refused(message) if refused else int(ExitCode.FAILED)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


def _plugin_unknown(message: str) -> int:
    from ..status.check import unknown
    from ..status.model import Level

    print(unknown(message))
    return int(Level.UNKNOWN)


def as_plugin(program: Command, args: Sequence[str], parsed: Parsed | None, resolve: Resolver) -> int:
    """Run a command line that asks for a monitoring-plugin check (an option of the table
    marked ``plugin``).  The guidelines want UNKNOWN (exit 3) for bogus arguments and for
    failures of the plugin itself, and exit 1 and 2 mean WARNING and CRITICAL there: so
    every refusal, the command line's included, prints an UNKNOWN line and exits 3."""
    from .spec import converted

    if parsed is not None:
        command, values = parsed.command, parsed.values
    else:
        # Typer words the refusal (or prints the help), but runs nothing: what it read is
        # run here, under the plugin's own map.
        import contextlib
        import io

        from .typer_app import run

        read: list[tuple[Command, Mapping[str, object]]] = []

        def record(command: Command) -> Callable[..., int]:
            def handler(**values: object) -> int:
                read.append((command, values))
                return 0

            return handler

        words = io.StringIO()
        with contextlib.redirect_stderr(words):
            code = run(program, args, record)
        sys.stderr.write(words.getvalue())
        if not read:
            if code == ExitCode.OK:
                return code  # --help
            first = (words.getvalue().splitlines() or ["error: invalid command line"])[0]
            return _plugin_unknown(first.removeprefix("error: "))
        command, values = read[0]
        return guard(lambda: resolve(command)(**values), _plugin_unknown)
    return guard(lambda: resolve(command)(**converted(command, values)), _plugin_unknown)


def answer_early(prog: str, args: Sequence[str]) -> int | None:
    """Answer a shell's completion request or ``--version`` from the CLI table alone (no
    command module, no typer); ``None`` when the call is neither."""
    shell = os.environ.get(COMPLETE_ENV)
    if shell:
        from .completion import answer
        from .spec import COMMANDS

        return answer(COMMANDS[prog], shell, args)
    from .spec import VERSION_FLAG

    if list(args) == [VERSION_FLAG]:
        print(f"{prog} {__version__}")
        return int(ExitCode.OK)
    return None


def load_handler(command: Command) -> Callable[..., int | None]:
    """The function a table entry names (``module:function``), imported now: only the
    command that runs is loaded."""
    from importlib import import_module

    module, _, name = command.handler.partition(":")
    handler: Callable[..., int | None] = getattr(import_module(f"{__package__}.{module}"), name)
    return handler


def dispatch(prog: str, argv: Sequence[str] | None, resolve: Resolver = load_handler) -> int:
    """``main(argv) -> int`` for every CLI, from its entry in the table: completion and
    ``--version``, the fast path for a well-formed invocation, and typer for everything
    else (help and errors included).  ``resolve`` finds a command's handler (tests run
    ``aios-run`` with their own registry through it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    early = answer_early(prog, args)
    if early is not None:
        return early
    from .fastpath import parse
    from .spec import COMMANDS, converted

    program = COMMANDS[prog]
    parsed = parse(program, args)
    if any(o.plugin and o.flag in args for o in program.options):
        return as_plugin(program, args, parsed, resolve)
    if parsed is not None:
        return guard(lambda: resolve(parsed.command)(**converted(parsed.command, parsed.values)))
    from .typer_app import run

    return run(program, args, resolve)
