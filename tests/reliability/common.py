"""Shared pieces of the reliability campaign: the tally, the counts, real-process helpers."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYTHON = sys.executable


@dataclass
class Tally:
    """Figures of one scenario.  A try is *held* when every invariant held; otherwise it
    counts as *lost* (data lost, torn, stuck, a crash, a survivor) and/or *leaked*
    (a canary or a private path showed up)."""

    name: str
    tries: int = 0
    held: int = 0
    lost: int = 0
    leaked: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Attempt]:
        a = Attempt()
        try:
            yield a
        except Exception as exc:  # noqa: BLE001 - a harness crash is a failed try, with its type
            a.lose(f"harness error {type(exc).__name__}: {str(exc)[:160]}")
        self.record(a)

    def record(self, a: Attempt) -> None:
        self.tries += 1
        if a.lost_reasons:
            self.lost += 1
        if a.leak_reasons:
            self.leaked += 1
        if not a.lost_reasons and not a.leak_reasons:
            self.held += 1
        for reason in (*a.lost_reasons, *a.leak_reasons):
            self.notes[reason] += 1
        for info in a.info:
            self.notes[info] += 1

    @property
    def ok(self) -> bool:
        return self.tries > 0 and self.held == self.tries and self.lost == 0 and self.leaked == 0

    def note_text(self, limit: int = 3) -> str:
        return "; ".join(f"{text} x{n}" if n > 1 else text for text, n in self.notes.most_common(limit))

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.name,
            "tries": self.tries,
            "held": self.held,
            "lost": self.lost,
            "leaked": self.leaked,
            "seconds": round(self.seconds, 1),
            "notes": dict(self.notes),
        }


@dataclass
class Attempt:
    lost_reasons: list[str] = field(default_factory=list)
    leak_reasons: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)  # neutral observations (counted, not failures)

    def lose(self, reason: str) -> None:
        self.lost_reasons.append(reason)

    def leak(self, reason: str) -> None:
        self.leak_reasons.append(reason)

    def check(self, ok: bool, reason: str) -> bool:
        if not ok:
            self.lose(reason)
        return ok

    def note(self, text: str) -> None:
        self.info.append(text)


T = TypeVar("T")


def run_in_lanes(tally: Tally, plan: Sequence[T], lanes: int, one: Callable[[int, Attempt, T], None]) -> None:
    """Run the tries of ``plan`` in ``lanes`` parallel lanes (try ``i`` in lane ``i % lanes``,
    each lane's tries one after another), recording each; a harness crash is a failed try."""

    def lane(index: int) -> list[Attempt]:
        done = []
        for item in plan[index::lanes]:
            a = Attempt()
            try:
                one(index, a, item)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed try, with its type
                a.lose(f"harness error {type(exc).__name__}: {str(exc)[:160]}")
            done.append(a)
        return done

    with ThreadPoolExecutor(lanes) as pool:
        for attempts in pool.map(lane, range(lanes)):
            for a in attempts:
                tally.record(a)


@dataclass(frozen=True)
class Counts:
    """How many tries each scenario makes."""

    runner_kills: int
    writer_kills: int
    tree_timeouts: int
    tree_stops: int
    manager_gone: int
    full_disk: int
    load_same: int  # concurrent runs of the same job
    load_same_rounds: int
    load_mixed_rounds: int
    install_races: int
    config_docs: int
    config_status: int
    injection: int
    unsafe_rounds: int
    foreign_rounds: int
    symlink_rounds: int
    privacy_rounds: int
    umask_tries: int
    foreign_file_rounds: int
    sigterms: int  # SIGTERMs sent to aios-run at random moments
    artifact_docs: int  # generated data files with unknown keys, newer versions, junk
    workers: int = 2


QUICK = Counts(
    runner_kills=16,
    writer_kills=12,
    tree_timeouts=1,
    tree_stops=1,
    manager_gone=3,
    full_disk=3,
    load_same=12,
    load_same_rounds=1,
    load_mixed_rounds=1,
    install_races=1,
    config_docs=400,
    config_status=3,
    injection=30,
    unsafe_rounds=1,
    foreign_rounds=1,
    symlink_rounds=1,
    privacy_rounds=1,
    umask_tries=2,
    foreign_file_rounds=1,
    sigterms=24,
    artifact_docs=40,
)
FULL = Counts(
    runner_kills=200,
    writer_kills=200,
    tree_timeouts=8,
    tree_stops=8,
    manager_gone=20,
    full_disk=20,
    load_same=50,
    load_same_rounds=2,
    load_mixed_rounds=3,
    install_races=10,
    config_docs=10_000,
    config_status=40,
    injection=120,
    unsafe_rounds=2,
    foreign_rounds=3,
    symlink_rounds=3,
    privacy_rounds=2,
    umask_tries=30,
    foreign_file_rounds=4,
    sigterms=200,
    artifact_docs=400,
)


# -- processes ----------------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """The campaign's environment for child processes: no AIOS_/AI_OS_ leftovers from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "AI_OS_", "INVOCATION_ID"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def testjob_argv(job: str, *args: str) -> list[str]:
    """The real aios-run code path with the test registry."""
    return [PYTHON, "-m", "tests.support.testjobs", job, *args]


def run(
    argv: list[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 120,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=dict(env),
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=stdin.decode() if stdin else None,
    )


def cli_problems(done: subprocess.CompletedProcess[str], *, allowed: Iterable[int]) -> list[str]:
    """What is wrong with how a CLI ended: an unexpected code, a traceback, an error without a hint."""
    problems = []
    if done.returncode not in set(allowed):
        problems.append(f"exit {done.returncode}")
    if "Traceback" in done.stderr or "Traceback" in done.stdout:
        problems.append("traceback printed")
    if done.returncode not in (0,) and "error:" in done.stderr and "hint:" not in done.stderr:
        problems.append("error without a hint")
    return problems


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pids_with_env(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (every process a try started does)."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read() and pid_alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """The pids still alive after ``timeout``."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if pid_alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 9)


# -- files ----------------------------------------------------------------------------------
def torn_log_lines(path: Path) -> int:
    """JSON-lines log lines that do not parse (a missing final newline counts as torn)."""
    torn = 0
    for log in (path, path.with_name(path.name + ".1")):
        try:
            data = log.read_bytes()
        except FileNotFoundError:
            continue
        if data and not data.endswith(b"\n"):
            torn += 1
        for line in data.splitlines():
            try:
                json.loads(line)
            except ValueError:
                torn += 1
    return torn


def tmp_leftovers(directory: Path) -> list[str]:
    try:
        return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))
    except FileNotFoundError:
        return []


def rng_for(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


def snapshot(paths: Iterable[Path]) -> dict[Path, bytes | None]:
    out: dict[Path, bytes | None] = {}
    for p in paths:
        try:
            out[p] = p.read_bytes()
        except OSError:
            out[p] = None
    return out
