"""Man pages come from the typer apps, so every option in --help is in the page."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aios_systemd.cli.manpages import _apps, main
from aios_systemd.cli.spec import COMMANDS


def test_every_cli_gets_a_page_with_every_option(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    for prog, spec in COMMANDS.items():
        text = (tmp_path / f"{prog}.1").read_text()
        assert text.startswith(f'.TH "{prog.upper()}" "1"')
        commands = spec.subcommands or (spec,)
        for command in commands:
            for option in command.options:
                assert option.flag.replace("-", "\\-") in text or option.flag in text, (prog, option.flag)
    assert set(_apps()) == set(COMMANDS)


def test_pages_render_without_warnings(tmp_path: Path) -> None:
    main([str(tmp_path)])
    for page in tmp_path.glob("*.1"):
        proc = subprocess.run(
            ["man", "--warnings", "-l", str(page)],
            capture_output=True,
            text=True,
            env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        assert proc.returncode == 0
        assert proc.stderr == "", (page.name, proc.stderr)


def test_every_help_shows_examples(tmp_path: Path) -> None:
    import os
    import sys

    bindir = os.path.dirname(sys.executable)
    for prog in COMMANDS:
        out = subprocess.run(
            [os.path.join(bindir, prog), "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
        )
        assert out.returncode == 0 and "Examples" in out.stdout, prog
    main([str(tmp_path)])
    for prog in COMMANDS:
        assert "Examples:" in (tmp_path / f"{prog}.1").read_text(), prog
