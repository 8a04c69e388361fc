"""Scenario 14: every command from a clean slate under ``umask 000`` (and other umasks).

One try starts from a home with nothing in it (no ``~/.config``, no ``~/.local``, a project
with no ``src/data`` or ``logs``) and runs, in a random order, ``aios-run agent-aggregate``
on the default scheduler root, ``aios-aggregate``, ``aios-status``, ``aios-units completion
--install`` for one shell and ``aios-units install`` against a private user manager whose
unit directory does not exist yet.  Invariant: no directory or file any of them created is
writable by anyone but the owner; every directory it created has exactly the reviewed
mode (0700 under the XDG directories and the scheduler root, 0755 for ``src/data``) and
every file its own (0600 private, 0644 shareable), whatever the umask.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

from tests.reliability.common import BIN, Attempt, Counts, Tally, clean_env, cli_problems, run
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, private_manager

UMASKS = (0o000, 0o000, 0o000, 0o002, 0o007, 0o077)  # mostly the one that used to leak
SHELLS = ("bash", "zsh", "fish")
# Directories made here that the toolkit did not make (the manager's own enable link).
NOT_OURS = ("config/systemd/user/timers.target.wants",)
PROJECT_DIRS = {"project/src": 0o755, "project/src/data": 0o755, "project/logs": 0o700}
SHAREABLE = (".service", ".timer", ".fish", "/_aios")  # unit files and completion scripts


def _tree(base: Path, prefix: str = "") -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            out[prefix + str(path.relative_to(base))] = os.lstat(path).st_mode
    return out


def _wanted(rel: str, mode: int) -> int:
    if stat.S_ISDIR(mode):
        return PROJECT_DIRS.get(rel, 0o700)  # 0700: under the XDG directories and the scheduler root
    shareable = rel.endswith(SHAREABLE) or "/bash-completion/completions/" in rel
    return 0o644 if shareable else 0o600


def _shape(rel: str) -> str:
    # Notes group by shape: run ids and temporary names vary from try to try.
    return "/".join("*" if any(c.isdigit() for c in p) and "." not in p[-8:] else p for p in rel.split("/"))


def _check(a: Attempt, before: dict[str, int], after: dict[str, int], mask: int) -> int:
    checked = 0
    for rel, mode in after.items():
        if rel in before or stat.S_ISLNK(mode) or rel.startswith(NOT_OURS):
            continue
        checked += 1
        bits, want = stat.S_IMODE(mode), _wanted(rel, mode)
        if bits & 0o022:
            a.lose(f"umask {mask:03o}: {_shape(rel)} was created writable by others ({bits:o})")
        elif bits != want:
            a.lose(f"umask {mask:03o}: {_shape(rel)} is {bits:o}, not {want:o}")
    return checked


def _run_umask(argv: list[str], env: dict[str, str], cwd: Path, mask: int) -> subprocess.CompletedProcess[str]:
    old = os.umask(mask)  # the child inherits it, as from a user's shell
    try:
        return run(argv, env, cwd=cwd, timeout=180)
    finally:
        os.umask(old)


def one(a: Attempt, base: Path, pm: PrivateManager, rng: random.Random) -> None:
    mask = rng.choice(UMASKS)
    home, project, config = base / "home", base / "project", pm.config_home
    home.mkdir(parents=True)
    project.mkdir()
    shutil.rmtree(config / "systemd", ignore_errors=True)  # install must make the unit directory itself
    env = clean_env()
    env.update(pm.env)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),  # the default scheduler root: parents made too
        AIOS_PROJECT_ROOT=str(project),
    )
    shell = rng.choice(SHELLS)
    steps = [
        ("aios-run", [str(BIN / "aios-run"), "agent-aggregate"]),
        ("aios-aggregate", [str(BIN / "aios-aggregate"), "--scope", "host-local"]),
        ("aios-status", [str(BIN / "aios-status"), "--json"]),
        ("completion", [str(BIN / "aios-units"), "completion", shell, "--install"]),
        ("install", [str(BIN / "aios-units"), "install", "agent-aggregate"]),
    ]
    rng.shuffle(steps)
    before = _tree(base) | _tree(config, "config/")
    for name, argv in steps:
        for problem in cli_problems(_run_umask(argv, env, project, mask), allowed=(0,)):
            a.lose(f"{name}: {problem}")
    checked = _check(a, before, _tree(base) | _tree(config, "config/"), mask)
    a.check(checked >= 20, f"only {checked} new paths: a command wrote less than it should")
    a.check((config / "systemd" / "user" / "ai-os-agent-aggregate.service").is_file(), "install wrote no unit")
    a.note(f"umask {mask:03o}")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("umask-000")
    with private_manager() as pm, safe_directory("campaign-umask-") as base:
        for n in range(counts.umask_tries):
            with tally.attempt() as a:
                one(a, base / f"t{n}", pm, rng)
            if pm.unit_dir.is_dir():
                pm.clean()
    return tally
