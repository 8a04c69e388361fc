"""What every CLI shares: the one place that maps exceptions to exit codes and prints
refusals as ``error:`` plus ``hint:`` on stderr, and the JSON printer."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import AiosError, ExitCode

if TYPE_CHECKING:
    import typer


def print_error(message: str, hint: str | None, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    # Under systemd the journal reads a priority prefix; "<3>" files the refusal as an error.
    prefix = "<3>" if os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM") else ""
    print(f"{prefix}error: {message}", file=out)
    if hint:
        print(f"{prefix}hint: {hint}", file=out)


def print_json(document: object, stream: TextIO | None = None) -> None:
    json.dump(document, stream or sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    (stream or sys.stdout).write("\n")


def run_app(app: typer.Typer, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run a typer app as ``main(argv) -> int``; the single exception-to-exit-code map."""
    import typer
    import typer.main

    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result: Any = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except AiosError as exc:
        print_error(exc.message, exc.hint)
        return int(exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        print_error("interrupted", None)
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:
        print_error(getattr(exc, "format_message", exc.__str__)(), f"run '{prog_name} --help' for usage")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        print_error("interrupted", None)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        print_error(
            f"internal error ({type(exc).__name__})",
            "this is a bug; rerun with AIOS_DEBUG=1 to see the traceback locally",
        )
        if os.environ.get("AIOS_DEBUG") == "1":
            raise
        return int(ExitCode.FAILED)
    if isinstance(result, int):
        return result
    return int(ExitCode.OK)


def entry_point(main: Callable[[Sequence[str] | None], int]) -> Callable[[], None]:
    def entry() -> None:
        sys.exit(main(None))

    return entry
