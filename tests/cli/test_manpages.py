"""Man pages come from the CLI table --help is rendered from, so every option in --help is
in the page."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aios_systemd.cli.manpages import main
from aios_systemd.cli.spec import COMMANDS, HELP_FLAGS


def test_every_cli_gets_a_page_with_every_option(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {f"{prog}.1" for prog in COMMANDS}
    for prog, spec in COMMANDS.items():
        text = (tmp_path / f"{prog}.1").read_text()
        assert text.startswith(f'.TH "{prog.upper()}" "1"')
        commands = spec.subcommands or (spec,)
        for command in commands:
            for option in command.options:
                assert f".B {option.flag}" in text, (prog, option.flag)
                assert option.help in text, (prog, option.flag)
        sections = text.split(".SS ")
        # Help everywhere; --version only where the program answers it (not after a subcommand).
        assert all(f".B {', '.join(HELP_FLAGS)}" in section for section in sections), prog
        assert ".B --version" in sections[0] and not any(".B --version" in s for s in sections[1:]), prog


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
