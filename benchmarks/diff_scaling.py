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
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aios_systemd.registry import REGISTRY  # noqa: E402
from tests.support.safe_dirs import safe_directory  # noqa: E402
from tests.support.user_manager import PrivateManager, private_manager  # noqa: E402

BIN = Path(sys.executable).parent
FOREIGN_SERVICE = "[Service]\nType=oneshot\nExecStart=/bin/true\n"
FOREIGN_TIMER = "[Timer]\nOnCalendar=*-*-* {h:02d}:{m:02d}:00\n[Install]\nWantedBy=timers.target\n"


def _median_ms(argv: list[str], env: dict[str, str], cwd: Path, repeat: int,
               ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode not in ok:
            raise SystemExit(f"{argv[0]} exited {done.returncode}: {done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(times), out


def _load_foreign(pm: PrivateManager, count: int) -> None:
    names = []
    for i in range(count):
        (pm.unit_dir / f"bench-foreign-{i}.service").write_text(FOREIGN_SERVICE)
        (pm.unit_dir / f"bench-foreign-{i}.timer").write_text(FOREIGN_TIMER.format(h=i % 24, m=i % 60))
        names.append(f"bench-foreign-{i}.timer")
    with pm.connect() as mgr:
        mgr.reload()
        for start in range(0, len(names), 200):
            mgr.enable(names[start:start + 200])
        for name in names:
            mgr.start(name)
        # Let the start jobs drain so every run below sees the same, settled manager.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(u.active_state == "active" for u in mgr.units(names[-5:]).values()):
                break
            time.sleep(0.05)


def measure(total_timers: int, repeat: int) -> dict[str, object]:
    with safe_directory("bench-project-") as project, safe_directory("bench-sched-") as sched, \
            private_manager() as pm:
        env = {**pm.env, "AIOS_PROJECT_ROOT": str(project), "AIOS_SCHEDULER_ROOT": str(sched / "root")}
        default_jobs = [job.id for job in REGISTRY if job.enabled_by_default]
        done = subprocess.run([str(BIN / "aios-units"), "install", *default_jobs], env=env, cwd=project,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"install failed: {done.stdout}{done.stderr}")
        foreign = max(0, total_timers - len(default_jobs))
        _load_foreign(pm, foreign)
        diff_ms, out = _median_ms([str(BIN / "aios-units"), "diff", "--json"], env, project, repeat, (0, 1))
        doc = json.loads(out)
        floor_ms, _ = _median_ms([sys.executable, "-c", "pass"], env, project, repeat)
        list_ms, _ = _median_ms(["systemctl", "--user", "list-timers", "--all", "--no-pager"], env, project, repeat)
        return {
            "timers": len(default_jobs) + foreign,
            "ours": len(default_jobs) * 2,
            "diff_ms": diff_ms,
            "dbus_calls": doc["dbusCalls"],
            "state": doc["state"],
            "python_pass_ms": floor_ms,
            "list_timers_ms": list_ms,
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
    print(f"{'timers':>7} {'ours':>5} {'diff ms':>9} {'D-Bus calls':>12} {'python -c pass':>15} "
          f"{'list-timers':>12} {'diff/floor':>11}")
    for r in rows:
        print(f"{r['timers']:>7} {r['ours']:>5} {r['diff_ms']:>9.1f} {r['dbus_calls']:>12} "
              f"{r['python_pass_ms']:>15.1f} {r['list_timers_ms']:>12.1f} "
              f"{r['diff_ms'] / r['python_pass_ms']:>10.1f}x")  # type: ignore[operator]
    return 0


if __name__ == "__main__":
    sys.exit(main())
