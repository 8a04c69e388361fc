"""Hatch build hook: the wheel carries the man pages, made from the CLI table at build time.

``python -m aios_systemd.cli.manpages`` (the generator the Debian package uses too) runs on
the source being built, in a child process with only the standard library, and the pages
go into the wheel's ``share/man/man1`` (hatchling's shared data): pipx 1.3 or later links
them into ``~/.local/share/man/man1``.  Generated, not committed, so a page cannot fall
behind the table; ``SOURCE_DATE_EPOCH`` (passed through) makes them the same bytes on
every build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MAN_DIR = "share/man/man1"


class ManPages(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install runs from the checkout: the generator is right there
        self._out = Path(tempfile.mkdtemp(prefix="aios-man-"))
        env = {**os.environ, "PYTHONPATH": self.root}
        subprocess.run(
            [sys.executable, "-m", "aios_systemd.cli.manpages", str(self._out)],
            cwd=self.root,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pages = sorted(self._out.glob("*.1"))
        if not pages:
            raise RuntimeError("aios_systemd.cli.manpages wrote no page")
        for page in pages:
            build_data["shared_data"][str(page)] = f"{MAN_DIR}/{page.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
