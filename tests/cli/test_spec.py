"""The CLI table, the fast path and completion: in step with the typer apps."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from aios_systemd.cli import aggregate, check_private, run, status, units
from aios_systemd.cli.spec import COMMANDS, Command, complete, parse

APPS: dict[str, Callable[[], Any]] = {
    "aios-run": run.build_app,
    "aios-status": status.build_app,
    "aios-units": units.build_app,
    "aios-aggregate": aggregate.build_app,
    "aios-check-private": check_private.build_app,
}


def _click(name: str) -> Any:
    import typer.main

    return typer.main.get_command(APPS[name]())


def _compare(spec: Command, cmd: Any) -> None:
    import typer

    params = [p for p in cmd.params if p.name != "help"]
    options = {p.opts[0]: p for p in params if not isinstance(p, typer.core.TyperArgument)}
    arguments = [p for p in params if isinstance(p, typer.core.TyperArgument)]
    assert set(options) == {o.flag for o in spec.options}, spec.name
    for o in spec.options:
        assert options[o.flag].name == o.dest, (spec.name, o.flag)
        assert bool(options[o.flag].is_flag) != o.takes_value, (spec.name, o.flag)
    assert [a.name for a in arguments] == [a.dest for a in spec.arguments], spec.name
    for a, p in zip(spec.arguments, arguments, strict=True):
        assert (p.nargs == -1) == a.many and p.required == a.required, (spec.name, a.dest)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_table_matches_the_typer_app(name: str) -> None:
    spec = COMMANDS[name]
    cmd = _click(name)
    if spec.subcommands:
        assert set(cmd.commands) == {c.name for c in spec.subcommands}
        for sub in spec.subcommands:
            _compare(sub, cmd.commands[sub.name])
    else:
        _compare(spec, cmd)


def test_fast_path_parses_well_formed_and_defers_the_rest() -> None:
    units_spec = COMMANDS["aios-units"]
    p = parse(units_spec, ["install", "agent-aggregate", "dream", "--force", "--working-directory=/srv/x"])
    assert p is not None and p.path == ("install",)
    assert p.values["jobs"] == ["agent-aggregate", "dream"] and p.values["force"] is True
    assert p.values["working_directory"] == "/srv/x" and p.values["dry_run"] is False
    assert parse(units_spec, ["diff"]) is not None
    for argv in (
        ["--help"],
        ["install"],
        ["install", "x", "--bogus"],
        ["nope"],
        [],
        ["diff", "--json=1"],
        ["diff", "--project-root"],
        ["render", "-h"],
        ["diff", "--project-root", "a", "--project-root", "b"],
    ):
        assert parse(units_spec, argv) is None, argv
    status_spec = COMMANDS["aios-status"]
    assert parse(status_spec, ["--job", "dream", "--json"]).values == {  # type: ignore[union-attr]
        "job": "dream",
        "json_": True,
        "project_root": None,
        "no_timers": False,
    }
    assert parse(status_spec, ["extra"]) is None
    assert parse(COMMANDS["aios-run"], ["--", "-weird"]).values["job"] == "-weird"  # type: ignore[union-attr]


def test_completion_candidates() -> None:
    ids = ("aggregate", "agent-aggregate", "trend-finder", "dream")
    u = COMMANDS["aios-units"]
    assert [c for c, _ in complete(u, ["in"], ids)] == ["install"]
    assert [c for c, _ in complete(u, ["install", "ag"], ids)] == ["aggregate", "agent-aggregate"]
    assert [c for c, _ in complete(u, ["install", "dream", ""], ids)] == [
        "aggregate",
        "agent-aggregate",
        "trend-finder",
    ]
    assert "--force" in [c for c, _ in complete(u, ["install", "--"], ids)]
    assert complete(u, ["diff", "--project-root", ""], ids) == [("<directory>", "")]
    assert [c for c, _ in complete(u, ["completion", ""], ids)] == ["bash", "zsh", "fish"]
    assert [c for c, _ in complete(COMMANDS["aios-status"], ["--job", "t"], ids)] == ["trend-finder"]
    assert [c for c, _ in complete(COMMANDS["aios-run"], ["agent-aggregate", ""], ids)] == []


def test_completion_call_imports_nothing_heavy() -> None:
    code = (
        "import os, sys; os.environ['AIOS_COMPLETE'] = 'bash'; from aios_systemd.cli.units import main; "
        "main(['install', 'ag']); "
        "heavy = [m for m in ('typer', 'pydantic', 'jinja2', 'pystemd', 'typing') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "aggregate\nagent-aggregate\n" in out and "HEAVY []" in out


def test_fast_path_status_imports_neither_typer_nor_pydantic(base_env: dict[str, str]) -> None:
    code = (
        "import sys; from aios_systemd.cli.status import main; main(['--no-timers', '--json']); "
        "print('HEAVY', [m for m in ('typer', 'pydantic', 'jinja2', 'typing') if m in sys.modules], file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=base_env, check=True)
    assert "HEAVY []" in proc.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_print_and_install(shell: str, tmp_path: Any) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    exe = os.path.join(os.path.dirname(sys.executable), "aios-units")
    printed = subprocess.run([exe, "completion", shell], capture_output=True, text=True, env=env, check=True).stdout
    assert "AIOS_COMPLETE" in printed and "aios-status" in printed
    # umask 000: nothing it creates may inherit it (the XDG directories it makes are 0700).
    installed = subprocess.run(
        [exe, "completion", shell, "--install"], capture_output=True, text=True, env=env, umask=0
    )
    assert installed.returncode == 0, installed.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.read_text() == printed for p in files)
    assert {oct(p.stat().st_mode & 0o7777) for p in files} == {"0o644"}
    assert {oct(p.stat().st_mode & 0o7777) for p in tmp_path.rglob("*") if p.is_dir()} == {"0o700"}


def test_bash_completion_end_to_end(tmp_path: Any) -> None:
    exe_dir = os.path.dirname(sys.executable)
    script = subprocess.run(
        [os.path.join(exe_dir, "aios-units"), "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    driver = script + (
        '\nCOMP_WORDS=(aios-units install ag); COMP_CWORD=2; _aios_complete; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "-c", driver],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": exe_dir + ":" + os.environ["PATH"]},
    ).stdout
    assert out.split() == ["aggregate", "agent-aggregate"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_version_everywhere(name: str) -> None:
    from aios_systemd import __version__

    exe = os.path.join(os.path.dirname(sys.executable), name)
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{name} {__version__}"


@pytest.mark.parametrize("output", ["", "/proc/1/aios-units-test", "/sys/aios-units-test"])
def test_render_output_refusals_have_hints(output: str, base_env: dict[str, str]) -> None:
    from tests.support.safe_dirs import safe_directory

    exe = os.path.join(os.path.dirname(sys.executable), "aios-units")
    with safe_directory() as root:
        proc = subprocess.run(
            [exe, "render", "agent-aggregate", "--output", output, "--project-root", str(root)],
            capture_output=True,
            text=True,
            env=base_env,
        )
    assert proc.returncode in (1, 2) and "hint:" in proc.stderr and "internal error" not in proc.stderr
    assert "working directory" not in proc.stderr  # refused for the output, not for the project


def test_aggregate_prune_keeps_rotated_traces_with_their_run(tmp_path: Any) -> None:
    for i in range(5):
        (tmp_path / f"aggregate-2026112{i}.jsonl").write_text("{}")
    (tmp_path / "aggregate-20261120.jsonl.1").write_text("{}")
    (tmp_path / "aggregate-20261124.jsonl.1").write_text("{}")
    (tmp_path / "aggregate.latest.jsonl").write_text("{}")
    assert aggregate.prune(tmp_path, keep=2) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aggregate-20261123.jsonl",
        "aggregate-20261124.jsonl",
        "aggregate-20261124.jsonl.1",
        "aggregate.latest.jsonl",
    ]
