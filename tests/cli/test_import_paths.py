"""Every command's start-up path, run for real under ``python -X importtime``: a module that
should stay off a path does.

The paths are the ones README's Performance section times, on a real private user manager
with the default jobs installed and caches warm (a config validated once, units rendered
once), after one real run: ``aios-run JOB``, ``aios-status`` (human and ``--json``),
``aios-units diff``, a Tab (``aios-units <Tab>``) and ``--version`` of every program.  Ruff's
lazy-import rule (TID253, pyproject) says the same statically; the modules it exempts are
held here to stay off every path.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios_systemd.cli.spec import COMMANDS
from tests.support.user_manager import UnitsSandbox

pytestmark = pytest.mark.user_manager

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOB = "agent-aggregate"
DEFAULT_JOBS = ("agent-aggregate", "trend-finder", "dream")

# Off every path: the CLI library (--help and usage errors only), validation (a config or
# artifact not validated before), templates (units not rendered before), the Prometheus
# client (metrics asked for), the HTTP client (a ping URL set), the shared-lock library (a
# bounded wait), python-dotenv (a .env.local to read), difflib (a unit that drifted).
OFF_EVERY_PATH = frozenset(
    {
        "typer",
        "click",
        "pydantic",
        "jinja2",
        "prometheus_client",
        "urllib.request",
        "http.client",
        "filelock",
        "dotenv",
        "difflib",
    }
)
# Where no D-Bus call is made, pystemd stays off too, and with it typing (its binding is
# what brings typing to aios-status and diff: docs/benchmarks.md).
NO_BUS = frozenset({"pystemd", "typing"})
BUS = "pystemd.dbuslib"  # the sd-bus binding: the paths that ask the manager load it


def _exempt_modules() -> frozenset[str]:
    """The modules pyproject exempts from ruff's lazy-import rule (TID253)."""
    ignores = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["per-file-ignores"]
    out: set[str] = set()
    for pattern, rules in ignores.items():
        if "TID253" in rules and pattern.startswith("aios_systemd/"):
            out.update(
                ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                for p in ROOT.glob(pattern)
            )
    return frozenset(out)


def _imported(sandbox: UnitsSandbox, argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules ``argv`` (a console script and its arguments) imports, as it runs."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / argv[0]), *argv[1:]],
        env={**sandbox.env, **(env or {})},
        cwd=sandbox.project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, done.stderr
    # A run's handler is a child whose output (its imports included) goes to the private log.
    assert done.returncode == 0, done.stdout + "\n".join(x for x in done.stderr.splitlines() if x not in lines)
    return {line.split("|")[2].strip() for line in lines[1:]}


def _loaded(imported: set[str], names: frozenset[str]) -> list[str]:
    return sorted(m for m in imported if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture
def warm(units_sandbox: UnitsSandbox) -> Iterator[UnitsSandbox]:
    """The default jobs installed, one real run, and each command run once (warm caches)."""
    sb = units_sandbox
    for argv in (["aios-units", "install", *DEFAULT_JOBS], ["aios-run", JOB], ["aios-status"], ["aios-units", "diff"]):
        done = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]], env=sb.env, cwd=sb.project, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    yield sb


# Path -> (argv, extra environment, what else stays off it, whether it asks the manager).
PATHS: dict[str, tuple[list[str], dict[str, str], frozenset[str], bool]] = {
    "aios-run JOB": (["aios-run", JOB], {}, NO_BUS, False),
    "aios-status": (["aios-status"], {}, frozenset(), True),
    "aios-status --json": (["aios-status", "--json"], {}, frozenset(), True),
    "aios-units diff": (["aios-units", "diff"], {}, frozenset(), True),
    "aios-units <Tab>": (["aios-units", ""], {"AIOS_COMPLETE": "bash"}, NO_BUS, False),
    **{f"{prog} --version": ([prog, "--version"], {}, NO_BUS, False) for prog in COMMANDS},
}


def test_each_command_path_loads_only_what_it_needs(warm: UnitsSandbox) -> None:
    exempt = _exempt_modules()
    assert "aios_systemd.data.schema" in exempt  # the exemptions were read
    problems = []
    for path, (argv, env, off_here, asks_manager) in PATHS.items():
        imported = _imported(warm, argv, env)
        assert "aios_systemd.cli.entry" in imported  # the real console script ran
        assert (BUS in imported) is asks_manager, path  # the status and diff paths read real timers
        for what, names in (("should stay off", OFF_EVERY_PATH | off_here), ("is exempt from TID253", exempt)):
            loaded = _loaded(imported, names)
            if loaded:
                problems.append(f"{path}: {', '.join(loaded)} {what}")
    assert not problems, "\n".join(problems)


def test_what_stays_off_a_path_is_seen_when_it_loads(warm: UnitsSandbox) -> None:
    # The check above can fail: --help is typer's, and a ping URL brings the HTTP client.
    help_path = _loaded(_imported(warm, ["aios-units", "diff", "--help"]), OFF_EVERY_PATH)
    assert "typer" in help_path
    ping = {f"AIOS_PING_URL_{JOB.upper().replace('-', '_')}": "http://127.0.0.1:9/ping"}
    assert "urllib.request" in _imported(warm, ["aios-run", JOB], ping)
