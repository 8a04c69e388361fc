"""Atomic writes and symlink refusal."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aios_systemd import fsio
from aios_systemd.errors import UnsafePathError


def test_atomic_write_mode_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    fsio.atomic_write(path, b"one", "a file")
    fsio.atomic_write(path, b"two", "a file")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_refuses_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError) as err:
        fsio.atomic_write(link, b"x", "the state file")
    assert str(tmp_path) not in str(err.value) and err.value.hint
    assert target.read_text() == "keep"


def test_private_dir_refuses_symlink_and_foreign_owner(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafePathError):
        fsio.ensure_private_dir(link, "the scheduler root")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, 12345, 12345)
    with pytest.raises(UnsafePathError):
        fsio.ensure_private_dir(foreign, "the scheduler root")
    made = fsio.ensure_private_dir(tmp_path / "a" / "b", "x")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


def test_read_bytes_refuses_symlink_and_bounds_size(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    assert fsio.read_bytes(f, "f", 100) == b"x" * 100
    with pytest.raises(fsio.StorageError):
        fsio.read_bytes(f, "f", 99)
    link = tmp_path / "l"
    link.symlink_to(f)
    with pytest.raises(UnsafePathError):
        fsio.read_bytes(link, "f", 1000)
    assert fsio.read_bytes(tmp_path / "missing", "f", 10) is None


WRITER = """
import sys
from pathlib import Path
from aios_systemd import fsio
path = Path(sys.argv[1])
i = 0
while True:
    i += 1
    fsio.atomic_write(path, (str(i) * 50000).encode(), "f")
"""


def test_killed_writer_leaves_old_or_new_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fsio.atomic_write(path, b"0" * 50000, "f")
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(delay)
        proc.kill()
        proc.wait()
        text = path.read_text()
        unit = text[: len(text) // 50000]
        assert unit and text == unit * 50000  # one whole version, never a torn mix


def test_stale_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".state.json.{dead.pid}.tmp"
    live = tmp_path / f".state.json.{os.getpid()}.tmp"
    other = tmp_path / "state.json"
    for f in (stale, live, other):
        f.write_text("x")
    assert fsio.sweep_stale_temps(tmp_path) == 1
    assert not stale.exists() and live.exists() and other.exists()
