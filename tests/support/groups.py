"""Real throwaway groups (and users) in the system's own database, for the
"writable by others" rule: a user-private group is not others, a shared group is; and a
umask for the duration of a test.

Needs root (``groupadd``/``useradd``).  Every name is unique to its test and removed on
exit, even when the test fails; a busy ``/etc/passwd`` lock (another test adding a user at
the same moment) is retried.
"""

from __future__ import annotations

import contextlib
import grp
import os
import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="adding groups and users needs root")


def _admin(*argv: str) -> None:
    for attempt in range(20):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr or attempt == 19:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
        time.sleep(0.1)


@contextlib.contextmanager
def real_group(*, other_member: bool) -> Iterator[int]:
    """The gid of a new group: with ``other_member``, a new user (no home, no login) is
    listed in it; without, nobody is (a user-private group for whoever owns the file)."""
    suffix = secrets.token_hex(4)
    group, user = f"aiosg{suffix}", f"aiosu{suffix}"
    _admin("groupadd", group)
    added = False
    try:
        if other_member:
            _admin("useradd", "-M", "-N", "-G", group, "-s", "/usr/sbin/nologin", user)
            added = True
        yield grp.getgrnam(group).gr_gid
    finally:
        if added:
            _admin("userdel", user)
        _admin("groupdel", group)


def give_to_group(path: os.PathLike[str] | str, gid: int, mode: int) -> None:
    """``chgrp gid path; chmod mode path`` (the owner stays)."""
    os.chown(path, -1, gid)
    os.chmod(path, mode)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask set to ``mask`` inside the block (``umask 000``: what nothing may inherit)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)
