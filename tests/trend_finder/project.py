"""A throwaway AI OS project and scheduler root, and the real ``aios-run`` to run jobs in it
(shared by the Trend Finder and Dream tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AIOS_RUN = Path(sys.executable).parent / "aios-run"


@dataclass
class Project:
    root: Path
    scheduler_root: Path
    home: Path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AIOS_SCHEDULER_ROOT": str(self.scheduler_root),
        }
        env.update(extra or {})
        return env

    def write_env_local(self, values: Mapping[str, str]) -> None:
        text = "".join(f"{k}={v}\n" for k, v in values.items())
        (self.root / ".env.local").write_text(text)

    def run(
        self,
        job: str,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIOS_RUN), job, "--project-root", str(self.root), "--json"],
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def private_texts(self) -> dict[str, str]:
        """Every file the run may have written (state, logs, locks, generated data)."""
        out: dict[str, str] = {}
        for base in (self.scheduler_root, self.root):
            for path in base.rglob("*"):
                if path.is_file() and path.name != ".env.local":
                    out[str(path.relative_to(base))] = path.read_text(errors="replace")
        return out


def make_project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return Project(root=root, scheduler_root=tmp_path / "sched", home=home)
