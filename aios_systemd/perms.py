"""Who besides its owner can change a file or directory: the one rule every check uses.

"Writable by others" means writable by the world, or by a group that has a member other
than the owner.  A user-private group (Fedora, RHEL, Debian with ``USERGROUPS_ENAB``: the
group carries the owner's name and nobody else) is not "others", so a checkout made under
umask 0002 (mode 0775) is as safe as one made under 0022.  Membership comes from the group
database: the group's listed members plus every account whose primary group it is.  The
database is consulted only when the mode bits alone do not settle the answer, so the
common 0755/0700 case costs no lookup at all.

:func:`check_tree` applies the rule to a directory and every directory above it: the
working-directory policy of ``aios-units`` and the project-root check of ``aios-run`` and
``aios-aggregate`` are this one function.
"""

from __future__ import annotations

import errno
import os
import stat

from ._typing import TYPE_CHECKING
from .errors import UnsafePathError

if TYPE_CHECKING:
    import grp
    import pwd
    from collections.abc import Callable, Iterable

    GroupLookup = Callable[[int], grp.struct_group]
    NameLookup = Callable[[str], pwd.struct_passwd]
    AllUsers = Callable[[], Iterable[pwd.struct_passwd]]

# An access ACL turns the group bits into a mask: named users or groups may write too.
ACL_XATTR = "system.posix_acl_access"
_NO_ACL = frozenset({errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP})
OTHERS = "other users (the world, or a group with other members)"


def group_has_others(
    gid: int,
    owner: int,
    *,
    getgrgid: GroupLookup | None = None,
    getpwnam: NameLookup | None = None,
    getpwall: AllUsers | None = None,
) -> bool:
    """Whether group ``gid`` has a member other than user ``owner``.

    The lookups default to :mod:`grp` and :mod:`pwd`; tests pass their own database.  What
    cannot be told (an unknown group, a member name with no account) counts as others."""
    if getgrgid is None or getpwnam is None or getpwall is None:
        import grp
        import pwd

        getgrgid = getgrgid or grp.getgrgid
        getpwnam = getpwnam or pwd.getpwnam
        getpwall = getpwall or pwd.getpwall
    try:
        group = getgrgid(gid)
    except KeyError:
        return True
    for name in group.gr_mem:
        try:
            if getpwnam(name).pw_uid != owner:
                return True
        except KeyError:
            return True
    return any(entry.pw_gid == gid and entry.pw_uid != owner for entry in getpwall())


def _has_acl(where: int | str) -> bool:
    try:
        if isinstance(where, int):
            os.getxattr(where, ACL_XATTR)
        else:
            os.getxattr(where, ACL_XATTR, follow_symlinks=False)
    except OSError as exc:
        return exc.errno not in _NO_ACL  # unreadable: cannot rule named writers out
    return True


def writable_by_others(st: os.stat_result, where: int | str | None = None) -> bool:
    """Whether anyone but the owner (and root) can write what ``st`` describes.

    ``where`` (a path or an open descriptor of the same file) lets a group-writable file
    with an ACL count as writable by others: its group bits are then a mask over named
    users and groups that the group database does not show."""
    mode = st.st_mode
    if mode & stat.S_IWOTH:
        return True
    if not mode & stat.S_IWGRP:
        return False
    if where is not None and _has_acl(where):
        return True
    return group_has_others(st.st_gid, st.st_uid)


def check_tree(path: str, *, uid: int, label: str, above: str, follow: bool = False) -> None:
    """Refuse ``path`` unless it and every directory above it are safe from other users.

    ``path`` itself must be a directory owned by ``uid`` that others cannot write; every
    directory above it must belong to ``uid`` or root and be writable by nobody else,
    unless it has the sticky bit (``/tmp``: others cannot remove or rename what is ours).
    Symlinks on the way are refused, or with ``follow`` resolved first (a command that
    only reads the project may run it through a link; a unit file names it literally).
    Messages name ``label`` or ``above``, never the path."""
    if follow:
        path = os.path.realpath(path)
    parts = path.strip("/").split("/") if path.strip("/") else []
    chain = ["/", *("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))]
    for depth, current in enumerate(chain):
        last = depth == len(chain) - 1
        what = label if last else above
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            raise UnsafePathError(
                f"{label} does not exist", "create the project directory first, or pass the right one"
            ) from None
        except OSError as exc:
            raise UnsafePathError(
                f"{what} cannot be inspected ({exc.strerror or 'I/O error'})",
                "check the permissions on the way to the project",
            ) from None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(
                f"{what} is a symlink", "pass the real path of the project (realpath), with no symlink on the way"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{what} is not a directory", "pass the project's directory")
        if last:
            if st.st_uid != uid:
                raise UnsafePathError(
                    f"{label} is not owned by you", "use a project directory you own (chown it, or clone it anew)"
                )
            if writable_by_others(st, current):
                raise UnsafePathError(
                    f"{label} is writable by {OTHERS}",
                    "remove those write bits (chmod go-w on the project directory)",
                )
        else:
            if st.st_uid not in (0, uid):
                raise UnsafePathError(
                    f"{what} is owned by another user", "move the project under directories owned by you or by root"
                )
            if not st.st_mode & stat.S_ISVTX and writable_by_others(st, current):
                raise UnsafePathError(
                    f"{what} is writable by {OTHERS} without the sticky bit",
                    "remove those write bits (chmod go-w) or move the project elsewhere",
                )


def untrusted(st: os.stat_result, where: int | str | None = None, uid: int | None = None) -> str | None:
    """Why a file whose content steers the toolkit must not be believed, or ``None``: it
    belongs to another user, or another user can change it."""
    if st.st_uid != (os.getuid() if uid is None else uid):
        return "is owned by another user"
    if writable_by_others(st, where):
        return f"is writable by {OTHERS}"
    return None
