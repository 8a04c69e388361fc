"""RunLock: the non-blocking try (a direct flock) and the bounded wait (filelock) are one lock."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import filelock
import pytest

from aios_systemd.errors import AiosError
from aios_systemd.locks import Holder, RunLock, boot_id


def _lock(tmp_path: Path) -> RunLock:
    return RunLock(tmp_path / "job.lock", "the job lock")


def test_try_excludes_a_second_try_and_release_frees_it(tmp_path: Path) -> None:
    first, second = _lock(tmp_path), _lock(tmp_path)
    assert first.try_acquire().acquired
    assert not second.try_acquire().acquired
    first.release()
    assert second.try_acquire().acquired
    second.release()


def test_lock_file_is_private_and_kept(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    assert lock.try_acquire().acquired
    lock.release()
    # Kept on release, so every waiter locks the same inode.
    assert stat.S_IMODE(os.stat(tmp_path / "job.lock").st_mode) == 0o600


def test_try_and_filelock_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "job.lock"
    ours = _lock(tmp_path)
    assert ours.try_acquire().acquired
    theirs = filelock.UnixFileLock(str(path), timeout=0)
    with pytest.raises(filelock.Timeout):
        theirs.acquire(timeout=0.05)
    ours.release()
    theirs.acquire(timeout=1)
    try:
        assert not _lock(tmp_path).try_acquire().acquired
    finally:
        theirs.release()


def test_bounded_wait_times_out_then_succeeds_once_free(tmp_path: Path) -> None:
    holder = _lock(tmp_path)
    assert holder.try_acquire().acquired
    waiter = _lock(tmp_path)
    started = time.monotonic()
    assert not waiter.try_acquire(timeout=0.2).acquired
    assert time.monotonic() - started >= 0.2
    holder.release()
    assert waiter.try_acquire(timeout=0.2).acquired
    waiter.release()


def test_blocked_try_names_the_live_holder(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    assert lock.try_acquire().acquired
    me = Holder(os.getpid(), "run-1", "2026-11-26T05:00:00Z", boot_id())
    lock.record_holder(me)
    got = _lock(tmp_path).try_acquire()
    assert not got.acquired and got.holder == me
    lock.release()
    assert not (tmp_path / "job.holder.json").exists()


def test_lock_held_by_a_killed_process_is_free_and_its_record_reported_stale(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from aios_systemd.locks import Holder, RunLock, boot_id
        lock = RunLock(Path({str(tmp_path / "job.lock")!r}), "the job lock")
        assert lock.try_acquire().acquired
        lock.record_holder(Holder(os.getpid(), "dead-run", "2026-11-26T05:00:00Z", boot_id()))
        print("held", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert not _lock(tmp_path).try_acquire().acquired
    finally:
        child.kill()
        child.wait()
    got = _lock(tmp_path).try_acquire()
    assert got.acquired
    assert got.stale is not None and got.stale.run_id == "dead-run" and not got.stale.alive()


def test_release_frees_the_lock_even_while_a_forked_child_holds_a_copy(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    assert lock.try_acquire().acquired
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child keeps its inherited copy of the descriptor open
        os.close(write_fd)
        os.read(read_fd, 1)
        os._exit(0)
    os.close(read_fd)
    try:
        lock.release()
        other = _lock(tmp_path)
        assert other.try_acquire().acquired
        other.release()
    finally:
        os.close(write_fd)
        os.waitpid(pid, 0)


def test_symlinked_lock_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "job.lock").symlink_to(target)
    with pytest.raises(AiosError) as caught:
        _lock(tmp_path).try_acquire()
    assert "symlink" in caught.value.message and caught.value.hint


def test_unwritable_lock_directory_is_a_storage_refusal(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory modes: use a path whose parent is a regular file instead
        parent = tmp_path / "not-a-dir"
        parent.write_text("")
        lock = RunLock(parent / "job.lock", "the job lock")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        lock = RunLock(locked / "job.lock", "the job lock")
    with pytest.raises(AiosError) as caught:
        lock.try_acquire()
    assert caught.value.message.startswith("could not take the job lock") and caught.value.hint
