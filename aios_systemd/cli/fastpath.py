"""The typer-free parser for a well-formed command line, read from the CLI table.

It accepts only what it fully understands and returns ``None`` for anything else (help,
an unknown option, a value option given twice, a missing value), which then goes to
typer: one place words every syntax error, and a well-formed call never pays typer's
import.  Values come back as typed; :func:`.spec.converted` makes them what the handler
takes, for the fast path and typer alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from ..record import Record
from .spec import Command


class Parsed(Record):
    command: Command  # the command that runs (a subcommand for a group)
    values: Mapping[str, object]  # every option and argument as typed, by dest


def parse(command: Command, argv: Sequence[str]) -> Parsed | None:
    """Parse a well-formed invocation, or return ``None`` to let typer handle it."""
    args = list(argv)
    while command.subcommands:
        if not args or args[0].startswith("-"):
            return None
        sub = command.sub(args.pop(0))
        if sub is None:
            return None
        command = sub
    values: dict[str, object] = {o.dest: o.initial for o in command.options}
    given: set[str] = set()
    positionals: list[str] = []
    by_flag = {o.flag: o for o in command.options}
    only_positionals = False
    while args:
        word = args.pop(0)
        if only_positionals or not word.startswith("-") or word == "-":
            positionals.append(word)
            continue
        if word == "--":
            only_positionals = True
            continue
        flag, eq, inline = word.partition("=")
        opt = by_flag.get(flag)  # -h, --help and anything unknown: typer's
        if opt is None:
            return None
        if not opt.takes_value:
            if eq:
                return None
            values[opt.dest] = True
            continue
        if opt.dest in given:
            return None  # a value given twice: let typer decide
        given.add(opt.dest)
        if eq:
            values[opt.dest] = inline
        elif args:
            values[opt.dest] = args.pop(0)
        else:
            return None
    for arg in command.arguments:
        if arg.many:
            if arg.required and not positionals:
                return None
            values[arg.dest] = list(positionals) or None
            positionals = []
        elif positionals:
            values[arg.dest] = positionals.pop(0)
        elif arg.required:
            return None
        else:
            values[arg.dest] = None
    if positionals:
        return None
    return Parsed(command, MappingProxyType(values))
