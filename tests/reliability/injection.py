"""Scenario 9: unit injection.  Hostile working directories, job ids, aios-run paths and
descriptions (newlines, % specifiers, quotes, backslashes, control characters, very long
names) are each refused or escaped; every unit that is rendered verifies silently and
carries exactly the directives of a plain rendering (nothing smuggled in)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from aios_systemd.errors import AiosError
from aios_systemd.registry import REGISTRY
from aios_systemd.units.safety import check_working_directory
from tests.reliability.common import Attempt, Counts, Tally
from tests.support.rendering import render_with, write_pair
from tests.support.safe_dirs import safe_directory
from tests.support.unit_verify import verify

PIECES = [
    "\n",
    "\r",
    "\nExecStart=/bin/sh -c id",
    "%h",
    "%u",
    "%%",
    "%",
    "'",
    '"',
    "\\",
    "\\n",
    "\x1b[2J",
    "\x00",
    "\x7f",
    "\u202e",
    "\u2028",
    "$HOME",
    "${PATH}",
    ";",
    " ",
    "\t",
    "[Service]",
    "#",
    "é",
    "日本",
    "=",
    "-",
]
FIELDS = ("working_directory", "job_id", "aios_run", "title")
DIRECTIVE = re.compile(r"^([A-Za-z]+)=", re.M)


def hostile(rng: random.Random) -> str:
    parts = [rng.choice(["proj", "a", "x y"])]
    for _ in range(rng.randint(1, 4)):
        parts.append(rng.choice(PIECES))
    if rng.random() < 0.1:
        parts.append("n" * rng.choice([200, 300, 5000]))
    return "".join(parts)


def directives(text: str) -> list[str]:
    return sorted(DIRECTIVE.findall(text))


def one(a: Attempt, rng: random.Random, base: Path, n: int, baseline: dict[str, list[str]]) -> None:
    field, value = rng.choice(FIELDS), hostile(rng)
    scratch = base / f"t{n}"
    scratch.mkdir()
    kwargs: dict[str, object] = {}
    try:
        if field == "job_id":
            REGISTRY.get(value)
            a.lose("hostile job id accepted by the registry")
            return
        if field == "working_directory":
            path = scratch / value
            try:
                path.mkdir()
            except (OSError, ValueError):
                a.note("refused by the filesystem")
                return
            check_working_directory(path, home=base / "home")
            kwargs["working_directory"] = path
        elif field == "aios_run":
            kwargs["aios_run"] = Path(str(scratch / "bin" / value))
        else:
            kwargs["title"] = value
        units = render_with(scratch, **kwargs)  # type: ignore[arg-type]
    except AiosError as err:
        a.check(bool(err.message and err.hint), f"{field}: refusal without reason or hint")
        a.note("refused")
        return
    a.note("escaped")
    for unit in units:
        a.check(directives(unit.text) == baseline[unit.name], f"{field}: directives changed (injection)")
    verdict = verify(write_pair(units, scratch / "out"), scratch)
    a.check(verdict.clean, f"{field}: systemd-analyze verify not silent")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("unit-injection")
    with safe_directory("campaign-inject-") as base:
        (base / "home").mkdir()
        (base / "plain").mkdir()
        baseline = {u.name: directives(u.text) for u in render_with(base / "plain")}
        for n in range(counts.injection):
            with tally.attempt() as a:
                one(a, random.Random(rng.random()), base, n, baseline)
    return tally
