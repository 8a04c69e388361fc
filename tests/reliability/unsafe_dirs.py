"""Scenario 10: a corpus of unsafe working directories, every one refused with a reason
(and a hint), without the path in the message; a sample also through ``aios-units render``."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aios_systemd.errors import UnsafePathError
from aios_systemd.units.safety import check_working_directory
from tests.reliability.common import BIN, PYTHON, REPO, Attempt, Counts, Tally, clean_env, cli_problems, run
from tests.support.groups import give_to_group, real_group
from tests.support.safe_dirs import safe_directory

OTHER_UID = 54321


@contextlib.contextmanager
def corpus(base: Path, shared: int) -> Iterator[list[tuple[str, Path | str, Path]]]:
    """(label, path, home) triples; real directories where the case needs one.  ``shared``
    is a group with another member (the owner's own, user-private group is no one else)."""
    home = base / "home"
    home.mkdir()
    made: list[Path] = []

    def d(*parts: str, mode: int = 0o700) -> Path:
        p = base.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(mode)
        return p

    real = d("real", "project")
    (base / "link").symlink_to(base / "real")
    (base / "selflink").symlink_to(real)
    (base / "dangling").symlink_to(base / "nowhere")
    open_parent = d("open", "project")
    (base / "open").chmod(0o777)
    group_parent = d("grp", "project")
    give_to_group(base / "grp", shared, 0o770)
    group_itself = d("grpself", mode=0o700)
    give_to_group(group_itself, shared, 0o2775)
    world = d("world", mode=0o777)
    theirs = d("theirs", "project")
    os.chown(base / "theirs", OTHER_UID, OTHER_UID)
    foreign = d("foreign")
    os.chown(foreign, OTHER_UID, OTHER_UID)
    (base / "file").write_text("x")
    for parent in ("/tmp", "/var/tmp", "/dev/shm", "/run"):
        made.append(Path(tempfile.mkdtemp(prefix="aios-campaign-", dir=parent)))
    cases: list[tuple[str, Path | str, Path]] = [
        ("symlink on the path", base / "link" / "project", home),
        ("symlink itself", base / "selflink", home),
        ("dangling symlink", base / "dangling", home),
        ("world-writable ancestor, no sticky", open_parent, home),
        ("ancestor writable by a shared group", group_parent, home),
        ("writable by a shared group itself", group_itself, home),
        ("world-writable itself", world, home),
        ("ancestor of another owner", theirs / "project", home),
        ("owned by another user", foreign, home),
        ("not a directory", base / "file", home),
        *((f"under {p.parent}", p, home) for p in made),
        ("/tmp itself", Path("/tmp"), home),
        ("/run itself", Path("/run"), home),
        ("/proc", Path("/proc/self"), home),
        ("/sys", Path("/sys/kernel"), home),
        ("root directory", Path("/"), home),
        ("home itself", home, home),
        ("relative", "relative/project", home),
        ("missing", base / "missing", home),
        ("newline", str(d("nl")) + "/a\nExecStart=x", home),
        ("not normalized", str(real) + "/../project", home),
        ("too long", "/" + "/".join(["d" * 200] * 25), home),
    ]
    try:
        yield cases
    finally:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)


def tmpfs_case(a: Attempt, target: Path) -> None:
    """A tmpfs mounted on a safe-looking path, in a private mount namespace."""
    target.mkdir()
    code = (
        "import sys; from pathlib import Path; from aios_systemd.units.safety import check_working_directory;"
        "check_working_directory(Path(sys.argv[1]), home=Path('/nonexistent-home'))"
    )
    script = 'mount --make-rprivate / && mount -t tmpfs -o mode=0700 tmpfs "$1" && exec "$2" -c "$3" "$1"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(target), PYTHON, code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    a.check("UnsafePathError" in done.stderr and "memory filesystem" in done.stderr, "tmpfs mount accepted")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("unsafe-dirs")
    for _round in range(counts.unsafe_rounds):
        with (
            safe_directory("campaign-unsafe-") as base,
            real_group(other_member=True) as shared,
            corpus(base, shared) as cases,
        ):
            for label, path, home in cases:
                with tally.attempt() as a:
                    try:
                        check_working_directory(path, home=home)  # type: ignore[arg-type]
                        a.lose(f"accepted: {label}")
                    except UnsafePathError as err:
                        a.check(bool(err.message and err.hint), f"no reason/hint: {label}")
                        a.check(str(path) not in err.message + (err.hint or ""), f"path echoed: {label}")
            with tally.attempt() as a:
                tmpfs_case(a, base / "mounted")
            # The same refusals through the real CLI, for a sample.
            env = clean_env(
                AIOS_SCHEDULER_ROOT=str(base / "sched"), AIOS_PROJECT_ROOT=str(REPO), HOME=str(base / "home")
            )
            # The CLI takes the project root as a shell does a path argument: relative to the
            # current directory and lexically normalized, and the unit pins exactly the path
            # it checked; those two spellings are the function's cases above.
            cli_cases = [c for c in cases if c[0] not in ("relative", "not normalized")]
            for label, path, _home in rng.sample(cli_cases, 4):
                with tally.attempt() as a:
                    done = run(
                        [
                            str(BIN / "aios-units"),
                            "render",
                            "agent-aggregate",
                            "--dry-run",
                            "--project-root",
                            str(path),
                        ],
                        env,
                        timeout=60,
                    )
                    a.check(done.returncode != 0, f"CLI accepted: {label}")
                    for problem in cli_problems(done, allowed=(1, 2)):
                        a.lose(f"CLI {label}: {problem}")
                    a.check("error:" in done.stderr and "hint:" in done.stderr, f"CLI no error/hint: {label}")
    return tally
