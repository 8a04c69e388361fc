"""Private directories and atomic, symlink-refusing file I/O.

Every file the toolkit writes goes through here: a same-directory temporary file,
``fsync``, ``rename`` and a directory ``fsync``, so a crash at any moment leaves the old
or the new file.  Nothing here follows a symlink at the final path component, and the
private directories are checked with ``lstat`` so a planted symlink is refused rather
than written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from . import perms
from .errors import AiosError, UnsafePathError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class StorageError(AiosError):
    """The disk refused a write (full, read-only, permissions)."""


def _describe_oserror(exc: OSError) -> str:
    # strerror only: the exception's own text would carry the path.
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "I/O error")


def _storage_error(label: str, exc: OSError) -> StorageError:
    hint = (
        "free some space on that filesystem and rerun"
        if exc.errno == errno.ENOSPC
        else ("check the permissions and free space of that directory")
    )
    return StorageError(f"could not write {label}: {_describe_oserror(exc)}", hint)


def check_private_dir(path: Path, label: str) -> None:
    """Refuse ``path`` unless it is a real directory of ours that nobody else can write
    (``FileNotFoundError`` when it is missing).  Only ``lstat``: a symlink is refused."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"{label} is a symlink; refusing to follow it",
            "replace the symlink with a real directory owned by you (mode 0700)",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{label} exists but is not a directory", "move the file away and rerun")
    if st.st_uid != os.getuid():
        raise UnsafePathError(
            f"{label} is owned by another user", "use a directory you own; a missing one is created private (0700)"
        )
    if perms.writable_by_others(st, str(path)):
        # Never chmod it: a directory we did not create may be shared on purpose.
        raise UnsafePathError(
            f"{label} is writable by {perms.OTHERS}",
            "make it private yourself (chmod go-w), or use a new directory: a missing one is created 0700",
        )


def ensure_private_dir(path: Path, label: str) -> Path:
    """Create ``path`` (and missing parents) 0700, or accept an existing one that
    :func:`check_private_dir` passes; an existing directory's mode is never changed."""
    try:
        check_private_dir(path, label)
    except FileNotFoundError:
        make_dirs(path, label, PRIVATE_DIR_MODE)
        check_private_dir(path, label)
    except OSError as exc:
        raise _storage_error(label, exc) from None
    return path


def make_dirs(path: Path, label: str, mode: int = 0o755) -> Path:
    """``mkdir -p`` that gives every directory it creates exactly ``mode`` (the umask
    neither widens nor narrows it) and leaves existing ones alone; failures are refusals
    with a hint, never a traceback.  Existing parents may be symlinks (a linked
    ``~/.config`` is common); what it creates is checked without following one."""
    missing: list[Path] = []
    current = path
    while True:
        try:
            st = os.stat(current)
        except FileNotFoundError:
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
            continue
        except NotADirectoryError:
            st = None
        except OSError as exc:
            raise _storage_error(label, exc) from None
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{label} (or a directory above it) is not a directory", "choose another directory")
        break
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            if os.path.isdir(directory):
                continue  # made concurrently: not ours to change
            raise UnsafePathError(f"{label} exists but is not a directory", "choose another directory") from None
        except OSError as exc:
            raise _storage_error(label, exc) from None
        _set_mode(directory, mode, label)
    return path


def _set_mode(directory: Path, mode: int, label: str) -> None:
    # mkdir's mode went through the umask; set it exactly, on the directory just made
    # (through a descriptor, so a swapped-in symlink is refused, not followed).
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _storage_error(label, exc) from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise UnsafePathError(f"{label} was replaced by another user's directory", "rerun")
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_symlink(path: Path, label: str) -> None:
    """Raise if ``path`` exists and is a symlink (we never write through one)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"{label} is a symlink; refusing to write through it",
            "remove the symlink; the tool recreates the file itself",
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(f"{label} is not a regular file", "move it away and rerun")


def atomic_write(path: Path, data: bytes, label: str, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically; the old content survives any crash."""
    atomic_write_chunks(path, (data,), label, mode)


def atomic_write_chunks(
    path: Path, chunks: Iterable[bytes | bytearray | memoryview], label: str, mode: int = PRIVATE_FILE_MODE
) -> int:
    """:func:`atomic_write` for content produced piece by piece (a large file never has to
    be in memory at once); returns the number of bytes written.  If ``chunks`` raises,
    the temporary file is removed and the exception propagates: ``path`` is untouched."""
    refuse_symlink(path, label)
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    total = 0
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a leftover of this pid from a crash
        fd = os.open(tmp, flags, mode)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                total += len(view)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            os.fchmod(fd, mode)  # umask must not widen or narrow the reviewed mode
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        _fsync_dir(directory)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _storage_error(label, exc) from None
        raise
    return total


_TEMP = re.compile(r"\.(.+)\.(\d{1,10})\.tmp")  # a longer number is no pid of ours
# The kernel's ceiling for a pid (PID_MAX_LIMIT on 64-bit); anything else names no process.
PID_MAX = 1 << 22


def sweep_stale_temps(directory: Path, name: str | None = None) -> int:
    """Remove temporary files that writers killed mid-write left behind (their pid is
    gone); the files they were replacing are intact, so nothing is lost.  With ``name``,
    only the temporary files of ``directory/name`` (a directory shared with other tools).
    Returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        if match is None or (name is not None and match.group(1) != name) or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(2))
        if pid == os.getpid() or pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    # 0 and negative numbers would ask about process groups (-1: every process we may
    # signal), not one process; a number past the ceiling is not a pid at all.
    if not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


UNTRUSTED_HINT = "make it yours and writable only by you (chown, chmod go-w), or remove it"


def _refuse_untrusted(st: os.stat_result, where: int | str, label: str) -> None:
    why = perms.untrusted(st, where)
    if why is not None:
        raise UnsafePathError(f"{label} {why}", UNTRUSTED_HINT)


def ignored_warning(exc: BaseException, label: str) -> str:
    """A refused read of an optional file (``label``: the file by its role, never its path),
    as a warning: the file is skipped, and how to fix it."""
    if not isinstance(exc, AiosError):
        return f"{label} could not be read, so it is ignored"
    return f"{exc.message}, so it is ignored" + (f": {exc.hint}" if exc.hint else "")


def open_regular(path: Path, label: str, max_bytes: int, *, trusted: bool = False) -> int | None:
    """A file descriptor open for reading ``path``, a regular file of at most ``max_bytes``
    (never through a symlink); ``None`` when it does not exist.  With ``trusted``, a file
    another user owns or can write is refused (its content would steer us).  Raises like
    :func:`read_bytes`; the caller closes the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(f"{label} is a symlink; refusing to follow it", "remove the symlink") from None
        raise StorageError(f"could not read {label}: {_describe_oserror(exc)}", "check its permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{label} is not a regular file", "move it away and rerun")
        if st.st_size > max_bytes:
            raise StorageError(f"{label} is larger than {max_bytes} bytes", "replace it with a valid file")
        if trusted:
            _refuse_untrusted(st, fd, label)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd(fd: int, label: str, max_bytes: int) -> bytearray:
    """The whole content of ``fd`` from offset 0, read into one buffer (no second copy);
    :class:`StorageError` when it is larger than ``max_bytes`` or cannot be read."""
    buf = bytearray(min(os.fstat(fd).st_size, max_bytes) + 1)  # one spare byte: growth shows
    view = memoryview(buf)
    filled = 0
    try:
        while filled < len(buf):
            got = os.preadv(fd, [view[filled:]], filled)
            if not got:
                break
            filled += got
        while filled == len(buf) and len(buf) <= max_bytes:  # the file grew while we read
            more = os.pread(fd, 1 << 20, filled)
            if not more:
                break
            view.release()
            buf += more
            view = memoryview(buf)
            filled = len(buf)
    except OSError as exc:
        raise StorageError(f"could not read {label}: {_describe_oserror(exc)}", "check its permissions") from None
    finally:
        view.release()
    if filled > max_bytes:
        raise StorageError(f"{label} is larger than {max_bytes} bytes", "replace it with a valid file")
    del buf[filled:]
    return buf


def read_bytes(path: Path, label: str, max_bytes: int, *, trusted: bool = False) -> bytes | None:
    """Read a file without following a symlink; ``None`` when it does not exist.

    Raises :class:`UnsafePathError` for a symlink (and with ``trusted`` for a file another
    user owns or can write: every file in the private directories, and the project files
    that configure us) and :class:`StorageError` for a file larger than ``max_bytes`` or
    one that cannot be read.
    """
    fd = open_regular(path, label, max_bytes, trusted=trusted)
    if fd is None:
        return None
    try:
        return bytes(read_fd(fd, label, max_bytes))
    finally:
        os.close(fd)


def append_line(path: Path, line: bytes, label: str, max_bytes: int) -> None:
    """Append one line with a single ``write`` (O_APPEND keeps concurrent lines whole).

    When the file would grow past ``max_bytes`` it is rotated to ``<name>.1`` first, so a
    log is bounded at about twice ``max_bytes``.
    """
    refuse_symlink(path, label)
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            size = 0
        else:
            # A log planted by another user must not receive our lines.
            _refuse_untrusted(st, str(path), label)
            size = st.st_size
        if size + len(line) > max_bytes and size > 0:
            rotated = path.with_name(path.name + ".1")
            refuse_symlink(rotated, label)
            os.rename(path, rotated)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(f"{label} is a symlink; refusing to write through it", "remove it") from None
        raise _storage_error(label, exc) from None
