"""``benchmarks/run.py --quick`` works end to end (no timing asserts: figures are reported,
and a busy CI machine must not turn a slow run into a red build)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent

# Every figure of issue 6, as the first words of its table row.
ROWS = (
    "python -c pass (floor)",
    "systemctl --user list-timers --all",
    "aios-status --json (",
    "aios-units diff (",
    "aios-run overhead (no-op handler)",
    "aios-run overhead (no-op handler, execute() only)",
    "completion: aios-units <Tab>",
    "aios-units diff --json, 50 timers loaded",
    "aios-units diff --json, 200 timers loaded",
    "diff(200) / diff(50)",
    "D-Bus calls, 200 vs 50 timers",
    "write extension-item (",
    "write host-local (",
    "peak RSS, write extension-item (",
    "peak RSS, write host-local (",
    "peak RSS, json.load + json.dump (",
)


def _quick(*args: str) -> tuple[str, list[str]]:
    """Run ``benchmarks/run.py --quick`` with ``args``; its table and the table's lines."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--quiet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout, done.stdout.splitlines()


@pytest.mark.user_manager
def test_quick_benchmark_prints_every_row() -> None:
    stdout, lines = _quick()
    for figure in ROWS:
        matching = [line for line in lines if line.startswith(figure)]
        assert matching, f"no row for {figure!r} in:\n{stdout}"
        # This tree has every feature: each row carries a figure and a verdict, never n/a.
        for line in matching:
            assert line.split()[-1] in ("pass", "MISS", "info"), line
    assert any(line.startswith("summary: ") for line in lines), stdout
    assert "nproc: " in lines[0] and "kernel: " in lines[0] and "python: " in lines[0], lines[0]


@pytest.mark.user_manager
def test_compare_times_another_install_in_the_same_rounds() -> None:
    # This install against itself: the compared rows are filled, each with its own floor.
    stdout, lines = _quick("--only", "cli", "--compare", str(Path(sys.executable).parent))
    assert "compared tree: " in lines[0], lines[0]
    labels = ("aios-status --json", "aios-units diff", "aios-run overhead (no-op handler)", "completion: aios-units")
    for label in labels:
        row = next((line for line in lines if line.startswith(f"compared: {label}")), None)
        assert row is not None and row.split()[-1] == "info" and "×" in row, stdout
