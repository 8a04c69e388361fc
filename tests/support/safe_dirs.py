"""Fixture: a directory the working-directory policy accepts.

pytest's ``tmp_path`` lives under ``/tmp``, which the policy refuses (it is emptied at
reboot), so safe directories are made under ``~/.cache/aios-systemd-tests/`` instead,
0700 and owned by the test user, and removed afterwards even when a test changed their
modes or owners.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SAFE_BASE = Path(os.path.expanduser("~/.cache/aios-systemd-tests"))


def _make_removable(root: Path) -> None:
    # Tests chmod and chown inside the directory; give everything back before removal.
    for dirpath, dirnames, _files in os.walk(root, followlinks=False):
        for name in dirnames:
            path = Path(dirpath, name)
            with contextlib.suppress(OSError):
                if not path.is_symlink():
                    os.chown(path, os.getuid(), os.getgid())
                    path.chmod(stat.S_IRWXU)


@contextlib.contextmanager
def safe_directory(prefix: str = "safe-") -> Iterator[Path]:
    """A fresh 0700 directory under ``~/.cache/aios-systemd-tests/``, removed on exit."""
    SAFE_BASE.mkdir(mode=0o700, parents=True, exist_ok=True)
    SAFE_BASE.chmod(0o700)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SAFE_BASE))
    try:
        yield path
    finally:
        _make_removable(path)
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            SAFE_BASE.rmdir()  # only when no other test still uses it


@pytest.fixture
def safe_dir() -> Iterator[Path]:
    """A directory ``check_working_directory`` accepts (checked here, so a host whose home
    is itself unsafe fails loudly instead of making every safety test look right)."""
    from aios_systemd.units.safety import check_working_directory

    with safe_directory() as path:
        check_working_directory(path, home=Path(os.path.expanduser("~")))
        yield path
