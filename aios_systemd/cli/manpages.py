"""Man pages for every CLI, generated from the typer apps themselves, so a page can never
say something ``--help`` does not.

    python -m aios_systemd.cli.manpages OUTDIR      # writes OUTDIR/aios-*.1
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .spec import COMMANDS

SEE_ALSO = ("systemd.timer(5)", "systemd.service(5)", "systemctl(1)", "journalctl(1)")


def _apps() -> dict[str, Callable[[], Any]]:
    from . import aggregate, check_private, run, status, units

    return {
        "aios-run": run.build_app,
        "aios-status": status.build_app,
        "aios-units": units.build_app,
        "aios-aggregate": aggregate.build_app,
        "aios-check-private": check_private.build_app,
    }


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


def _synopsis(prog: str, cmd: Any) -> str:
    parts = [prog]
    for p in cmd.params:
        if p.name == "help":
            continue
        if p.param_type_name == "argument":
            meta = p.metavar or p.name.upper()
            parts.append(meta if p.required or meta.startswith("[") else f"[{meta}]")
        else:
            flag = p.opts[0]
            parts.append(f"[{flag}]" if p.is_flag else f"[{flag} {p.name.upper()}]")
    return _escape(" ".join(parts))


def _options(cmd: Any) -> str:
    lines = []
    for p in cmd.params:
        if p.param_type_name == "argument":
            continue
        head = ", ".join(p.opts) + ("" if p.is_flag else f" {p.name.upper()}")
        lines.append(f".TP\n.B {_escape(head)}\n{_escape(p.help or '')}")
    lines.append(".TP\n.B --version\nPrint the version and exit.")
    return "\n".join(lines)


def page(prog: str, cmd: Any, date: str) -> str:
    """One roff man page for ``prog`` from its click command (a group gets a section per
    subcommand)."""
    summary = COMMANDS[prog].help.rstrip(".")
    out = [
        f'.TH "{prog.upper()}" "1" "{date}" "aios-systemd {__version__}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {_escape(summary)}",
        ".SH SYNOPSIS",
    ]
    subcommands = getattr(cmd, "commands", None)
    if subcommands:
        out += [f".B {prog}\n.I COMMAND\n[OPTIONS] [ARGS]..."]
    else:
        out += [_synopsis(prog, cmd)]
    out += [".SH DESCRIPTION", _paragraphs(cmd.help or "")]
    if subcommands:
        out.append(".SH COMMANDS")
        for name, sub in subcommands.items():
            out += [f'.SS "{_synopsis(f"{prog} {name}", sub)}"', _paragraphs(sub.help or ""), _options(sub)]
    else:
        out += [".SH OPTIONS", _options(cmd)]
    out += [
        ".SH ENVIRONMENT",
        ".TP\n.B AIOS_PROJECT_ROOT\nThe AI OS checkout when --project-root is not given.",
        ".TP\n.B AIOS_SCHEDULER_ROOT\nPrivate state, locks and logs (default $XDG_STATE_HOME/ai-os/scheduler).",
        ".TP\n.B AI_OS_SCHEDULER_TRIGGER_SOURCE\nmanual, systemd or dashboard; recorded with each run.",
        ".TP\n.B NO_COLOR\nNo colour in progress output.",
        ".SH SEE ALSO",
        ", ".join(f".BR {s.split('(')[0]} ({s.split('(')[1]}" for s in SEE_ALSO).replace(", .BR", "\n.BR"),
    ]
    return "\n".join(out) + "\n"


def write_all(directory: Path, date: str | None = None) -> list[Path]:
    import typer.main

    from aios_systemd import fsio

    fsio.make_dirs(directory, "the man page directory")
    when = date or datetime.now(UTC).strftime("%Y-%m-%d")
    written = []
    for prog, build in _apps().items():
        path = directory / f"{prog}.1"
        path.write_text(page(prog, typer.main.get_command(build()), when))
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
