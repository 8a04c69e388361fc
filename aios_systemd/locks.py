"""Non-overlap locks with a holder record, so a dead holder is detected and recovered.

The lock itself is an ``flock``, which the kernel drops when its holder dies however it
dies, so a SIGKILLed run can never block the next one forever.  Next to it a small holder
record names the live run; a record still present when we get the lock means the previous
holder died without cleaning up: a stale lock to report.

Two ways in, one kernel lock.  A bounded wait (the shared generated-data lock, the unit
installer lock) goes through filelock, whose polling deadline it needs.  A try without
waiting (the per-job lock ``aios-run`` takes on every start) is one ``flock(LOCK_EX |
LOCK_NB)`` call: importing filelock 4 alone costs about four times a bare interpreter's
start-up, more than everything else the runner does before the handler, and it would add
nothing to a single non-blocking try.  Both take the same ``flock`` on the same file with
the same mode, so each excludes the other.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

from . import fsio
from ._typing import TYPE_CHECKING
from .errors import AiosError
from .fsio import pid_alive
from .record import Record

if TYPE_CHECKING:
    import filelock

MAX_HOLDER_BYTES = 4096
# Some filesystems answer a contended flock with EACCES rather than EWOULDBLOCK.
_CONTENDED = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class Holder(Record):
    pid: int
    run_id: str
    started_at: str
    boot_id: str

    def alive(self, lock_path: Path | None = None) -> bool:
        """Whether the run this record names is still going: same boot, its process alive
        and, given the lock it names, holding it (a recycled pid does not)."""
        if self.boot_id != boot_id() or not pid_alive(self.pid):
            return False
        return lock_path is None or holds_flock(self.pid, lock_path) is not False


def holds_flock(pid: int, lock_path: Path) -> bool | None:
    """Whether process ``pid`` holds an ``flock`` on ``lock_path``, from ``/proc/locks``
    (without taking the lock, which would make a run starting now see it busy); ``None``
    when the kernel's table cannot be read."""
    try:
        inode = os.stat(lock_path, follow_symlinks=False).st_ino
    except OSError:
        return False  # no lock file: nothing holds it
    try:
        with open("/proc/locks", "rb") as fh:
            table = fh.read(8 << 20)
    except OSError:
        return None
    # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->" after the id.
    want_pid, want_inode = str(pid).encode(), str(inode).encode()
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == b"FLOCK" and parts[4] == want_pid and parts[5].endswith(b":" + want_inode):
            return True
    return False


class Acquired(Record):
    acquired: bool
    stale: Holder | None = None  # the dead holder we recovered from
    holder: Holder | None = None  # the live holder that blocked us


def holder_path(lock_path: Path) -> Path:
    return lock_path.with_suffix(".holder.json")


# A torn or foreign record still proves someone held the lock and died; it names no
# process, so nothing reads it as a live run.
UNKNOWN_HOLDER = Holder(0, "unknown", "", "")


def read_holder(lock_path: Path) -> Holder | None:
    from .state import valid_holder_fields

    try:
        raw = fsio.read_bytes(holder_path(lock_path), "a lock holder record", MAX_HOLDER_BYTES, trusted=True)
        if raw is None:
            return None
        doc = json.loads(raw)
    except (AiosError, ValueError, RecursionError):
        return UNKNOWN_HOLDER
    if not isinstance(doc, dict):
        return UNKNOWN_HOLDER
    pid, run_id, started_at, boot = doc.get("pid"), doc.get("runId"), doc.get("startedAt"), doc.get("bootId")
    if not isinstance(pid, int) or not valid_holder_fields(pid, run_id, started_at, boot):
        # A pid of 1e21, -1 or 0, a run id that cannot be printed: nothing to trust.
        return UNKNOWN_HOLDER
    return Holder(pid, str(run_id), str(started_at), str(boot))  # checked: str() changes nothing


def live_holder(lock_path: Path) -> Holder | None:
    """The holder record of a run that is going now, or ``None``: a record left by a run
    that died (SIGKILL, power loss), names a recycled pid or does not hold the lock is not
    a live run."""
    holder = read_holder(lock_path)
    return holder if holder is not None and holder.alive(lock_path) else None


class RunLock:
    """A non-reentrant exclusive lock on ``lock_path``."""

    def __init__(self, lock_path: Path, label: str) -> None:
        self.path = lock_path
        self.label = label
        self._lock: filelock.UnixFileLock | None = None
        self._fd: int | None = None  # held by the non-blocking path

    def try_acquire(self, timeout: float = 0.0) -> Acquired:
        """Take the lock, waiting up to ``timeout`` seconds (0: do not wait)."""
        try:
            fsio.refuse_symlink(self.path, self.label)
            got = self._flock_now() if timeout <= 0 else self._wait(timeout)
        except OSError as exc:
            raise fsio.StorageError(
                f"could not take {self.label}: {exc.strerror or 'I/O error'}",
                "check the scheduler root's permissions and free space",
            ) from None
        if not got:
            return Acquired(False, holder=read_holder(self.path))
        return Acquired(True, stale=read_holder(self.path))

    def _flock_now(self) -> bool:
        import fcntl

        # Retry when the file we locked was replaced or removed under us between open and
        # flock (someone cleaning the locks directory): a lock on an unlinked inode would
        # exclude nobody.  Two rounds are plenty; the third answer stands.
        for _ in range(3):
            fd = os.open(
                self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, fsio.PRIVATE_FILE_MODE
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in _CONTENDED:
                    return False
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)
        return False

    def _wait(self, timeout: float) -> bool:
        import filelock

        lock = filelock.UnixFileLock(
            str(self.path),
            timeout=timeout,
            mode=fsio.PRIVATE_FILE_MODE,
            thread_local=False,
            fallback_to_soft=False,
            preserve_lock_file=True,
        )
        try:
            lock.acquire(timeout=timeout, blocking=True)
        except filelock.Timeout:
            return False
        self._lock = lock
        return True

    def record_holder(self, holder: Holder) -> None:
        doc = {"pid": holder.pid, "runId": holder.run_id, "startedAt": holder.started_at, "bootId": holder.boot_id}
        fsio.atomic_write(holder_path(self.path), json.dumps(doc).encode(), "a lock holder record")

    def release(self) -> None:
        if self._lock is None and self._fd is None:
            return
        # The record goes first: once the flock is free another run may write its own.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(holder_path(self.path))
        if self._fd is not None:
            import fcntl

            fd, self._fd = self._fd, None
            try:
                # Explicitly, like filelock: a forked handler's copy of the descriptor must
                # not keep the lock once the runner is done with it.
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if self._lock is not None:
            self._lock.release(force=True)
            self._lock = None
