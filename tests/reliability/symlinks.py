"""Scenario 12: symlinks planted on the scheduler root, its directories, the state, lock,
holder and log files and the generated data: the tool refuses to follow them and the
files they point at keep their bytes, mode and directory listing."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

from aios_systemd.context import Context
from aios_systemd.data import writer
from aios_systemd.registry import ScopeKind, WriteScope
from tests.data.support import host_branch
from tests.reliability.common import Attempt, Counts, Tally, clean_env, cli_problems, run, testjob_argv
from tests.support.safe_dirs import safe_directory

TARGETS = (
    "scheduler root",
    "state dir",
    "locks dir",
    "logs dir",
    "state file",
    "lock file",
    "holder file",
    "log file",
    "rotated log",
    "data lock",
    "live data",
)


def _fingerprint(victim: Path) -> object:
    st = os.lstat(victim)
    if stat.S_ISDIR(st.st_mode):
        return (st.st_mode, sorted(os.listdir(victim)))
    return (st.st_mode, victim.read_bytes())


def one(a: Attempt, root: Path, target: str) -> None:
    sched, project, elsewhere = root / "sched", root / "project", root / "elsewhere"
    for d in (project, elsewhere):
        d.mkdir(parents=True)
    env = clean_env(AIOS_SCHEDULER_ROOT=str(sched), AIOS_PROJECT_ROOT=str(project), HOME=str(root))
    ctx = Context.from_environ(env, project_root=project)
    first = run(testjob_argv("ok"), env, cwd=project)  # a normal tree to plant into
    a.check(first.returncode == 0, "setup run failed")
    victim_dir = elsewhere / "dir"
    victim_dir.mkdir(mode=0o755)
    (victim_dir / "keep").write_text("keep")
    victim_file = elsewhere / "precious"
    victim_file.write_bytes(b'{"precious": true}\n')
    victim_file.chmod(0o644)
    links = {
        "scheduler root": (sched, victim_dir),
        "state dir": (ctx.state_dir, victim_dir),
        "locks dir": (ctx.locks_dir, victim_dir),
        "logs dir": (ctx.logs_dir, victim_dir),
        "state file": (ctx.state_path("ok"), victim_file),
        "lock file": (ctx.lock_path("ok"), victim_file),
        "holder file": (ctx.lock_path("ok").with_suffix(".holder.json"), victim_file),
        "log file": (ctx.log_path("ok"), victim_file),
        "rotated log": (ctx.log_path("ok").with_name("ok.jsonl.1"), victim_file),
        "data lock": (ctx.data_lock_path, victim_file),
        "live data": (ctx.live_data_path, victim_file),
    }
    link, victim = links[target]
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        os.rename(link, link.with_name(link.name + ".moved"))
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(victim)
    before = _fingerprint(victim)
    if target == "rotated log":
        # Make the next append rotate onto the planted link.
        ctx.log_path("ok").write_bytes(b'{"pad": "' + b"x" * (1 << 20) + b'"}\n')
    if target in ("data lock", "live data"):
        result = writer.write_live_data_for_scope(ctx, WriteScope(ScopeKind.HOST_LOCAL), host_branch(), lock_timeout=2)
        # A symlink at the data path is refused before anything is read through it.
        a.check(result.outcome in ("io-error", "unusable", "written"), f"{target}: writer outcome {result.outcome}")
    else:
        done = run(testjob_argv("ok"), env, cwd=project)
        for problem in cli_problems(done, allowed=(0, 1, 2)):
            a.lose(f"{target}: {problem}")
    a.check(_fingerprint(victim) == before, f"{target}: written through the symlink")
    if not link.is_symlink():
        a.note(f"{target}: the planted link was removed (not followed)")
    a.note("refused" if (target not in ("data lock", "live data") and done.returncode != 0) else "run went on safely")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("symlinks")
    with safe_directory("campaign-symlink-") as base:
        n = 0
        for _round in range(counts.symlink_rounds):
            for target in rng.sample(TARGETS, len(TARGETS)):
                n += 1
                with tally.attempt() as a:
                    one(a, base / f"t{n}", target)
    return tally
