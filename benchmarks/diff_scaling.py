"""How ``aios-units diff`` scales with the units a user manager has loaded.

For each size N it starts a private ``systemd --user`` manager (as the tests do), installs
the default jobs with ``aios-units install`` (our stamped units), adds foreign timers (each
with its service, enabled and started) until N timers are loaded, then times whole-process
``aios-units diff --json`` runs and reads the number of D-Bus calls each made.  References
measured in the same run: bare ``python -c pass`` and ``systemctl --user list-timers --all``.

    .venv/bin/python benchmarks/diff_scaling.py                 # N = 500
    .venv/bin/python benchmarks/diff_scaling.py --timers 50,500,2000 --repeat 15
    .venv/bin/python benchmarks/diff_scaling.py --quick          # CI: proves it works

Must run as a user allowed to ``unshare -m`` (root in the project VM or CI).

The building blocks (interleaved whole-process timing, a sandbox with our units installed
in a private manager, foreign timers) are shared with ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aios_systemd.registry import REGISTRY  # noqa: E402
from tests.support.safe_dirs import safe_directory  # noqa: E402
from tests.support.user_manager import PrivateManager, UnitsSandbox, private_manager  # noqa: E402

BIN = Path(sys.executable).parent
FOREIGN_SERVICE = "[Service]\nType=oneshot\nExecStart=/bin/true\n"
FOREIGN_TIMER = "[Timer]\nOnCalendar=*-*-* {h:02d}:{m:02d}:00\n[Install]\nWantedBy=timers.target\n"
LIST_TIMERS = ("systemctl", "--user", "list-timers", "--all", "--no-pager")


@dataclass(frozen=True)
class Cmd:
    """One whole-process command to time."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    ok: tuple[int, ...] = (0,)


@dataclass
class Sample:
    runs_ms: list[float] = field(default_factory=list)
    stdout: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)


def _run_once(cmd: Cmd) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(list(cmd.argv), env=dict(cmd.env), cwd=cmd.cwd, capture_output=True, text=True, timeout=300)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode not in cmd.ok:
        raise RuntimeError(f"{' '.join(cmd.argv)[:200]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def time_interleaved(cmds: Mapping[str, Cmd], repeat: int, warmup: int = 1) -> dict[str, Sample]:
    """Median-ready samples of whole-process runs.  Commands take turns round by round, so
    a figure and the references it is divided by see the same machine load and caches."""
    samples = {name: Sample() for name in cmds}
    for _ in range(warmup):
        for cmd in cmds.values():
            _run_once(cmd)
    for _ in range(repeat):
        for name, cmd in cmds.items():
            ms, out = _run_once(cmd)
            samples[name].runs_ms.append(ms)
            samples[name].stdout = out
    return samples


def default_jobs() -> list[str]:
    return [job.id for job in REGISTRY if job.enabled_by_default]


def load_foreign(pm: PrivateManager, count: int, first: int = 0) -> None:
    """Foreign timers ``first .. first+count-1`` (with their services), enabled and started."""
    names = []
    for i in range(first, first + count):
        (pm.unit_dir / f"bench-foreign-{i}.service").write_text(FOREIGN_SERVICE)
        (pm.unit_dir / f"bench-foreign-{i}.timer").write_text(FOREIGN_TIMER.format(h=i % 24, m=i % 60))
        names.append(f"bench-foreign-{i}.timer")
    if not names:
        return
    with pm.connect() as mgr:
        mgr.reload()
        for start in range(0, len(names), 200):
            mgr.enable(names[start : start + 200])
        for name in names:
            mgr.start(name)
        # Let the start jobs drain so every run below sees the same, settled manager.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(u.active_state == "active" for u in mgr.units(names[-5:]).values()):
                break
            time.sleep(0.05)


@dataclass
class Sandbox(UnitsSandbox):
    """The tests' units sandbox (manager, project, scheduler root and their ``env``) with
    our default jobs installed by ``bin_dir/aios-units``."""

    bin_dir: Path = BIN
    jobs: list[str] = field(default_factory=list)
    foreign: int = 0

    @property
    def timers(self) -> int:
        return len(self.jobs) + self.foreign

    def grow_to(self, total_timers: int) -> None:
        """Add foreign timers until ``total_timers`` are loaded (never removes any)."""
        wanted = max(0, total_timers - len(self.jobs))
        if wanted > self.foreign:
            load_foreign(self.pm, wanted - self.foreign, first=self.foreign)
            self.foreign = wanted

    def cmd(self, *argv: str, ok: tuple[int, ...] = (0,), extra_env: Mapping[str, str] | None = None) -> Cmd:
        return Cmd(list(argv), {**self.env, **dict(extra_env or {})}, self.project, ok)


@contextlib.contextmanager
def sandbox(bin_dir: Path = BIN, jobs: Sequence[str] | None = None) -> Iterator[Sandbox]:
    """Manager, project and scheduler root, all removed on exit even on failure."""
    with safe_directory("bench-project-") as project, safe_directory("bench-sched-") as sched, private_manager() as pm:
        box = Sandbox(pm, project, sched / "root", bin_dir, list(jobs if jobs is not None else default_jobs()))
        done = subprocess.run(
            [str(bin_dir / "aios-units"), "install", *box.jobs],
            env=box.env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"install failed: {done.stdout}{done.stderr}")
        yield box


def measure(total_timers: int, repeat: int, bin_dir: Path = BIN) -> dict[str, object]:
    with sandbox(bin_dir) as box:
        box.grow_to(total_timers)
        samples = time_interleaved(
            {
                "diff": box.cmd(str(bin_dir / "aios-units"), "diff", "--json", ok=(0, 1)),
                "floor": box.cmd(str(bin_dir / "python"), "-c", "pass"),
                "list": box.cmd(*LIST_TIMERS),
            },
            repeat,
        )
        doc = json.loads(samples["diff"].stdout)
        return {
            "timers": box.timers,
            "ours": len(box.jobs) * 2,
            "diff_ms": samples["diff"].median_ms,
            "dbus_calls": doc["dbusCalls"],
            "state": doc["state"],
            "python_pass_ms": samples["floor"].median_ms,
            "list_timers_ms": samples["list"].median_ms,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timers", default="500", help="comma-separated timer counts (default 500)")
    parser.add_argument("--repeat", type=int, default=9, help="whole-process runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the script works")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    sizes = [10] if args.quick else [int(n) for n in args.timers.split(",")]
    repeat = 2 if args.quick else args.repeat
    rows = [measure(n, repeat) for n in sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'timers':>7} {'ours':>5} {'diff ms':>9} {'D-Bus calls':>12} {'python -c pass':>15} "
        f"{'list-timers':>12} {'diff/floor':>11}"
    )
    for r in rows:
        print(
            f"{r['timers']:>7} {r['ours']:>5} {r['diff_ms']:>9.1f} {r['dbus_calls']:>12} "
            f"{r['python_pass_ms']:>15.1f} {r['list_timers_ms']:>12.1f} "
            f"{r['diff_ms'] / r['python_pass_ms']:>10.1f}x"
        )  # type: ignore[operator]
    return 0


if __name__ == "__main__":
    sys.exit(main())
