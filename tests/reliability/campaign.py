"""The reliability and abuse campaign (issue 5): faults, load and hostile input, in figures.

    python -m tests.reliability.campaign [--quick|--full] [--scenario NAME ...] [--seed N] [--json]

Every scenario runs many tries against real processes, the real runner, the real writer
and a real private ``systemd --user`` manager, and counts the tries where every invariant
held, where something was lost (data lost, torn, stuck; a crash; a survivor) and where
something leaked (a canary or a private path).  Exit 0 only when nothing was lost or leaked.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from collections.abc import Sequence

from tests.reliability.common import FULL, QUICK, Counts, Tally

# name -> module (each has ``scenario(counts, rng) -> Tally``), in the order.
SCENARIOS = {
    "runner-kill": "runner_kill",
    "writer-kill": "writer_kill",
    "process-trees": "trees",
    "manager-gone": "manager_gone",
    "full-disk": "full_disk",
    "load": "load",
    "install-race": "install_race",
    "config-fuzz": "config_fuzz",
    "unit-injection": "injection",
    "unsafe-dirs": "unsafe_dirs",
    "foreign-units": "foreign_units",
    "symlinks": "symlinks",
    "privacy": "privacy",
    "umask-000": "umask_zero",
    "foreign-files": "foreign_files",
    "sigterm": "sigterm",
    "artifact-keys": "artifact_keys",
}


def run_scenario(name: str, counts: Counts, seed: int) -> Tally:
    module = importlib.import_module(f"tests.reliability.{SCENARIOS[name]}")
    t0 = time.monotonic()
    try:
        tally: Tally = module.scenario(counts, random.Random(f"{seed}:{name}"))
    except Exception as exc:  # noqa: BLE001 - a scenario that cannot run is a failed row, not a crash
        tally = Tally(name)
        tally.tries, tally.lost = 1, 1
        tally.notes[f"scenario crashed: {type(exc).__name__}: {str(exc)[:200]}"] += 1
    tally.seconds = time.monotonic() - t0
    return tally


def table(tallies: Sequence[Tally]) -> str:
    head = f"{'scenario':<16} {'tries':>6} {'held':>6} {'lost':>5} {'leaked':>6} {'secs':>6}  notes"
    lines = [head, "-" * len(head)]
    for t in tallies:
        lines.append(
            f"{t.name:<16} {t.tries:>6} {t.held:>6} {t.lost:>5} {t.leaked:>6} {t.seconds:>6.0f}  {t.note_text()}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.campaign", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the CI configuration (default)")
    size.add_argument("--full", action="store_true", help="the counts issue 5 asks for")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help="run only this scenario (repeatable): " + ", ".join(SCENARIOS),
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed when not given)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    counts = FULL if args.full else QUICK
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    names = args.scenario or list(SCENARIOS)
    tallies = []
    for name in names:
        tally = run_scenario(name, counts, seed)
        tallies.append(tally)
        if not args.json:
            print(f"  {name}: {tally.held}/{tally.tries} held in {tally.seconds:.0f}s", file=sys.stderr, flush=True)
    ok = all(t.ok for t in tallies)
    if args.json:
        print(
            json.dumps(
                {
                    "configuration": "full" if args.full else "quick",
                    "seed": seed,
                    "ok": ok,
                    "scenarios": [t.to_json() for t in tallies],
                },
                indent=2,
            )
        )
    else:
        print(f"configuration: {'full' if args.full else 'quick'}, seed {seed}")
        print(table(tallies))
        print("result:", "every invariant held" if ok else "FAILURES (see notes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
