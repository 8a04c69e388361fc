"""Typer, the renderer of the CLI table: ``--help``, usage errors and every command line
the fast path leaves alone.

Each typer command is generated from its entry in :mod:`.spec`: the function typer reads
has a signature built with :mod:`inspect` from the entry's arguments and options
(``typer.Argument``/``typer.Option`` carrying the table's help, default and metavar), and
calls the entry's handler with the words typer parsed converted by :func:`.spec.converted`,
as the fast path converts them: the same values and the same refusals from either.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .._typing import TYPE_CHECKING
from ..errors import ExitCode
from .common import guard, print_error
from .spec import HELP_FLAGS, Argument, Command, Kind, Option, converted, exit_status, fill

if TYPE_CHECKING:
    from typing import Any

    import typer

    from .common import Resolver


def build(program: Command, resolve: Resolver) -> typer.Typer:
    """The typer app of ``program`` (a group when it has subcommands)."""
    import typer
    from typer.core import TyperCommand, TyperGroup

    # typer's help option is a flag like ours: shown without a value's "<bool>" (see _option).
    class Group(TyperGroup):
        def get_help_option(self, ctx: Any) -> Any:
            return _without_metavar(super().get_help_option(ctx))

    class Leaf(TyperCommand):
        def get_help_option(self, ctx: Any) -> Any:
            return _without_metavar(super().get_help_option(ctx))

    app = typer.Typer(
        cls=Group,
        add_completion=False,
        help=_shown(program.help),
        epilog=exit_status(program),
        context_settings={"help_option_names": list(HELP_FLAGS)},
    )
    for command in program.subcommands or (program,):
        app.command(command.name, cls=Leaf, help=_shown(command.help), epilog=exit_status(command))(
            _callback(command, resolve)
        )
    return app


def _shown(text: str) -> str:
    """A command's help from the table as typer should show it.  Typer keeps every line
    break after the first paragraph, so a prose paragraph becomes one line (rich wraps it
    at the terminal's width), and an example whose aligned comment would wrap gets the
    comment closer, or on the line above."""
    import shutil

    width = shutil.get_terminal_size().columns - 4  # the panel's border and padding
    shown = []
    for paragraph in fill(text).split("\n\n"):
        lines = paragraph.split("\n")
        if not paragraph.startswith(" "):
            shown.append(" ".join(line.strip() for line in lines))
            continue
        for i, line in enumerate(lines):
            command, sep, comment = line.partition("  #")
            if not sep or len(line) <= width:
                continue
            command = command.rstrip()
            compact = f"{command}  #{comment}"
            indent = command[: len(command) - len(command.lstrip())]
            lines[i] = compact if len(compact) <= width else f"{indent}#{comment}\n{command}"
        shown.append("\n".join(lines))
    return "\n\n".join(shown)


def _without_metavar(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


def _callback(command: Command, resolve: Resolver) -> Callable[..., int | None]:
    import inspect

    params = [_argument(a) for a in command.arguments] + [_option(o) for o in command.options]

    def callback(**values: object) -> int | None:
        return resolve(command)(**converted(command, values))

    # typer reads the parameters from the signature; these annotations are real types.
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {}
    return callback


def _option(option: Option) -> Any:
    import inspect

    import typer

    # typer reads words and converted() types them; choices are shown as typer shows an enum's.
    annotation: Any = bool if option.kind is Kind.FLAG else str | None
    metavar = option.metavar
    if metavar is None and option.choices is not None:
        metavar = "<" + "|".join(option.choices) + ">"
    if option.kind is Kind.FLAG:
        metavar = ""  # a flag takes no value: typer would show its type, "<bool>", as one
    info = typer.Option(option.initial, option.flag, help=fill(option.help), metavar=metavar)
    return inspect.Parameter(option.dest, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _argument(argument: Argument) -> Any:
    import inspect

    import typer

    annotation: Any = list[str] if argument.many else str
    if not argument.required:
        annotation = annotation | None
    info = typer.Argument(
        ... if argument.required else None,
        metavar=argument.name,  # typer adds the brackets and dots of Argument.usage itself
        help=fill(argument.help),
        show_default=False,
    )
    return inspect.Parameter(argument.dest, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def run(program: Command, argv: Sequence[str] | None, resolve: Resolver) -> int:
    """Run ``program``'s typer app on ``argv`` (help, errors, anything the fast path left
    alone) under the one exception-to-exit-code map."""
    import typer
    import typer.main

    command = typer.main.get_command(build(program, resolve))
    args = sys.argv[1:] if argv is None else list(argv)
    # A group given no command prints its help and exits as a usage error does (typer's
    # no_args_is_help would add an empty "error:" line).
    no_command = bool(program.subcommands) and not args
    if no_command:
        args = [HELP_FLAGS[-1]]

    def body() -> int:
        try:
            result: Any = command.main(args=args, prog_name=program.name, standalone_mode=False)
        except typer.Exit as exc:
            return int(exc.exit_code)
        except typer.Abort:
            print_error("interrupted", None)
            return int(ExitCode.INTERRUPTED)
        except typer.TyperException as exc:
            # The help of the command that refused the words: "aios-units diff", not the group.
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else program.name
            print_error(exc.format_message(), f"run '{where} --help' for usage")
            return int(ExitCode.USAGE)
        return result if isinstance(result, int) else int(ExitCode.OK)

    code = guard(body)
    return int(ExitCode.USAGE) if no_command and code == ExitCode.OK else code
