"""Scenario 11: foreign and hand-edited unit files in the user unit directory.  Without
``--force`` install and uninstall never overwrite or delete them; a foreign file (no
stamp of ours) is never touched even with ``--force`` (apply.py's policy); a hand-edited
one replaced or removed with ``--force`` leaves a backup of its bytes."""

from __future__ import annotations

import random

from tests.reliability.common import Attempt, Counts, Tally, cli_problems
from tests.reliability.units_common import JOB, SERVICE, TIMER, units, units_sandbox

FOREIGN = "[Unit]\nDescription=someone else's unit\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n"


def _calls(a: Attempt, sb, label: str, path, argvs, *, want: int) -> None:  # type: ignore[no-untyped-def]
    before = path.read_bytes()
    for argv in argvs:
        done = units(sb, *argv)
        a.check(done.returncode == want, f"{label}: {' '.join(argv)} exit {done.returncode}")
        for problem in cli_problems(done, allowed=(0, 1, 2)):
            a.lose(f"{label}: {problem}")
        a.check(path.exists() and path.read_bytes() == before, f"{label}: {' '.join(argv)} changed the file")


def foreign(a: Attempt, rng: random.Random) -> None:
    with units_sandbox() as sb:
        sb.unit_dir.mkdir(parents=True, exist_ok=True)
        name = rng.choice([SERVICE, TIMER])
        path = sb.unit_dir / name
        path.write_text(FOREIGN)
        other = sb.unit_dir / "my-own.service"
        other.write_text(FOREIGN)
        _calls(
            a,
            sb,
            "foreign",
            path,
            [["install", JOB], ["install", JOB, "--force"], ["uninstall", JOB], ["uninstall", JOB, "--force"]],
            want=1,
        )
        a.check(other.read_text() == FOREIGN, "an unrelated unit file was touched")


def hand_edited(a: Attempt, rng: random.Random) -> None:
    with units_sandbox() as sb:
        if not a.check(units(sb, "install", JOB).returncode == 0, "first install failed"):
            return
        path = sb.unit_dir / rng.choice([SERVICE, TIMER])
        path.write_text(path.read_text() + "# edited by hand\n")
        edited = path.read_bytes()
        _calls(a, sb, "hand-edited", path, [["install", JOB], ["uninstall", JOB]], want=1)
        done = units(sb, rng.choice(["install", "uninstall"]), JOB, "--force")
        a.check(done.returncode == 0, f"--force exit {done.returncode}")
        backups = [p for p in sb.unit_dir.iterdir() if p.name.startswith(path.name) and p != path]
        a.check(any(p.read_bytes() == edited for p in backups), "no backup of the hand-edited bytes")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("foreign-units")
    for _ in range(counts.foreign_rounds):
        for case in (foreign, hand_edited):
            with tally.attempt() as a:
                case(a, random.Random(rng.random()))
    return tally
