"""Man pages for every CLI, generated from the CLI table that ``--help`` is rendered
from, so a page can never say something ``--help`` does not.

    python -m aios_systemd.cli.manpages OUTDIR      # writes OUTDIR/aios-*.1

The wheel's build runs this (``hatch_build.py``) to ship the pages in ``share/man/man1``;
with ``SOURCE_DATE_EPOCH`` set, the pages are the same bytes on every build.  It needs
nothing beyond the standard library, as a build environment has only hatchling.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..context import CONFIG_RELPATH, ENV_LOCAL_RELPATH, LIVE_DATA_RELPATH
from .spec import COMMANDS, HELP_FLAGS, HELP_TEXT, VERSION_FLAG, VERSION_TEXT, Command, Option, fill

SEE_ALSO = ("systemd.timer(5)", "systemd.service(5)", "systemctl(1)", "journalctl(1)")


def _escape(text: str) -> str:
    # roff: a leading dot or quote starts a request, backslash starts an escape.
    out = []
    for line in text.replace("\\", "\\e").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def _paragraphs(text: str) -> str:
    blocks = [b.strip("\n") for b in text.strip().split("\n\n")]
    rendered = []
    for block in blocks:
        if block.startswith("  "):  # an indented example keeps its layout
            example = "\n".join(line.strip() for line in block.splitlines())
            rendered.append(".PP\n.RS 4\n.nf\n" + _escape(example) + "\n.fi\n.RE")
        else:
            rendered.append(".PP\n" + _escape(" ".join(line.strip() for line in block.splitlines())))
    return "\n".join(rendered)


def _usage(option: Option) -> str:
    return f"{option.flag} {option.metavar or option.dest.upper()}" if option.takes_value else option.flag


def _synopsis(prog: str, command: Command) -> str:
    parts = [prog] + [a.usage for a in command.arguments]
    parts += [f"[{_usage(o)}]" for o in command.options]
    return _escape(" ".join(parts))


def _options(command: Command, *, program: bool) -> str:
    """The command's options, then help (and, for the program itself, --version)."""
    entries = [(_usage(o), o.help) for o in command.options]
    entries.append((", ".join(HELP_FLAGS), HELP_TEXT))
    if program:
        entries.append((VERSION_FLAG, VERSION_TEXT))
    return "\n".join(f".TP\n.B {_escape(head)}\n{_escape(fill(text))}" for head, text in entries)


def _exits(command: Command) -> str:
    # .PD 0: one line per status, as --help lists them.
    rows = "\n".join(f".TP\n.B {int(code)}\n{_escape(meaning)}" for code, meaning in command.exits)
    return f".PD 0\n{rows}\n.PD"


def _files(prog: str) -> str:
    """The files ``prog`` reads or writes, by role (as the README's Paths table)."""
    project = "the project root (--project-root, else $AIOS_PROJECT_ROOT, else the current directory)"
    entries = [
        (
            ("aios-run", "aios-status", "aios-units"),
            "$AIOS_SCHEDULER_ROOT, else $XDG_STATE_HOME/ai-os/scheduler (~/.local/state/ai-os/scheduler)",
            "The private scheduler root (0700): latest-run state (state/JOB.json), locks, the private run "
            "logs (logs/JOB.jsonl), caches and Dream's output.",
        ),
        (
            ("aios-run", "aios-status", "aios-units", "aios-aggregate", "aios-notify"),
            f"PROJECT/{ENV_LOCAL_RELPATH}",
            f"Settings of the jobs, read as dotenv (an exported variable wins); PROJECT is {project}.",
        ),
        (
            ("aios-run", "aios-status", "aios-units"),
            f"PROJECT/{CONFIG_RELPATH}",
            "The local scheduler config: timer intent, cadences, Dream times and failure alerts (notify) per job; "
            "install --notify writes notify into it.",
        ),
        (
            ("aios-run", "aios-status", "aios-aggregate", "aios-check-private"),
            f"PROJECT/{LIVE_DATA_RELPATH}",
            "The generated data the jobs write (and status reads freshness from).",
        ),
        (
            ("aios-units", "aios-status"),
            "$XDG_CONFIG_HOME/systemd/user/ai-os-JOB.service, ai-os-JOB.timer, ai-os-notify@.service",
            "The units install writes and uninstall removes (XDG_CONFIG_HOME defaults to ~/.config).",
        ),
        (
            ("aios-aggregate",),
            "PROJECT/logs/aggregate-TIME.jsonl, PROJECT/logs/aggregate.latest.jsonl",
            "The private diagnostic trace of each direct aggregate (the newest 20 kept).",
        ),
        (("aios-units",), ", ".join(_completion_dirs()), "Where completion --install writes the shell completion."),
    ]
    return "\n".join(f".TP\n.B {_escape(path)}\n{_escape(text)}" for progs, path, text in entries if prog in progs)


def _environment() -> str:
    """The toolkit's own variables, then the settings that decide what a job does, from
    their one table (``settings.JOB_SETTINGS``, which doctor compares as well)."""
    from ..runs import TRIGGER_ENV
    from ..settings import JOB_SETTINGS, Source

    own = [
        ("AIOS_PROJECT_ROOT", "The AI OS checkout when --project-root is not given."),
        ("AIOS_SCHEDULER_ROOT", "Private state, locks and logs (default $XDG_STATE_HOME/ai-os/scheduler)."),
        (TRIGGER_ENV, "manual, systemd or dashboard; recorded with each run."),
        ("NO_COLOR", "No colour in progress output."),
    ]
    intro = (
        "The settings below decide what a job does. A job reads each from its environment "
        f"over the project's {ENV_LOCAL_RELPATH} (those marked \\(lqenvironment only\\(rq from the "
        "environment alone). A timer's service gets the user manager's environment, not a "
        "shell's: put settings in the project's .env.local, and see aios-units doctor for the "
        "ones a timer run sees otherwise than your shell."
    )
    rows = [f".TP\n.B {name}\n{_escape(text)}" for name, text in own]
    rows.append(f".PP\n{intro}")
    for setting in JOB_SETTINGS:
        name = f"{setting.name}<JOB>" if setting.per_job else setting.name
        text = setting.meaning[0].upper() + setting.meaning[1:]
        if setting.per_job:
            text += f" (JOB upper-cased, - as _: {setting.for_job('agent-aggregate').name})"
        if setting.secret:
            text += "; a credential, never shown"
        if setting.source is Source.PROCESS:
            text += "; environment only"
        rows.append(f".TP\n.B {_escape(name)}\n{_escape(text)}.")
    return "\n".join(rows)


def _completion_dirs() -> list[str]:
    """The directories of ``completion --install``, as their labels (from the code that
    writes there, given the XDG variables set)."""
    from ..context import Context
    from .completion import SHELLS, install_dir

    ctx = Context.from_environ({"HOME": "/nonexistent", "XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/config"})
    return [install_dir(shell, ctx)[1] for shell in SHELLS]


def page(program: Command, date: str) -> str:
    """One roff man page for ``program`` (a group gets a section per subcommand)."""
    prog = program.name
    out = [
        f'.TH "{prog.upper()}" "1" "{date}" "aios-systemd {__version__}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {_escape(program.summary.rstrip('.'))}",
        ".SH SYNOPSIS",
    ]
    if program.subcommands:
        out += [f".B {prog}\n.I COMMAND\n[OPTIONS] [ARGS]..."]
    else:
        out += [_synopsis(prog, program)]
    out += [".SH DESCRIPTION", _paragraphs(fill(program.help))]
    out += [".SH OPTIONS", _options(program, program=True)]
    if program.subcommands:
        out.append(".SH COMMANDS")
        for sub in program.subcommands:
            out += [
                f'.SS "{_synopsis(f"{prog} {sub.name}", sub)}"',
                _paragraphs(fill(sub.help)),
                _options(sub, program=False),
            ]
    out.append('.SH "EXIT STATUS"')
    out.append(_exits(program))
    for sub in program.subcommands:
        out += [f'.SS "{prog} {sub.name}"', _exits(sub)]
    out += [
        ".SH ENVIRONMENT",
        _environment(),
        ".SH FILES",
        _files(prog),
        ".SH SEE ALSO",
        ", ".join(f".BR {s.split('(')[0]} ({s.split('(')[1]}" for s in SEE_ALSO).replace(", .BR", "\n.BR"),
    ]
    return "\n".join(out) + "\n"


def build_date(env: Mapping[str, str]) -> str:
    """The pages' date: ``SOURCE_DATE_EPOCH``'s when set (reproducible builds), else
    today's; in UTC either way."""
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return datetime.now(UTC).strftime("%Y-%m-%d")
    if not (epoch.isascii() and epoch.isdigit()):
        # The specification: a malformed value fails the build rather than being ignored.
        from ..errors import UsageError

        raise UsageError("SOURCE_DATE_EPOCH is not a number of seconds", "set it to an integer, or unset it")
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d")


def write_all(directory: Path, date: str | None = None) -> list[Path]:
    from aios_systemd import fsio

    fsio.make_dirs(directory, "the man page directory")
    when = date or build_date(os.environ)
    written = []
    for prog, program in COMMANDS.items():
        path = directory / f"{prog}.1"
        path.write_text(page(program, when))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m aios_systemd.cli.manpages OUTDIR", file=sys.stderr)
        return 2
    for path in write_all(Path(args[0])):
        print(path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
