"""The CLI table itself, and what is derived from it: the fast path, typer, completion
and the console scripts."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from aios_systemd.cli import common, entry, typer_app
from aios_systemd.cli.completion import complete
from aios_systemd.cli.fastpath import parse
from aios_systemd.cli.spec import COMMANDS, HELP_FLAGS, Command, Kind, Scope
from aios_systemd.jobs import aggregate as aggregate_job

REPO = Path(__file__).resolve().parents[2]


def _leaves() -> list[tuple[str, Command]]:
    return [(p.name, c) for p in COMMANDS.values() for c in (p.subcommands or (p,))]


LEAVES = _leaves()
IDS = [f"{prog} {c.name}" if prog != c.name else prog for prog, c in LEAVES]


@pytest.mark.parametrize(("prog", "command"), LEAVES, ids=IDS)
def test_each_entry_is_well_formed(prog: str, command: Command) -> None:
    assert command.handler and command.summary and command.help, command.name
    assert "\n" not in command.summary.strip()
    flags = [o.flag for o in command.options]
    dests = [o.dest for o in command.options] + [a.dest for a in command.arguments]
    assert len(set(flags)) == len(flags) and len(set(dests)) == len(dests)
    assert not set(flags) & set(HELP_FLAGS)
    for o in command.options:
        # Long flags; a short one only where a name is fixed by the issue (logs -n).
        assert o.flag.startswith("--") or (o.flag == "-n" and o.kind is Kind.COUNT), o
        assert o.dest.isidentifier() and o.help.endswith("."), o
        if o.kind is Kind.FLAG:
            assert o.default is None and o.choices is None and o.initial is False, o
        if o.choices is not None:
            assert o.kind is Kind.TEXT and (o.default is None or isinstance(o.default, o.choices)), o
    # Only the last argument may take many words: the fast path hands it all the rest.
    assert all(not a.many for a in command.arguments[:-1])


@pytest.mark.parametrize(("prog", "command"), LEAVES, ids=IDS)
def test_each_handler_takes_exactly_its_entry(prog: str, command: Command) -> None:
    """The table and the handlers are kept in step here: every option and argument is a
    keyword of the handler, with no default of its own (the table's is the one)."""
    params = inspect.signature(common.load_handler(command)).parameters.values()
    assert {p.name for p in params} == {o.dest for o in command.options} | {a.dest for a in command.arguments}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty for p in params)


def test_console_scripts_are_the_tables_programs() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert list(scripts) == list(COMMANDS)
    for prog, target in scripts.items():
        module, _, name = target.partition(":")
        assert module == entry.__name__ and name == prog.replace("-", "_")
        assert callable(getattr(entry, name))
    with pytest.raises(AttributeError):
        entry.aios_nothing  # noqa: B018


@pytest.mark.parametrize(("prog", "command"), LEAVES, ids=IDS)
def test_typer_renders_the_entry(prog: str, command: Command) -> None:
    import typer.main

    click = typer.main.get_command(typer_app.build(COMMANDS[prog], common.load_handler))
    if COMMANDS[prog].subcommands:
        assert list(click.commands) == [c.name for c in COMMANDS[prog].subcommands]  # type: ignore[attr-defined]
        click = click.commands[command.name]  # type: ignore[attr-defined]
    params = {p.name: p for p in click.params}  # help is added per call: see test_dash_h_is_help_everywhere
    assert list(params) == [a.dest for a in command.arguments] + [o.dest for o in command.options]
    for o in command.options:
        p = params[o.dest]
        assert p.opts == [o.flag] and p.help == o.help and bool(p.is_flag) == (o.kind is Kind.FLAG), o.flag
    for a in command.arguments:
        p = params[a.dest]
        assert (p.nargs == -1) == a.many and p.required == a.required, a.dest


class _Recorder:
    """A resolver that records what the handler would get, instead of running it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def __call__(self, command: Command) -> object:
        def handler(**values: object) -> int:
            self.calls.append((command.name, values))
            return 0

        return handler


FAST_PATH_ARGVS = [
    ("aios-run", ["agent-aggregate"]),
    ("aios-run", ["--project-root", "/srv/ai-os", "--json", "dream"]),
    ("aios-status", []),
    ("aios-status", ["--job", "dream", "--json", "--no-timers", "--project-root=rel/dir"]),
    ("aios-aggregate", ["--scope", "host-local"]),
    ("aios-aggregate", []),
    ("aios-check-private", ["--json"]),
    ("aios-units", ["render"]),
    ("aios-units", ["render", "dream", "--output", "out", "--dry-run", "--project-root", "/w"]),
    ("aios-units", ["diff", "--json", "agent-aggregate", "dream"]),
    ("aios-units", ["install", "agent-aggregate", "--force"]),
    ("aios-units", ["uninstall", "--dry-run", "dream"]),
    ("aios-units", ["doctor"]),
    ("aios-units", ["completion", "zsh", "--install"]),
    ("aios-units", ["logs", "dream"]),
    ("aios-units", ["logs", "-n", "3", "--follow", "agent-aggregate", "--run", "20261126T080000.123Z-ab12cd"]),
    ("aios-status", ["--brief", "--no-timers"]),
]


@pytest.mark.parametrize(("prog", "argv"), FAST_PATH_ARGVS, ids=[" ".join([p, *a]) for p, a in FAST_PATH_ARGVS])
def test_fast_path_and_typer_hand_the_handler_the_same_values(prog: str, argv: list[str]) -> None:
    fast, slow = _Recorder(), _Recorder()
    assert parse(COMMANDS[prog], argv) is not None  # this is the fast path's
    assert common.dispatch(prog, argv, fast) == 0
    assert typer_app.run(COMMANDS[prog], argv, slow) == 0
    assert fast.calls == slow.calls and len(fast.calls) == 1
    for dest, value in fast.calls[0][1].items():
        if dest in ("project_root", "output"):
            assert value is None or isinstance(value, Path), dest
    if prog == "aios-aggregate":
        assert isinstance(fast.calls[0][1]["scope"], Scope)


@pytest.mark.parametrize(
    ("prog", "fast", "slow", "error", "hint"),
    [
        (
            "aios-aggregate",
            ["--scope", "bogus"],
            ["--scope", "full", "--scope", "bogus"],
            "unknown --scope value",
            "use --scope full or --scope host-local",
        ),
        (
            "aios-units",
            ["render", "--output", ""],
            ["render", "--output", "x", "--output", ""],
            "--output needs a directory",
            "pass --output DIR",
        ),
        (
            "aios-run",
            ["dream", "--project-root="],
            ["--project-root", "x", "dream", "--project-root="],
            "--project-root needs a directory",
            "pass --project-root DIR",
        ),
    ],
)
def test_a_value_its_type_refuses_is_worded_once(
    prog: str, fast: list[str], slow: list[str], error: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same refusal from the fast path and from typer (a value option given twice is
    # typer's; the last one counts).
    assert parse(COMMANDS[prog], fast) is not None and parse(COMMANDS[prog], slow) is None
    for args in (fast, slow):
        recorder = _Recorder()
        assert common.dispatch(prog, args, recorder) == 2, args
        assert recorder.calls == []
        err = capsys.readouterr().err
        assert err.splitlines() == [f"error: {error}", f"hint: {hint}"], args


def test_fast_path_parses_well_formed_and_defers_the_rest() -> None:
    units_spec = COMMANDS["aios-units"]
    p = parse(units_spec, ["install", "agent-aggregate", "dream", "--force", "--project-root=/srv/x"])
    assert p is not None and p.command.name == "install"
    assert p.values["jobs"] == ["agent-aggregate", "dream"] and p.values["force"] is True
    assert p.values["project_root"] == "/srv/x" and p.values["dry_run"] is False
    assert parse(units_spec, ["diff"]) is not None
    for argv in (
        ["--help"],
        ["-h"],
        ["install"],
        ["install", "x", "--bogus"],
        ["nope"],
        [],
        ["diff", "--json=1"],
        ["diff", "--project-root"],
        ["render", "-h"],
        ["doctor", "--help"],
        ["diff", "--project-root", "a", "--project-root", "b"],
    ):
        assert parse(units_spec, argv) is None, argv
    status_spec = COMMANDS["aios-status"]
    assert parse(status_spec, ["--job", "dream", "--json", "--json"]).values == {  # type: ignore[union-attr]
        "job": "dream",
        "json_": True,
        "brief": False,
        "check": False,
        "metrics": False,
        "project_root": None,
        "no_timers": False,
    }
    assert parse(status_spec, ["extra"]) is None
    assert parse(COMMANDS["aios-run"], ["--", "-weird"]).values["job"] == "-weird"  # type: ignore[union-attr]
    assert parse(COMMANDS["aios-aggregate"], []).values["scope"] is Scope.FULL  # type: ignore[union-attr]


@pytest.mark.parametrize("prog", list(COMMANDS))
def test_dash_h_is_help_everywhere(prog: str) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), prog)
    env = {**os.environ, "COLUMNS": "120"}
    subs = [[s.name] for s in COMMANDS[prog].subcommands] or [[]]
    for sub in subs:
        long = subprocess.run([exe, *sub, "--help"], capture_output=True, text=True, env=env)
        short = subprocess.run([exe, *sub, "-h"], capture_output=True, text=True, env=env)
        assert long.returncode == short.returncode == 0, (sub, short.stderr)
        assert short.stdout == long.stdout and "Usage:" in short.stdout and short.stderr == ""


@pytest.mark.parametrize(("prog", "command"), LEAVES, ids=IDS)
def test_help_shows_a_value_only_for_options_that_take_one(prog: str, command: Command) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), prog)
    sub = [command.name] if prog != command.name else []
    out = subprocess.run([exe, *sub, "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    # typer puts a flag that has only a short form (logs -n) in its short-flag column.
    rows = {line.split()[1]: line for line in out.stdout.splitlines() if re.match(r"│ +-", line)}
    assert set(rows) == {o.flag for o in command.options} | {"--help"}, out.stdout
    for flag, row in rows.items():
        option = next((o for o in command.options if o.flag == flag), None)
        takes_value = option is not None and option.takes_value
        named = option is not None and option.metavar is not None and f" {option.metavar} " in row
        assert ("<bool>" not in row) and (("DIR" in row or "<" in row or named) == takes_value), row
    assert "[[" not in out.stdout  # JOB is decorated once: [JOB]...


@pytest.mark.parametrize(
    ("prog", "argv", "where"),
    [
        ("aios-units", ["diff", "--bogus"], "aios-units diff"),
        ("aios-units", ["install"], "aios-units install"),
        ("aios-units", ["nope"], "aios-units"),
        ("aios-units", ["--bogus"], "aios-units"),
        ("aios-run", [], "aios-run"),
        ("aios-aggregate", ["--scope"], "aios-aggregate"),
    ],
)
def test_a_usage_error_points_at_the_help_of_its_command(
    prog: str, argv: list[str], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert common.dispatch(prog, argv, _Recorder()) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and err[1:] == [f"hint: run '{where} --help' for usage"]


def test_a_group_without_command_prints_its_help_and_no_error_line() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "aios-units")
    env = {**os.environ, "COLUMNS": "120"}
    bare = subprocess.run([exe], capture_output=True, text=True, env=env)
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, env=env)
    assert bare.returncode == 2 and bare.stdout == helped.stdout and "Commands" in bare.stdout
    assert bare.stderr == ""


def test_completion_candidates() -> None:
    ids = ("aggregate", "agent-aggregate", "trend-finder", "dream")
    u = COMMANDS["aios-units"]
    assert [c for c, _ in complete(u, ["in"], ids)] == ["install"]
    assert complete(u, ["in"], ids) == [("install", "Write, reload, enable and start the timers.")]
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
    # Choices come from the table: the values typer accepts are the values a Tab offers.
    assert [c for c, _ in complete(COMMANDS["aios-aggregate"], ["--scope", ""], ids)] == [s.value for s in Scope]
    assert [c for c, _ in complete(COMMANDS["aios-aggregate"], ["--scope", "h"], ids)] == ["host-local"]
    # --option=value: the value's candidates as whole words; a directory is the shell's.
    assert [c for c, _ in complete(COMMANDS["aios-aggregate"], ["--scope=h"], ids)] == ["--scope=host-local"]
    assert complete(u, ["diff", "--project-root=sr"], ids) == [("<directory>", "")]
    assert complete(u, ["diff", "--json=x"], ids) == complete(u, ["diff", "--bogus="], ids) == []
    assert "--scope" not in [c for c, _ in complete(COMMANDS["aios-aggregate"], ["--scope=full", "--"], ids)]


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
    assert aggregate_job.prune(tmp_path, keep=2) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aggregate-20261123.jsonl",
        "aggregate-20261124.jsonl",
        "aggregate-20261124.jsonl.1",
        "aggregate.latest.jsonl",
    ]
