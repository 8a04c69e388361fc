"""Scenario 5: a full disk.  A small tmpfs (in a private mount namespace, so it vanishes
with the try) is the scheduler root or the project's data directory, filled up to a random
few bytes: runs fail with a clear error (hint, no traceback) or succeed, and the previous
state and data files stay intact and valid."""

from __future__ import annotations

import errno
import json
import os
import random
import sys
from pathlib import Path

from tests.reliability.common import (
    BIN,
    PYTHON,
    REPO,
    Attempt,
    Counts,
    Tally,
    clean_env,
    cli_problems,
    run,
    testjob_argv,
)
from tests.support.safe_dirs import safe_directory

_MOUNT = 'mount --make-rprivate / && mount -t tmpfs -o size=4m,mode=0700 tmpfs "$1" && shift && exec "$@"'


def _fill(mount: Path, free: int) -> None:
    filler = mount / "filler"
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - free))


def _child(kind: str, mount: Path, outside: Path, free: int) -> list[str]:
    """Runs inside the namespace; returns the problems found."""
    from aios_systemd import state as state_mod
    from aios_systemd.context import Context
    from aios_systemd.data import writer

    problems: list[str] = []
    sched = mount if kind == "sched" else outside / "sched"
    project = outside / "project"
    env = clean_env(AIOS_SCHEDULER_ROOT=str(sched), AIOS_PROJECT_ROOT=str(project), HOME=str(outside))
    ctx = Context.from_environ(env, project_root=project)
    if kind == "sched":
        if run(testjob_argv("ok"), env, cwd=project).returncode != 0:
            return ["setup run failed"]
        before = ctx.state_path("ok").read_bytes()
        _fill(mount, free)
        done = run(testjob_argv("ok"), env, cwd=project)
        problems += cli_problems(done, allowed=(0, 1, 2))
        if done.returncode != 0 and "hint:" not in done.stderr:
            problems.append("failed without a hint")
        read = state_mod.read(ctx, "ok")
        if read.record is None or (done.returncode != 0 and ctx.state_path("ok").read_bytes() != before):
            problems.append("previous state lost or invalid")
    else:
        first = run([str(BIN / "aios-run"), "agent-aggregate"], env, cwd=project, timeout=300)
        if first.returncode != 0 or not ctx.live_data_path.exists():
            return [f"setup aggregate failed ({first.returncode})"]
        before = ctx.live_data_path.read_bytes()
        _fill(mount, free)
        done = run([str(BIN / "aios-run"), "agent-aggregate"], env, cwd=project, timeout=300)
        problems += cli_problems(done, allowed=(0, 1))
        _, source = writer.read_live_data(ctx)
        if source != "live":
            problems.append("artifact invalid after the full disk")
        elif done.returncode != 0 and ctx.live_data_path.read_bytes() != before:
            problems.append("artifact changed by a failed run")
        # A refused data write is a failed run (exit 1): its summary on stdout names the cause.
        said = done.stdout + done.stderr
        if done.returncode != 0 and not any(s in said for s in ("hint:", "No space left", "free some space")):
            problems.append("refused write reported without its cause")
    return problems


def one(a: Attempt, rng: random.Random, base: Path, n: int) -> None:
    kind = rng.choice(["sched", "data"])
    outside = base / f"t{n}"
    project = outside / "project"
    mount = outside / "sched" if kind == "sched" else project / "src" / "data"
    mount.mkdir(parents=True)
    project.mkdir(parents=True, exist_ok=True)
    free = rng.choice([0, 0, 100, 700, 1500, 4096, 20000])
    argv = [
        "unshare",
        "-m",
        "sh",
        "-c",
        _MOUNT,
        "sh",
        str(mount),
        PYTHON,
        "-m",
        "tests.reliability.full_disk",
        kind,
        str(mount),
        str(outside),
        str(free),
    ]
    done = run(argv, clean_env(), cwd=REPO, timeout=600)
    try:
        problems = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        a.lose(f"namespace child failed: {done.stderr.strip()[-200:]}")
        return
    for p in problems:
        a.lose(f"{kind}: {p}")
    a.note(f"{kind} full")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("full-disk")
    with safe_directory("campaign-disk-") as base:
        for n in range(counts.full_disk):
            with tally.attempt() as a:
                one(a, random.Random(rng.random()), base, n)
    return tally


if __name__ == "__main__":
    kind_, mount_, outside_, free_ = sys.argv[1:5]
    print(json.dumps(_child(kind_, Path(mount_), Path(outside_), int(free_))))
