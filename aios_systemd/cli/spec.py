"""The one definition of every ``aios-*`` command: subcommands, options and arguments
with their help (examples included), types, defaults, choices, metavars and completion,
and the handler each command runs.

Everything else is derived from this table, as mkosi derives its argparse parser and its
completion from ``SETTINGS``: the typer-free fast path for a well-formed command line
(:mod:`.fastpath`), shell completion (:mod:`.completion`), ``--help`` and usage errors
(:mod:`.typer_app` builds each typer command from its entry here), the man pages
(:mod:`.manpages`) and the console scripts (:mod:`.entry`; a test holds pyproject's
``[project.scripts]`` to the table).  A handler receives every value already converted to
its declared type, whichever parser read the command line.

Handlers are named (``module:function`` under this package), not imported, and loaded
only when their command runs, as click's lazily loaded commands are.  The module imports
nothing heavy, on purpose: completion and the fast path read it on every call, and
importing typer with its click costs several interpreter starts (``--help`` and errors
pay that; a well-formed call and a Tab never do).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ExitCode
from ..record import Record

HELP_FLAGS = ("-h", "--help")
HELP_TEXT = "Show this message and exit."  # typer's own words for its help option
VERSION_FLAG = "--version"  # the program's, answered before anything loads (common.answer_early)
VERSION_TEXT = "Print the version and exit."


class Kind(enum.Enum):
    """The type a value is declared as; handlers receive it converted."""

    FLAG = "flag"  # bool: present or not, takes no value
    TEXT = "text"  # str (an enum member when the option has choices)
    DIRECTORY = "directory"  # pathlib.Path, never empty
    COUNT = "count"  # int, 0 or more


class Complete(enum.Enum):
    """What a Tab offers for a value beyond its type (a directory, a choice)."""

    NOTHING = "nothing"
    JOBS = "jobs"
    SHELLS = "shells"


class Scope(enum.StrEnum):
    """``aios-aggregate --scope``: which orchestration it runs."""

    FULL = "full"
    HOST_LOCAL = "host-local"


class Option(Record):
    flag: str  # long form, e.g. "--project-root" (a short one only where a name is fixed: "-n")
    dest: str  # the keyword the handler takes
    help: str
    kind: Kind = Kind.FLAG
    default: object = None  # a FLAG's is False
    choices: type[enum.StrEnum] | None = None  # the value is one of its members
    metavar: str | None = None  # shown for the value in --help and man pages
    complete: Complete = Complete.NOTHING
    # The flag makes its command a monitoring-plugin check: every refusal, from the
    # command line on, is UNKNOWN (exit 3), as the Monitoring Plugins guidelines ask.
    plugin: bool = False

    @property
    def takes_value(self) -> bool:
        return self.kind is not Kind.FLAG

    @property
    def initial(self) -> object:
        """The value the handler gets when the option is not given."""
        return False if self.kind is Kind.FLAG else self.default


class Argument(Record):
    dest: str
    help: str
    many: bool = False  # zero or more (one or more when required)
    required: bool = True
    metavar: str | None = None  # the value's name (default: dest upper-cased), undecorated
    complete: Complete = Complete.JOBS

    @property
    def name(self) -> str:
        return self.metavar or self.dest.upper()

    @property
    def usage(self) -> str:
        """As a synopsis shows it: ``JOB``, ``[JOB]``, ``JOB...`` or ``[JOB]...``."""
        name = self.name if self.required else f"[{self.name}]"
        return name + "..." if self.many else name


class Command(Record):
    name: str
    summary: str  # one line: completion's description and the man page's NAME
    help: str = ""  # the full text, examples included: --help and the man page
    handler: str = ""  # "module:function" under aios_systemd.cli; a group has none
    options: tuple[Option, ...] = ()
    arguments: tuple[Argument, ...] = ()
    subcommands: tuple[Command, ...] = ()
    # What each exit status means for this command (errors.ExitCode names the codes):
    # --help's "Exit status" epilog and the man page's EXIT STATUS.
    exits: tuple[tuple[ExitCode, str], ...] = ()

    def sub(self, name: str) -> Command | None:
        return next((c for c in self.subcommands if c.name == name), None)


def convert(option: Option, value: object) -> object:
    """``value`` (a word of the command line, or what typer made of it) as the option's
    declared type; ``None`` stays ``None`` (not given).  The fast path and typer both
    call it, so a handler gets the same value, and a refusal the same words, from either."""
    if value is None or option.kind is Kind.FLAG:
        return value
    if option.choices is not None:
        try:
            return option.choices(str(value))
        except ValueError:
            from ..errors import UsageError

            raise UsageError(
                f"unknown {option.flag} value", "use " + " or ".join(f"{option.flag} {c}" for c in option.choices)
            ) from None
    if option.kind is Kind.COUNT:
        text = str(value)
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            from ..errors import UsageError

            raise UsageError(f"{option.flag} needs a whole number", f"pass {option.flag} {option.metavar or 'N'}")
        return int(text)
    if option.kind is Kind.DIRECTORY:
        if value == "":
            # Path("") is ".": an unset variable ("--output $DIR") must not mean the cwd.
            from ..errors import UsageError

            raise UsageError(f"{option.flag} needs a directory", f"pass {option.flag} {option.metavar or 'DIR'}")
        from pathlib import Path

        return value if isinstance(value, Path) else Path(str(value))
    return value


def converted(command: Command, values: Mapping[str, object]) -> dict[str, object]:
    """Every value of a parsed ``command`` as its declared type, by dest."""
    options = {o.dest: o for o in command.options}
    return {k: convert(options[k], v) if k in options else v for k, v in values.items()}


def exit_status(command: Command) -> str:
    """``command``'s exit statuses, a line each: the epilog of its ``--help``."""
    return "\n".join(["Exit status:", *(f"{int(code):>3}  {meaning}" for code, meaning in command.exits)])


def fill(text: str) -> str:
    """Help text as shown: ``{jobs}`` names the reviewed job ids (the registry's, never a
    copy of them)."""
    if "{jobs}" not in text:
        return text
    from ..registry import REGISTRY

    return text.replace("{jobs}", ", ".join(REGISTRY.ids()))


# -- the options several commands share ------------------------------------------------
PROJECT_ROOT = Option(
    "--project-root",
    "project_root",
    "The AI OS checkout (default: $AIOS_PROJECT_ROOT or the current directory).",
    Kind.DIRECTORY,
    metavar="DIR",
)
JSON = Option("--json", "json_", "Print JSON.")
DRY_RUN = Option("--dry-run", "dry_run", "Show what would happen; change nothing.")
FORCE = Option("--force", "force", "Replace or remove hand-edited units (a backup is kept).")
JOBS_OPTIONAL = Argument("jobs", "Reviewed job ids.", many=True, required=False, metavar="JOB")
JOBS_REQUIRED = Argument("jobs", "Reviewed job ids.", many=True, required=True, metavar="JOB")
USAGE = (ExitCode.USAGE, "usage: a wrong option or value, an unknown job, an unsafe path")
USAGE_OR_BUS = (ExitCode.USAGE, "usage, or the user manager cannot be reached")

# -- the commands ------------------------------------------------------------------------
RUN = Command(
    "aios-run",
    "Run one reviewed scheduler job.",
    """Run one reviewed scheduler job: registry check, non-overlap lock, timeout on the
whole process tree, sanitized latest-run state and a private log.

Examples:

  aios-run agent-aggregate

  aios-run trend-finder --project-root ~/src/ai-os --json

A timer's service runs it the same way (aios-units install); a run by hand is recorded,
locked and timed out as a timer's run is.
""",
    "run:run_command",
    options=(PROJECT_ROOT, JSON._replace(help="Print the final run record as JSON.")),
    arguments=(Argument("job", "A reviewed job id: {jobs}."),),
    exits=(
        (ExitCode.OK, "success, warning-only, degraded, skipped or stale-lock"),
        (ExitCode.FAILED, "failed: the handler failed, or its write was refused"),
        (ExitCode.USAGE, "usage: an unknown or unavailable job, no handler, an unsafe path"),
        (ExitCode.BLOCKED, "blocked: a live run holds the job lock"),
        (ExitCode.TIMEOUT, "timeout: the job ran past its timeout"),
        (ExitCode.INTERRUPTED, "stopped by SIGINT"),
        (ExitCode.TERMINATED, "stopped by SIGTERM or SIGHUP"),
    ),
)

STATUS = Command(
    "aios-status",
    "Show what each reviewed job is doing.",
    """Show each reviewed job's cadence, timer intent, the real timer as the user
manager has it, the latest run, data freshness and next steps: first one line per job
(a ! marks a job that needs action), then each job in detail.

Examples:

  aios-status

  aios-status --brief                          # only the one-line-per-job table

  aios-status --job agent-aggregate --json

  aios-status --check                          # a monitoring-plugin check (Nagios, Icinga...)

  aios-status --metrics                        # Prometheus text format, as AIOS_METRICS_FILE holds

With --check it is a monitoring-plugin check: one status line with performance data,
then a line per job, and the exit status a monitoring system reads.

Never prints raw logs, command output, environment values, credentials or private paths.
""",
    "status:status_command",
    options=(
        Option("--job", "job", "Only this job (a reviewed job id).", Kind.TEXT, complete=Complete.JOBS),
        JSON._replace(help="Print JSON with stable camelCase keys."),
        Option("--brief", "brief", "Print only the one-line-per-job table."),
        Option(
            "--check",
            "check",
            "Check as a monitoring plugin (Nagios, Icinga, Checkmk, Zabbix...): exit 0 to 3.",
            plugin=True,
        ),
        Option(
            "--metrics",
            "metrics",
            "Print the metrics AIOS_METRICS_FILE holds (Prometheus text format, node_exporter's textfile collector).",
        ),
        PROJECT_ROOT,
        Option("--no-timers", "no_timers", "Do not ask the user manager for timer facts."),
    ),
    exits=(
        (ExitCode.OK, "the report was printed; with --check: OK"),
        (ExitCode.FAILED, "an internal error; with --check: WARNING"),
        (ExitCode.USAGE, "usage: a wrong option or value, an unknown job; with --check: CRITICAL"),
        (ExitCode.UNKNOWN, "with --check: UNKNOWN, its usage and internal errors included"),
    ),
)

UNITS = Command(
    "aios-units",
    "Render, inspect, install and remove the systemd user timers of the reviewed jobs.",
    """Render, inspect, install and remove the systemd user timers of the reviewed jobs.

Examples:

  aios-units render --dry-run                  # the units and next elapse times; no bus needed

  aios-units diff                              # rendered vs installed vs loaded; exit 1 on drift

  aios-units diff agent-aggregate --json

  aios-units install agent-aggregate --dry-run

  aios-units install agent-aggregate

  aios-units uninstall agent-aggregate

  aios-units doctor

  aios-units logs agent-aggregate --follow

Each command's own help says more: aios-units COMMAND --help.
""",
    exits=((ExitCode.USAGE, "no command, or an unknown one; otherwise the command's own"),),
    subcommands=(
        Command(
            "render",
            "Render units; needs no user bus.",
            """Render units (with no JOB: the jobs whose timer intent is on). Needs no user bus.

Examples:

  aios-units render --dry-run

  aios-units render dream --output ~/review-units

Prints each unit and its timer's next three elapse times, or writes them to --output
(refused inside a git work tree unless git ignores it).
""",
            "units:render",
            exits=((ExitCode.OK, "rendered"), (ExitCode.FAILED, "the units could not be written"), USAGE),
            options=(
                DRY_RUN,
                Option(
                    "--output",
                    "output",
                    "Write the unit files into this directory.",
                    Kind.DIRECTORY,
                    metavar="DIR",
                ),
                PROJECT_ROOT,
            ),
            arguments=(JOBS_OPTIONAL,),
        ),
        Command(
            "diff",
            "Compare rendered, installed and loaded units.",
            """Compare rendered, installed and loaded units.

Examples:

  aios-units diff

  aios-units diff agent-aggregate --json

With no JOB: every reviewed job (one whose timer intent is off only when something of it
is installed or loaded: an orphan) plus any other ai-os-* unit in the unit directory.  A
changed path is named by its role (<project root>, <another aios-run #1a2b>);
--show-paths prints it as it is.  Drift ends with a hint: what converges it.
""",
            "units:diff",
            exits=(
                (ExitCode.OK, "in sync"),
                (ExitCode.FAILED, "drift"),
                (ExitCode.USAGE, "trouble: usage, the user manager cannot be reached, a job's config entry is invalid"),
            ),
            options=(
                JSON,
                Option(
                    "--show-paths",
                    "show_paths",
                    "Print changed paths as they are, not by role (for your own terminal; secrets stay masked).",
                ),
                PROJECT_ROOT,
            ),
            arguments=(JOBS_OPTIONAL,),
        ),
        Command(
            "install",
            "Write, reload, enable and start the timers.",
            """Write the units, reload the manager, enable and start the timer (never the service).

Nothing changed means nothing written and no reload. Units not generated by
aios-systemd are never overwritten; hand-edited ones only with --force.

With --notify (or notify: true in the job's entry of the local config), the
job's service gets OnFailure=ai-os-notify@<service>.service: when it fails,
aios-notify reports it (a /fail ping, a desktop notification).

Examples:

  aios-units install agent-aggregate

  aios-units install agent-aggregate --notify
""",
            "units:install",
            exits=(
                (ExitCode.OK, "installed as wanted (or nothing to do)"),
                (ExitCode.FAILED, "refused or failed; nothing changed, or what changed was restored"),
                USAGE_OR_BUS,
            ),
            options=(
                DRY_RUN,
                FORCE,
                Option(
                    "--notify",
                    "notify",
                    "Turn on failure alerts for the jobs: write notify: true into their entries of the local "
                    "config, then install (OnFailure= and the ai-os-notify@.service unit).",
                ),
                JSON,
                PROJECT_ROOT,
            ),
            arguments=(JOBS_REQUIRED,),
        ),
        Command(
            "uninstall",
            "Stop and disable the timers, remove our units.",
            """Stop and disable the timer, remove our unmodified units, reload, reset failures.

Examples:

  aios-units uninstall dream --dry-run

  aios-units uninstall agent-aggregate trend-finder

Also removes the units of a job the registry no longer has, and works when the checkout
the units name is gone.
""",
            "units:uninstall",
            exits=(
                (ExitCode.OK, "removed (or nothing to do)"),
                (ExitCode.FAILED, "refused or failed; nothing changed, or what changed was restored"),
                USAGE_OR_BUS,
            ),
            options=(DRY_RUN, FORCE, JSON, PROJECT_ROOT),
            arguments=(JOBS_REQUIRED,),
        ),
        Command(
            "doctor",
            "Check everything the timers need.",
            """Check everything the timers need.

Examples:

  aios-units doctor

  aios-units doctor --json

Each check is ok, WARN or FAIL, with a hint; only a FAIL makes the exit status 1.
""",
            "units:doctor",
            exits=(
                (ExitCode.OK, "healthy (warnings allowed)"),
                (ExitCode.FAILED, "not healthy"),
                (ExitCode.USAGE, "usage: a wrong option or value"),
            ),
            options=(JSON, PROJECT_ROOT),
        ),
        Command(
            "logs",
            "Show a job's recent runs from the journal and its private run log.",
            """Show a job's latest runs (10, or -n N), newest last, each line with its run id: what
the run recorded in its private log (every run, by hand or by timer, with a handler's error and
the tail of its output) and, where there is a journal, what the user manager logged
about the job's service (a service that failed before aios-run, a stop). Everything is
redacted as aios-status is.

Examples:

  aios-units logs agent-aggregate

  aios-units logs agent-aggregate -n 3 --follow

  aios-units logs agent-aggregate --run 20261126T080000.123Z-ab12cd

Without a journal (no systemd-journald, as in containers) the private log alone answers.
""",
            "units:logs",
            options=(
                Option("--run", "run", "Only this run (its run id).", Kind.TEXT, metavar="RUN_ID"),
                Option("-n", "last", "How many of the latest runs to show.", Kind.COUNT, 10, metavar="N"),
                Option("--follow", "follow", "Keep printing new lines until Ctrl-C, which ends it quietly (exit 0)."),
                PROJECT_ROOT,
            ),
            arguments=(Argument("job", "A reviewed job id: {jobs}."),),
            exits=(
                (ExitCode.OK, "printed (also when there is no run yet); --follow ended by Ctrl-C"),
                (ExitCode.FAILED, "no run with that run id"),
                USAGE,
            ),
        ),
        Command(
            "completion",
            "Print or install shell completion for every aios-* command.",
            """Print shell completion for every aios-* command, or --install it where the shell loads it.

--install writes one file per command where bash-completion and fish look a command's
completion up by its name, and for zsh _aios into a directory it names for fpath.

Examples:

  aios-units completion bash --install

  aios-units completion zsh --install          # prints the fpath line for ~/.zshrc

  aios-units completion fish --install

  aios-units completion fish | source          # this fish session only
""",
            "units:completion",
            exits=(
                (ExitCode.OK, "printed or installed"),
                (ExitCode.FAILED, "the script could not be written"),
                (ExitCode.USAGE, "usage: an unknown shell"),
            ),
            options=(Option("--install", "install", "Write the script where the shell finds it."),),
            arguments=(Argument("shell", "bash, zsh or fish.", complete=Complete.SHELLS),),
        ),
    ),
)

AGGREGATE = Command(
    "aios-aggregate",
    "Refresh the generated data directly (no scheduler state, no job lock).",
    """Refresh the generated data now, without the scheduler: no run state, no job lock.

Writes src/data/live-data.json through the same gate and generated-data lock as the
scheduler jobs, and keeps a private diagnostic trace in logs/aggregate-<time>.jsonl and
logs/aggregate.latest.jsonl.

Examples:

  aios-aggregate

  aios-aggregate --scope host-local --project-root ~/src/ai-os --json
""",
    "aggregate:run",
    exits=(
        (ExitCode.OK, "written (possibly degraded)"),
        (ExitCode.FAILED, "not written"),
        USAGE,
        (ExitCode.BLOCKED, "the generated-data lock stayed busy"),
    ),
    options=(
        Option(
            "--scope",
            "scope",
            "full (host/local plus enabled extensions) or host-local.",
            Kind.TEXT,
            Scope.FULL,
            Scope,
        ),
        PROJECT_ROOT,
        JSON._replace(help="Print the outcome as JSON."),
    ),
)

CHECK_PRIVATE = Command(
    "aios-check-private",
    "Prove from git metadata that private artifacts are neither tracked nor unignored.",
    """Check, from git metadata only, that private artifacts are neither tracked nor
unignored: src/data/live-data.json and its write's temp files (.live-data.json.<pid>.tmp),
logs/*.jsonl, .env.local, data/ai-os.scheduler.json and generated ai-os-*.service /
ai-os-*.timer unit files.  Never reads the files.

Examples:

  aios-check-private

  aios-check-private --project-root ~/src/ai-os --json

For CI and a pre-commit hook: git's index and ignore rules decide, never a file's contents.
""",
    "check_private:run",
    exits=(
        (ExitCode.OK, "clean"),
        (ExitCode.FAILED, "a private artifact is tracked or not ignored (each is named with its fix)"),
        (ExitCode.USAGE, "not a git work tree, or git is missing"),
    ),
    options=(PROJECT_ROOT, JSON._replace(help="Print the findings as JSON.")),
)

NOTIFY = Command(
    "aios-notify",
    "Report a failed job service (what its OnFailure= unit runs).",
    """Report a failed job service: what ai-os-notify@.service runs when the
service of a job with notify on fails (see aios-units install --notify).

Reads why UNIT failed from the user manager.  Unless aios-run reported that
run itself (exit 1, 124, 130 or 143: its exit-status ping did), sends the
job's healthcheck a /fail ping (AIOS_PING_URL_<JOB>, from the environment or
the project's .env.local).  Shows a desktop notification when a notification
server answers on the session bus (none answering is no error).  Once per
failure (the service's invocation): run again for a failure it reported, it
sends nothing and says so.

Examples:

  aios-notify ai-os-agent-aggregate.service --project-root ~/src/ai-os

  aios-notify ai-os-agent-aggregate.service --json

Without --project-root or AIOS_PROJECT_ROOT, the project is the checkout the failed
service's installed unit pins (its .env.local holds the ping URL), not the current
directory.
""",
    "notify:notify_command",
    options=(PROJECT_ROOT, JSON._replace(help="Print what was reported as JSON.")),
    arguments=(
        Argument(
            "unit",
            "The failed job service, ai-os-<job>.service (the notify unit's instance).",
            metavar="UNIT",
            complete=Complete.NOTHING,  # a unit's name, not a job id
        ),
    ),
    exits=(
        (
            ExitCode.OK,
            "reported (a notification server or a ping URL missing is no error), already reported, "
            "or nothing to report",
        ),
        (ExitCode.FAILED, "the failure ping could not be sent (or the ping URL cannot be used)"),
        (ExitCode.USAGE, "usage: UNIT is no reviewed job's service, or the user manager cannot be reached"),
    ),
)

# The console scripts, by program name (pyproject's [project.scripts] must list the same).
COMMANDS: Mapping[str, Command] = MappingProxyType(
    {c.name: c for c in (RUN, STATUS, UNITS, AGGREGATE, CHECK_PRIVATE, NOTIFY)}
)
