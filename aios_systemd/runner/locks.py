"""Non-overlap locks with a holder record, so a dead holder is detected and recovered.

The lock itself is an ``flock`` (through filelock), which the kernel drops when its
holder dies however it dies, so a SIGKILLed run can never block the next one forever.
Next to it a small holder record names the live run; a record still present when we get
the lock means the previous holder died without cleaning up: a stale lock to report.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .. import fsio
from ..errors import AiosError
from ..fsio import pid_alive

if TYPE_CHECKING:
    import filelock

MAX_HOLDER_BYTES = 4096


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class Holder(NamedTuple):
    pid: int
    run_id: str
    started_at: str
    boot_id: str

    def alive(self) -> bool:
        return self.boot_id == boot_id() and pid_alive(self.pid)


class Acquired(NamedTuple):
    acquired: bool
    stale: Holder | None = None  # the dead holder we recovered from
    holder: Holder | None = None  # the live holder that blocked us


def holder_path(lock_path: Path) -> Path:
    return lock_path.with_suffix(".holder.json")


def read_holder(lock_path: Path) -> Holder | None:
    try:
        raw = fsio.read_bytes(holder_path(lock_path), "a lock holder record", MAX_HOLDER_BYTES)
        if raw is None:
            return None
        doc = json.loads(raw)
        return Holder(int(doc["pid"]), str(doc["runId"]), str(doc["startedAt"]), str(doc["bootId"]))
    except (AiosError, ValueError, KeyError, TypeError):
        # A torn or foreign record still proves someone held the lock and died.
        return Holder(0, "unknown", "", "")


class RunLock:
    """A non-blocking, non-reentrant exclusive lock on ``lock_path``."""

    def __init__(self, lock_path: Path, label: str) -> None:
        self.path = lock_path
        self.label = label
        self._lock: filelock.UnixFileLock | None = None

    def try_acquire(self, timeout: float = 0.0) -> Acquired:
        import filelock

        fsio.refuse_symlink(self.path, self.label)
        lock = filelock.UnixFileLock(
            str(self.path),
            timeout=timeout,
            mode=fsio.PRIVATE_FILE_MODE,
            thread_local=False,
            fallback_to_soft=False,
            preserve_lock_file=True,
        )
        try:
            lock.acquire(timeout=timeout, blocking=timeout > 0)
        except filelock.Timeout:
            return Acquired(False, holder=read_holder(self.path))
        except OSError as exc:
            raise fsio.StorageError(
                f"could not take {self.label}: {exc.strerror or 'I/O error'}",
                "check the scheduler root's permissions and free space",
            ) from None
        self._lock = lock
        return Acquired(True, stale=read_holder(self.path))

    def record_holder(self, holder: Holder) -> None:
        doc = {"pid": holder.pid, "runId": holder.run_id, "startedAt": holder.started_at, "bootId": holder.boot_id}
        fsio.atomic_write(holder_path(self.path), json.dumps(doc).encode(), "a lock holder record")

    def release(self) -> None:
        if self._lock is None:
            return
        # The record goes first: once the flock is free another run may write its own.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(holder_path(self.path))
        self._lock.release(force=True)
        self._lock = None

    def abandon_in_child(self) -> None:
        """In a forked child: forget the lock without releasing the parent's flock."""
        self._lock = None
