"""Completion in real bash, zsh and fish, each loading what ``aios-units completion SHELL
--install`` wrote, from where the shell looks for it by command name.

bash and zsh run interactively on a pseudo-terminal (:mod:`tests.support.terminal`): a
Tab there goes through the line editor, which decides what is inserted (a directory with
a space quoted, no space after a directory).  fish answers ``complete -C`` as its line
editor would.  The shells come from scripts/setup.sh (zsh, fish, bash-completion).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios_systemd.cli.spec import COMMANDS, Scope
from tests.support.terminal import PROMPT, Terminal

BIN = Path(sys.executable).parent
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
JOBS = ["aggregate", "agent-aggregate", "trend-finder", "dream"]

# What a Tab completes, the same in every shell: the words of the line after one Tab.
CASES = [
    ("aios-units inst", ["aios-units", "install"]),
    ("aios-units install agent-a", ["aios-units", "install", "agent-aggregate"]),
    ("aios-units completion f", ["aios-units", "completion", "fish"]),
    ("aios-status --job tr", ["aios-status", "--job", "trend-finder"]),
    ("aios-status --job=tr", ["aios-status", "--job=trend-finder"]),
    ("aios-aggregate --sc", ["aios-aggregate", "--scope"]),
    ("aios-aggregate --scope h", ["aios-aggregate", "--scope", "host-local"]),
    ("aios-aggregate --scope=h", ["aios-aggregate", "--scope=host-local"]),
    ("aios-run --project-root my", ["aios-run", "--project-root", "my dir"]),
    ("aios-run --project-root=my", ["aios-run", "--project-root=my dir"]),
    ("aios-run --project-root my\\ d", ["aios-run", "--project-root", "my dir"]),
    ("aios-units diff --project-root ot", ["aios-units", "diff", "--project-root", "other"]),
]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A home with XDG directories of its own and a working directory holding a directory
    with a space; the environment a shell there starts with."""
    (tmp_path / "work" / "my dir").mkdir(parents=True)
    (tmp_path / "work" / "other").mkdir()
    (tmp_path / "work" / "a-file").write_text("")
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "PS1": PROMPT,
    }
    yield env


def _install(shell: str, env: dict[str, str]) -> str:
    """Install as the help's example for ``shell`` says."""
    help_text = COMMANDS["aios-units"].sub("completion").help  # type: ignore[union-attr]
    example = next(
        line.split("#")[0].split() for line in help_text.splitlines() if f"completion {shell} --install" in line
    )
    assert example == ["aios-units", "completion", shell, "--install"]
    proc = subprocess.run([BIN / example[0], *example[1:]], capture_output=True, text=True, env=env, check=True)
    return proc.stdout + proc.stderr


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/setup.sh installs it)")


def _directory_word(words: list[str]) -> list[str]:
    # bash inserts a directory with its "/", zsh removes that "/" once the next key is typed.
    return [w.removesuffix("/") for w in words]


# -- bash ---------------------------------------------------------------------------------
@pytest.fixture
def bash(home: dict[str, str]) -> Iterator[Terminal]:
    """Interactive bash with bash-completion, which loads ours by command name from
    ``$XDG_DATA_HOME/bash-completion/completions`` on the first Tab."""
    _need("bash")
    if not BASH_COMPLETION.is_file():
        pytest.skip("bash-completion is not installed (scripts/setup.sh installs it)")
    _install("bash", home)
    with Terminal(["bash", "--norc", "--noprofile", "-i"], home, Path(home["HOME"]) / "work") as term:
        term.expect(PROMPT.encode())
        term.run(f"source {BASH_COMPLETION}")
        yield term


@pytest.mark.parametrize(("typed", "words"), CASES, ids=[c[0] for c in CASES])
def test_bash_completes(bash: Terminal, typed: str, words: list[str]) -> None:
    got = bash.tab(typed)
    assert _directory_word(got) == words
    if words[-1] in ("my dir", "--project-root=my dir"):
        assert got[-1].endswith("/")  # a directory: quoted as one word, "/" and no space


def test_bash_registers_every_command(bash: Terminal) -> None:
    bash.tab("aios-units inst")  # the first Tab loads the file
    out = bash.run("complete -p " + " ".join(COMMANDS)).decode()
    assert all(f"complete -F _aios_complete {name}" in out for name in COMMANDS), out


def test_bash_function_lists_candidates(home: dict[str, str]) -> None:
    """Several candidates: the function called as bash's programmable completion calls
    it, with COMP_WORDS and COMP_CWORD set (bash splits "--scope=" at the "=")."""
    _need("bash")
    script = subprocess.run(
        [BIN / "aios-units", "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    cases = {
        "aios-units install ag": ["aggregate", "agent-aggregate"],
        "aios-units install dream ''": ["aggregate", "agent-aggregate", "trend-finder"],
        "aios-aggregate --scope ''": [s.value for s in Scope],
        "aios-aggregate --scope = ''": [s.value for s in Scope],
        "aios-aggregate --scope =": [s.value for s in Scope],
        "aios-status --": [o.flag for o in COMMANDS["aios-status"].options],
        "aios-run agent-aggregate ''": [],
        "aios-run ''": JOBS,
    }
    for line, expected in cases.items():
        driver = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
        driver += '_aios_complete; for c in "${COMPREPLY[@]}"; do printf "<%s>\\n" "$c"; done\n'
        out = subprocess.run(["bash", "--norc", "-c", driver], capture_output=True, text=True, env=home).stdout
        assert sorted(out.split()) == sorted(f"<{e}>" for e in expected), line


# -- zsh ----------------------------------------------------------------------------------
def _zsh(home: dict[str, str]) -> Terminal:
    _need("zsh")
    return Terminal(["zsh", "-f", "-i"], home, Path(home["HOME"]) / "work")


def _zsh_compinit(term: Terminal, fpath_line: str) -> None:
    term.expect(PROMPT.encode())
    term.run(f"PS1='{PROMPT}'; {fpath_line}; autoload -Uz compinit; compinit -D")


def test_zsh_completes_on_the_first_tab(home: dict[str, str]) -> None:
    """As a user sets it up: the install's hint line in ~/.zshrc before compinit, then the
    very first Tab of the session completes (compinit autoloads _aios on that Tab)."""
    out = _install("zsh", home)
    fpath_line = out.split("before compinit: ", 1)[1].strip()
    assert fpath_line == "fpath=($XDG_DATA_HOME/zsh/site-functions $fpath)"
    with _zsh(home) as term:
        _zsh_compinit(term, fpath_line)
        for typed, words in CASES:
            assert _directory_word(term.tab(typed)) == words, typed


def test_zsh_completes_when_sourced(home: dict[str, str]) -> None:
    """``source <(aios-units completion zsh)`` after compinit registers the function."""
    with _zsh(home) as term:
        _zsh_compinit(term, "true")
        term.run("source <(aios-units completion zsh)")
        assert term.tab("aios-units inst") == ["aios-units", "install"]
        assert term.tab("aios-aggregate --scope=h") == ["aios-aggregate", "--scope=host-local"]


# -- fish ---------------------------------------------------------------------------------
def _fish_complete(env: dict[str, str], line: str) -> list[str]:
    proc = subprocess.run(
        ["fish", "-c", "complete -C $argv[1]", line],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(env["HOME"]) / "work",
        check=True,
    )
    return [candidate.split("\t")[0] for candidate in proc.stdout.splitlines()]


def test_fish_loads_each_command_by_name(home: dict[str, str]) -> None:
    _need("fish")
    _install("fish", home)
    for typed, words in CASES:
        # fish offers the candidates for the last word, dequoted; it quotes what it inserts.
        expected = words[-1] + ("/" if words[-1].endswith(("my dir", "other")) else "")
        got = _fish_complete(home, typed)
        assert expected in got and len(got) == 1, (typed, got)
    assert sorted(_fish_complete(home, "aios-units install ag")) == ["agent-aggregate", "aggregate"]
    assert sorted(_fish_complete(home, "aios-run ")) == sorted(JOBS)
    assert _fish_complete(home, "aios-check-private --j") == ["--json"]


def test_zsh_install_follows_xdg_data_home(home: dict[str, str]) -> None:
    out = _install("zsh", home)
    assert (Path(home["XDG_DATA_HOME"]) / "zsh" / "site-functions" / "_aios").is_file()
    assert "$XDG_DATA_HOME/zsh/site-functions" in out and home["HOME"] not in out
    default = {k: v for k, v in home.items() if k != "XDG_DATA_HOME"}
    out = _install("zsh", default)
    assert (Path(home["HOME"]) / ".local" / "share" / "zsh" / "site-functions" / "_aios").is_file()
    assert "fpath=(~/.local/share/zsh/site-functions $fpath)" in out


def test_bash_install_follows_bash_completion_user_dir(home: dict[str, str]) -> None:
    own = Path(home["HOME"]) / "bc"
    _install("bash", {**home, "BASH_COMPLETION_USER_DIR": str(own)})
    assert sorted(p.name for p in (own / "completions").iterdir()) == sorted(COMMANDS)


def test_one_interpreter_start_per_tab(home: dict[str, str], tmp_path: Path) -> None:
    """A Tab runs the command once, with nothing heavy imported (see test_spec)."""
    log = tmp_path / "calls"
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    for name in COMMANDS:
        path = wrapper / name
        path.write_text(f'#!/bin/sh\necho call >> "{log}"\nexec "{BIN / name}" "$@"\n')
        path.chmod(0o755)
    env = {**home, "PATH": f"{wrapper}:{home['PATH']}"}
    _need("fish")
    _install("fish", env)
    assert _fish_complete(env, "aios-units inst") == ["install"]
    assert log.read_text().count("call") == 1
    os.unlink(log)
    _fish_complete(env, "aios-run --project-root my")
    assert log.read_text().count("call") == 1
