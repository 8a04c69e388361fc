"""The one wrapper every external command goes through, and process-tree control.

A command runs from a reviewed argv (never a shell), with a clean environment, in its
own session and process group, with a deadline.  On timeout the whole tree gets SIGTERM,
a short grace, then SIGKILL; processes that escaped the group (``setsid``) are found by a
``/proc`` scan of our descendants, so none survives.  Failures name the command and its
exit code, never its output: output goes back to the caller, who logs it privately.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import AiosError, ProcessFailedError
from .fsio import pid_alive
from .record import Record

CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
# Variables a child may inherit; everything else (tokens, auth paths) stays behind.
INHERITED = (
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
    "USER",
    "LOGNAME",
)
DEFAULT_GRACE = 3.0
MAX_CAPTURE = 1 << 20

PR_SET_CHILD_SUBREAPER = 36


class ProcResult(Record):
    command: str  # the program's base name: safe to show
    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float
    timed_out: bool = False


class ProcessTimeoutError(AiosError):
    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(
            f"command {command!r} did not finish within {seconds:.0f}s and was stopped",
            "check what makes it slow; 'aios-units logs JOB' shows its output",
        )
        self.command = command


def clean_env(base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: base[k] for k in INHERITED if k in base}
    env["PATH"] = CLEAN_PATH
    env.setdefault("LANG", "C.UTF-8")
    if extra:
        env.update(extra)
    return env


def set_child_subreaper() -> bool:
    """Make orphaned descendants reparent to us so a tree scan can still find them."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children_map(zombies: bool = False) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        # The command name may contain spaces or parentheses; fields follow the last ')'.
        rest = raw[raw.rfind(b")") + 2 :].split()
        if len(rest) < 2 or (rest[0] == b"Z" and not zombies):
            continue
        children.setdefault(int(rest[1]), []).append(int(entry.name))
    return children


def children_of(pid: int) -> set[int]:
    """The live direct children of ``pid``."""
    return set(_children_map().get(pid, []))


def descendants(root: int, skip: frozenset[int] = frozenset()) -> list[int]:
    """Every live descendant of ``root`` found by scanning ``/proc``, leaving out the
    subtrees of the direct children listed in ``skip``."""
    children = _children_map()
    out: list[int] = []
    todo = [c for c in children.get(root, []) if c not in skip]
    out.extend(todo)
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _kill_group(pgid: int, sig: int) -> None:
    # A pid of 0 or less would address our own group (or every process): never do that.
    if pgid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _reap(root: int, skip: frozenset[int]) -> None:
    # Only our own children can be reaped (a subreaper inherits orphans); zombies would
    # otherwise linger in the scan.  Children in ``skip`` belong to someone else.
    if root != os.getpid():
        return
    for child in set(_children_map(zombies=True).get(root, [])) - skip:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, os.WNOHANG)


def terminate_tree(
    root: int, grace: float = DEFAULT_GRACE, *, include_root: bool = False, skip: frozenset[int] = frozenset()
) -> int:
    """SIGTERM every descendant of ``root`` (and ``root`` if asked), wait ``grace``, then
    SIGKILL what is left until nothing is.  Returns how many processes had to be killed.
    ``skip`` protects the subtrees of direct children that are not ours to stop."""
    import signal  # here, not at the top: status reads CLEAN_PATH and never signals

    def alive() -> list[int]:
        return descendants(root, skip) + ([root] if include_root and _alive(root) else [])

    targets = alive()
    if not targets:
        return 0
    _signal_all(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(root, skip)
        if not alive():
            return 0
        time.sleep(0.02)
    killed = 0
    for _ in range(500):
        left = alive()
        if not left:
            break
        killed += len(left)
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.01)
        _reap(root, skip)
    return killed


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; it only waits to be reaped)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None = None,
    check: bool = True,
    stdin: bytes | None = None,
    grace: float = DEFAULT_GRACE,
) -> ProcResult:
    """Run a reviewed command; ``env`` is used as is (build it with :func:`clean_env`)."""
    import signal
    import subprocess  # only commands pay for it; importing proc stays cheap

    if not argv or not all(isinstance(a, str) for a in argv):
        raise AiosError("refusing to run an empty or non-text command", "this is a bug: report it")
    name = Path(argv[0]).name
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        raise ProcessFailedError(name, None) from None
    timed_out = False
    try:
        out, err = child.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(child.pid, signal.SIGTERM)
        terminate_tree(child.pid, grace, include_root=True)
        out, err = child.communicate()
    finally:
        # Whatever the outcome, nothing the command started outlives it.
        _kill_group(child.pid, signal.SIGKILL)
    result = ProcResult(
        name, child.returncode, out[-MAX_CAPTURE:], err[-MAX_CAPTURE:], time.monotonic() - started, timed_out
    )
    if timed_out:
        raise ProcessTimeoutError(name, timeout or 0)
    if check and child.returncode != 0:
        raise ProcessFailedError(name, child.returncode)
    return result
