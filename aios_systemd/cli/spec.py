"""One declarative table of every CLI's subcommands, options and arguments.

The table serves the paths that must stay close to the interpreter's own start-up time:
the argv fast path (a well-formed invocation runs without importing typer, which pulls in
pydantic) and shell completion (answered from the table and the registry's job ids).
Anything the fast path does not fully understand, ``--help`` and every error included,
goes to the typer app, which stays the reference; a test keeps the two in step.

This module imports nothing heavy, on purpose.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from ..record import Record


class Complete(enum.Enum):
    NOTHING = "nothing"
    JOBS = "jobs"
    DIRECTORIES = "directories"
    SHELLS = "shells"


class Option(Record):
    flag: str  # long form, e.g. "--project-root"
    dest: str  # the keyword the command function takes
    takes_value: bool = False
    complete: Complete = Complete.NOTHING
    help: str = ""


class Argument(Record):
    dest: str
    many: bool = False  # zero or more (or one or more when required)
    required: bool = True
    complete: Complete = Complete.JOBS
    help: str = ""


class Command(Record):
    name: str
    help: str
    options: tuple[Option, ...] = ()
    arguments: tuple[Argument, ...] = ()
    subcommands: tuple[Command, ...] = ()

    def sub(self, name: str) -> Command | None:
        return next((c for c in self.subcommands if c.name == name), None)


PROJECT_ROOT = Option(
    "--project-root",
    "project_root",
    True,
    Complete.DIRECTORIES,
    "The AI OS checkout (default: $AIOS_PROJECT_ROOT or the current directory).",
)
JSON = Option("--json", "json_", help="Print JSON.")
DRY_RUN = Option("--dry-run", "dry_run", help="Show what would happen; change nothing.")
FORCE = Option("--force", "force", help="Replace or remove hand-edited units (a backup is kept).")
WORKING_DIRECTORY = Option(
    "--working-directory",
    "working_directory",
    True,
    Complete.DIRECTORIES,
    "WorkingDirectory= of the service (default: the project root).",
)
JOBS_OPTIONAL = Argument("jobs", many=True, required=False, help="Reviewed job ids.")
JOBS_REQUIRED = Argument("jobs", many=True, required=True, help="Reviewed job ids.")

COMMANDS: Mapping[str, Command] = MappingProxyType(
    {
        "aios-run": Command(
            "aios-run",
            "Run one reviewed scheduler job.",
            options=(PROJECT_ROOT, JSON),
            arguments=(Argument("job", help="A reviewed job id."),),
        ),
        "aios-status": Command(
            "aios-status",
            "Show what each reviewed job is doing.",
            options=(
                Option("--job", "job", True, Complete.JOBS, "Only this job (a reviewed job id)."),
                JSON,
                PROJECT_ROOT,
                Option("--no-timers", "no_timers", help="Do not ask the user manager for timer facts."),
            ),
        ),
        "aios-units": Command(
            "aios-units",
            "Render, inspect, install and remove the systemd user timers of the reviewed jobs.",
            subcommands=(
                Command(
                    "render",
                    "Render units; needs no user bus.",
                    options=(
                        DRY_RUN,
                        Option(
                            "--output",
                            "output",
                            True,
                            Complete.DIRECTORIES,
                            "Write the unit files into this directory.",
                        ),
                        WORKING_DIRECTORY,
                        PROJECT_ROOT,
                    ),
                    arguments=(JOBS_OPTIONAL,),
                ),
                Command(
                    "diff",
                    "Compare rendered, installed and loaded units.",
                    options=(JSON, WORKING_DIRECTORY, PROJECT_ROOT),
                    arguments=(JOBS_OPTIONAL,),
                ),
                Command(
                    "install",
                    "Write, reload, enable and start the timers.",
                    options=(DRY_RUN, WORKING_DIRECTORY, FORCE, JSON, PROJECT_ROOT),
                    arguments=(JOBS_REQUIRED,),
                ),
                Command(
                    "uninstall",
                    "Stop and disable the timers, remove our units.",
                    options=(DRY_RUN, FORCE, JSON, PROJECT_ROOT),
                    arguments=(JOBS_REQUIRED,),
                ),
                Command("doctor", "Check everything the timers need.", options=(JSON, PROJECT_ROOT)),
                Command(
                    "completion",
                    "Print or install shell completion for every aios-* command.",
                    options=(Option("--install", "install", help="Write the script where the shell finds it."),),
                    arguments=(Argument("shell", complete=Complete.SHELLS, help="bash, zsh or fish."),),
                ),
            ),
        ),
        "aios-aggregate": Command(
            "aios-aggregate",
            "Refresh the generated data directly (no scheduler state, no job lock).",
            options=(
                Option("--scope", "scope", True, Complete.NOTHING, "full or host-local."),
                PROJECT_ROOT,
                JSON,
            ),
        ),
        "aios-check-private": Command(
            "aios-check-private",
            "Prove from git metadata that private artifacts are neither tracked nor unignored.",
            options=(PROJECT_ROOT, JSON),
        ),
    }
)

SHELLS = ("bash", "zsh", "fish")
# Tokens the fast path never handles: typer renders help, versions and errors.
_DEFER = frozenset({"-h", "--help", "--version", "--show-completion", "--install-completion"})


class Parsed(Record):
    path: tuple[str, ...]  # subcommand names below the program, e.g. ("diff",)
    values: Mapping[str, object]


def parse(command: Command, argv: Sequence[str]) -> Parsed | None:
    """Parse a well-formed invocation, or return ``None`` to let typer handle it."""
    path: list[str] = []
    args = list(argv)
    while command.subcommands:
        if not args or args[0].startswith("-"):
            return None
        sub = command.sub(args.pop(0))
        if sub is None:
            return None
        path.append(sub.name)
        command = sub
    values: dict[str, object] = {o.dest: (None if o.takes_value else False) for o in command.options}
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
        if word in _DEFER:
            return None
        flag, eq, inline = word.partition("=")
        opt = by_flag.get(flag)
        if opt is None:
            return None
        if opt.takes_value:
            if eq:
                value = inline
            elif args:
                value = args.pop(0)
            else:
                return None
            if values[opt.dest] is not None:
                return None  # given twice: let typer decide
            values[opt.dest] = value
        elif eq:
            return None
        else:
            values[opt.dest] = True
    for arg in command.arguments:
        if arg.many:
            if arg.required and not positionals:
                return None
            values[arg.dest] = list(positionals) or None
            positionals = []
        else:
            if not positionals:
                if arg.required:
                    return None
                values[arg.dest] = None
                continue
            values[arg.dest] = positionals.pop(0)
    if positionals:
        return None
    return Parsed(tuple(path), MappingProxyType(values))


def complete(command: Command, words: Sequence[str], job_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Candidates ``(value, description)`` for the last word of ``words`` (the words after
    the program name; the last one is the word being completed, possibly empty)."""
    *before, current = list(words) or [""]
    index = 0
    while command.subcommands and index < len(before):
        sub = command.sub(before[index])
        if sub is None:
            return []
        command = sub
        index += 1
    rest = before[index:]
    if command.subcommands and not rest:
        return [(c.name, c.help) for c in command.subcommands if c.name.startswith(current)]
    by_flag = {o.flag: o for o in command.options}
    if rest and rest[-1] in by_flag and by_flag[rest[-1]].takes_value:
        return _values(by_flag[rest[-1]].complete, current, job_ids)
    if current.startswith("-"):
        used = set(rest)
        return [(o.flag, o.help) for o in command.options if o.flag.startswith(current) and o.flag not in used]
    positional_count = 0
    skip = False
    for word in rest:
        if skip:
            skip = False
        elif word in by_flag:
            skip = by_flag[word].takes_value
        elif not word.startswith("-"):
            positional_count += 1
    for i, arg in enumerate(command.arguments):
        if arg.many or i == positional_count:
            return _values(arg.complete, current, job_ids, exclude=set(rest))
    return []


def _values(
    kind: Complete, current: str, job_ids: Sequence[str], exclude: set[str] | None = None
) -> list[tuple[str, str]]:
    if kind is Complete.JOBS:
        return [(j, "job") for j in job_ids if j.startswith(current) and j not in (exclude or set())]
    if kind is Complete.SHELLS:
        return [(s, "shell") for s in SHELLS if s.startswith(current)]
    if kind is Complete.DIRECTORIES:
        return [("<directory>", "")]
    return []
