"""Atomic writes and symlink refusal."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aios_systemd import fsio, perms
from aios_systemd.errors import UnsafePathError
from tests.support.groups import give_to_group, needs_root, real_group, umask


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


# -- directories: explicit modes, never a chmod of one we did not make -------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_make_dirs_gives_every_new_directory_its_mode_under_any_umask(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o750)
    for mask, mode in ((0o000, 0o755), (0o077, 0o755), (0o000, 0o700), (0o002, 0o700)):
        top = existing / f"m{mask:o}-{mode:o}"
        with umask(mask):
            fsio.make_dirs(top / "a" / "b", "x", mode)
        assert [_mode(p) for p in (top, top / "a", top / "a" / "b")] == [mode] * 3
        assert _mode(existing) == 0o750  # not made here: left as it was
        fsio.make_dirs(top / "a" / "b", "x", 0o711)  # all exist: nothing changes
        assert _mode(top / "a" / "b") == mode


def test_make_dirs_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafePathError) as info:
        fsio.make_dirs(tmp_path / "file" / "below", "the output directory")
    assert "not a directory" in info.value.message and info.value.hint


def test_a_missing_private_dir_and_its_parents_are_made_0700_under_umask_000(tmp_path: Path) -> None:
    root = tmp_path / "state" / "ai-os" / "scheduler"
    with umask(0):
        fsio.ensure_private_dir(root, "the scheduler root")
    assert [_mode(p) for p in (tmp_path / "state", tmp_path / "state" / "ai-os", root)] == [0o700] * 3


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o700])
def test_an_existing_private_dir_is_accepted_as_it_is(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(mode)
    fsio.ensure_private_dir(root, "the scheduler root")
    assert _mode(root) == mode  # never chmodded: the toolkit did not create it


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o2757])
def test_a_world_writable_dir_is_refused_and_left_alone(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(mode)
    with pytest.raises(UnsafePathError) as info:
        fsio.ensure_private_dir(root, "the scheduler root")
    assert info.value.message == f"the scheduler root is writable by {perms.OTHERS}"
    assert "chmod go-w" in str(info.value.hint) and str(tmp_path) not in str(info.value.hint)
    assert _mode(root) == mode


@needs_root
def test_a_shared_setgid_dir_keeps_its_group_access_and_setgid(tmp_path: Path) -> None:
    """The field report: AIOS_SCHEDULER_ROOT at a 2775 team directory lost both."""
    root = tmp_path / "team"
    root.mkdir()
    with real_group(other_member=True) as shared:
        give_to_group(root, shared, 0o2775)
        with pytest.raises(UnsafePathError, match="writable by other users"):
            fsio.ensure_private_dir(root, "the scheduler root")
        assert _mode(root) == 0o2775 and os.lstat(root).st_gid == shared
    with real_group(other_member=False) as private:
        give_to_group(root, private, 0o2775)
        fsio.ensure_private_dir(root, "the scheduler root")  # only the owner can write it
        assert _mode(root) == 0o2775


def test_sweep_with_a_name_leaves_other_tools_temp_files(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = tmp_path / f".live-data.json.{dead.pid}.tmp"
    theirs = tmp_path / f".app-cache.json.{dead.pid}.tmp"
    huge = tmp_path / f".live-data.json.{'9' * 200}.tmp"  # no pid of ours
    for f in (ours, theirs, huge):
        f.write_text("x")
    assert fsio.sweep_stale_temps(tmp_path, "live-data.json") == 1
    assert not ours.exists() and theirs.exists() and huge.exists()


@pytest.mark.parametrize("pid", [0, -1, -os.getpid(), fsio.PID_MAX + 1, 10**21])
def test_pid_alive_never_asks_about_groups_or_impossible_pids(pid: int) -> None:
    assert fsio.pid_alive(pid) is False


def test_pid_alive_sees_this_process() -> None:
    assert fsio.pid_alive(os.getpid()) is True
