"""The console-script entry points: what happens around a command's main."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("at exit: frozen", gc.get_freeze_count() > 0, file=sys.stderr))
sys.argv = ["aios-status", "--no-timers", "--json"]
from aios_systemd.cli.entry import aios_status
aios_status()
"""


def test_the_heap_is_frozen_before_exit_and_atexit_still_runs(safe_dir: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "AIOS_PROJECT_ROOT": str(safe_dir),
        "AIOS_SCHEDULER_ROOT": str(safe_dir / "sched"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=safe_dir, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert {"job", "activeRun"} <= set(json.loads(done.stdout)["jobs"][0])  # the output is whole
    assert "at exit: frozen True" in done.stderr  # atexit handlers still run, after the freeze
