"""Run systemd's own checkers on rendered units, the way the tests must read them.

``systemd-analyze --user verify`` exits 0 even when it warns, so callers get its exit
code *and* everything it printed, and assert both.  It needs an existing
``XDG_RUNTIME_DIR``; a private one (and a private config home, so the host's own user
units cannot add noise) is made next to the files being checked.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ANALYZE = "systemd-analyze"


@dataclass(frozen=True)
class Verdict:
    returncode: int
    output: str  # stdout and stderr together

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and self.output == ""


def _env(scratch: Path) -> dict[str, str]:
    runtime = scratch / "runtime"
    config = scratch / "config"
    for directory in (runtime, config):
        directory.mkdir(mode=0o700, exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(config),
        "SYSTEMD_LOG_COLOR": "0",
        "SYSTEMD_PAGER": "",
    }


def verify(files: Iterable[Path], scratch: Path) -> Verdict:
    """``systemd-analyze --user verify FILES`` with a private runtime directory."""
    argv = [ANALYZE, "--user", "verify", *(str(f) for f in files)]
    done = subprocess.run(argv, env=_env(scratch), capture_output=True, text=True, timeout=60, cwd=scratch, check=False)
    return Verdict(done.returncode, done.stdout + done.stderr)


def normalized_calendar(expression: str) -> str:
    """The normalized form systemd prints for a calendar; raises on a bad expression."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [ANALYZE, "calendar", expression], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"systemd-analyze calendar refused {expression!r}: {done.stderr.strip()}")
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "Normalized form":
            return value
    raise AssertionError(f"no normalized form in: {done.stdout!r}")
