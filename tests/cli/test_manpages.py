"""Man pages come from the CLI table --help is rendered from, so every option in --help is
in the page."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from aios_systemd.cli.manpages import build_date, main, page
from aios_systemd.cli.spec import COMMANDS, HELP_FLAGS, exit_status
from aios_systemd.errors import AiosError

REPO = Path(__file__).resolve().parents[2]


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
        sections = text.split('.SH "EXIT STATUS"')[0].split(".SS ")
        # Help everywhere; --version only where the program answers it (not after a subcommand).
        assert all(f".B {', '.join(HELP_FLAGS)}" in section for section in sections), prog
        assert ".B --version" in sections[0] and not any(".B --version" in s for s in sections[1:]), prog


def test_pages_render_without_warnings(tmp_path: Path) -> None:
    main([str(tmp_path)])
    for path in tmp_path.glob("*.1"):
        proc = subprocess.run(
            ["man", "--warnings", "-l", str(path)],
            capture_output=True,
            text=True,
            env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        assert proc.returncode == 0
        assert proc.stderr == "", (path.name, proc.stderr)


def _help(prog: str, *words: str) -> subprocess.CompletedProcess[str]:
    """``prog [WORDS] --help`` from this installation, 200 columns wide."""
    import sys

    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), prog), *words, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_every_help_shows_examples(tmp_path: Path) -> None:
    for prog in COMMANDS:
        out = _help(prog)
        assert out.returncode == 0 and "Examples" in out.stdout, prog
        # Shown indented as written (typer dedents a help whose lines after the first
        # remaining paragraph are all indented), each on one line.
        for sub in [None, *(c.name for c in COMMANDS[prog].subcommands)]:
            shown = out.stdout if sub is None else _help(prog, sub).stdout
            examples = [line for line in shown.splitlines() if line.lstrip().startswith(f"{prog} ")]
            assert examples and all(line.startswith(f"   {prog} ") for line in examples), (prog, sub, examples)
    main([str(tmp_path)])
    for prog in COMMANDS:
        assert "Examples:" in (tmp_path / f"{prog}.1").read_text(), prog


def test_exit_status_comes_from_the_table_in_the_page_and_in_help(tmp_path: Path) -> None:
    main([str(tmp_path)])
    for prog, program in COMMANDS.items():
        text = (tmp_path / f"{prog}.1").read_text()
        exit_section = text.split('.SH "EXIT STATUS"\n', 1)[1].split("\n.SH ", 1)[0]
        for command in (program, *program.subcommands):
            assert command.exits, (prog, command.name)
            for code, meaning in command.exits:
                assert f".B {int(code)}\n{meaning}" in exit_section, (prog, command.name, code)
            sub = [command.name] if command is not program else []
            helped = _help(prog, *sub).stdout
            shown = [" ".join(line.strip(" │").split()) for line in helped.splitlines()]
            expected = [" ".join(line.split()) for line in exit_status(command).splitlines()]
            assert all(line in shown for line in expected), (prog, command.name, helped)
        assert ".SH FILES\n.TP" in text, prog


def test_readme_exit_code_table_matches_the_table() -> None:
    """The README's table names, per program, the codes each can exit with: the table's."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if re.match(r"\| \d", line)]
    header = next(line for line in section.splitlines() if line.startswith("| Code"))
    programs = [cell.strip().strip("`") for cell in header.strip("|").split("|")][1:]
    for column, prog in enumerate(programs, start=1):
        documented = {int(c) for row in rows if row[column].strip() for c in row[0].split("/")}
        program = COMMANDS[prog]
        declared = {int(code) for command in (program, *program.subcommands) for code, _ in command.exits}
        assert documented == declared, prog


def test_pages_take_their_date_from_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")
    assert build_date(os.environ) == "2025-12-01"
    main([str(tmp_path)])
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert all(b'"2025-12-01"' in text.split(b"\n", 1)[0] for text in first.values())
    main([str(tmp_path)])
    assert first == {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(AiosError):
        build_date(os.environ)
    assert page(COMMANDS["aios-run"], "2025-12-01") == first["aios-run.1"].decode()


def test_the_environment_section_lists_every_setting_doctor_compares(tmp_path: Path) -> None:
    """The settings that decide what a job does come from their one table (settings.py),
    with their meanings, so a page cannot miss one that doctor compares."""
    from aios_systemd.settings import JOB_SETTINGS

    main([str(tmp_path)])
    for prog in COMMANDS:
        text = (tmp_path / f"{prog}.1").read_text()
        environment = text.split(".SH ENVIRONMENT\n", 1)[1].split("\n.SH ", 1)[0]
        for setting in JOB_SETTINGS:
            name = f"{setting.name}<JOB>" if setting.per_job else setting.name
            assert f".B {name}\n{setting.meaning[0].upper()}{setting.meaning[1:]}" in environment, (prog, name)
        assert "AIOS_PING_URL_AGENT_AGGREGATE" in environment and "a credential, never shown" in environment


def test_readme_says_what_render_and_diff_take_with_no_job_as_their_help_does() -> None:
    """``render`` with no JOB takes the jobs whose timer intent is on; ``diff`` every reviewed
    job (``cli.units._job_ids``: default intent for render only)."""
    readme = " ".join((REPO / "README.md").read_text().split())
    units = {c.name: " ".join(c.help.split()) for c in COMMANDS["aios-units"].subcommands}
    assert "(with no JOB: the jobs whose timer intent is on)" in units["render"]
    assert "With no JOB: every reviewed job" in units["diff"]
    said = readme.split("With no job, ", 1)[1].split(". ", 1)[0]
    assert said.startswith("`render` takes the jobs whose timer intent is on, and `diff` every reviewed job"), said
    aside = units["diff"].split("every reviewed job ", 1)[1].split(")", 1)[0] + ")"
    assert aside.replace("orphan", "`orphan`") in said, (aside, said)
