"""The one "writable by others" rule: the group database decides, a user-private group is not others."""

from __future__ import annotations

import grp
import os
import pwd
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from aios_systemd import perms
from aios_systemd.errors import UnsafePathError
from tests.support.groups import give_to_group, needs_root, real_group

ALICE, BOB = 1000, 1001


def group(name: str, gid: int, members: Iterable[str] = ()) -> grp.struct_group:
    return grp.struct_group((name, "x", gid, list(members)))


def account(name: str, uid: int, gid: int) -> pwd.struct_passwd:
    return pwd.struct_passwd((name, "x", uid, gid, "", f"/home/{name}", "/bin/sh"))


def database(groups: Iterable[grp.struct_group], accounts: Iterable[pwd.struct_passwd]) -> dict[str, object]:
    """The three lookups over a fixed database (the real ones take the same arguments)."""
    by_gid = {g.gr_gid: g for g in groups}
    users = list(accounts)
    by_name = {u.pw_name: u for u in users}

    def getgrgid(gid: int) -> grp.struct_group:
        return by_gid[gid]

    def getpwnam(name: str) -> pwd.struct_passwd:
        return by_name[name]

    return {"getgrgid": getgrgid, "getpwnam": getpwnam, "getpwall": lambda: users}


USERS = [account("alice", ALICE, ALICE), account("bob", BOB, BOB)]


@pytest.mark.parametrize(
    ("groups", "accounts", "others"),
    [
        # Fedora/RHEL/Debian USERGROUPS_ENAB: alice's own group, nobody else in it.
        ([group("alice", ALICE)], USERS, False),
        # The owner listed in her own group (some tools add it) is still only her.
        ([group("alice", ALICE, ["alice"])], USERS, False),
        # Another name for the same uid is the same user.
        ([group("alice", ALICE, ["alice2"])], [*USERS, account("alice2", ALICE, ALICE)], False),
        # A listed member who is someone else.
        ([group("alice", ALICE, ["bob"])], USERS, True),
        # Someone whose primary group it is, though not listed.
        ([group("alice", ALICE)], [*USERS, account("carol", 1002, ALICE)], True),
        # A member name with no account: who it is cannot be told.
        ([group("alice", ALICE, ["ghost"])], USERS, True),
        # A gid the database does not know.
        ([group("other", 4242)], USERS, True),
    ],
)
def test_group_membership_comes_from_the_group_database(groups, accounts, others) -> None:
    assert perms.group_has_others(ALICE, ALICE, **database(groups, accounts)) is others  # type: ignore[arg-type]


def test_a_shared_group_is_others_for_each_member() -> None:
    db = database([group("dev", 2000, ["alice", "bob"])], USERS)
    assert perms.group_has_others(2000, ALICE, **db)  # type: ignore[arg-type]
    assert perms.group_has_others(2000, BOB, **db)  # type: ignore[arg-type]


def _stat_with(tmp_path: Path, mode: int) -> os.stat_result:
    d = tmp_path / f"d{mode:o}"
    d.mkdir()
    d.chmod(mode)
    return os.stat(d)


@pytest.mark.parametrize(("mode", "others"), [(0o700, False), (0o755, False), (0o757, True), (0o777, True)])
def test_mode_bits_settle_it_without_a_lookup(tmp_path: Path, mode: int, others: bool) -> None:
    assert perms.writable_by_others(_stat_with(tmp_path, mode)) is others


def test_the_group_database_is_not_even_imported_when_the_bits_settle_it(tmp_path: Path) -> None:
    """Start-up cost: grp and pwd load only for a group-writable file."""
    code = (
        "import os, sys; from aios_systemd import perms; "
        f"assert not perms.writable_by_others(os.stat({str(tmp_path)!r})); "
        "print('grp' in sys.modules, 'pwd' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


@needs_root
def test_real_groups_on_a_real_directory(tmp_path: Path) -> None:
    d = tmp_path / "checkout"
    d.mkdir()
    with real_group(other_member=False) as private:
        give_to_group(d, private, 0o2775)
        assert not perms.writable_by_others(os.stat(d), str(d))
        assert perms.untrusted(os.stat(d), str(d)) is None
    with real_group(other_member=True) as shared:
        give_to_group(d, shared, 0o2775)
        assert perms.writable_by_others(os.stat(d), str(d))
        assert perms.untrusted(os.stat(d), str(d)) == f"is writable by {perms.OTHERS}"


def _acl(named_uid: int) -> bytes:
    """A POSIX access ACL (the kernel's xattr form) giving ``named_uid`` rwx."""
    entries = [(0x01, 7, 0xFFFFFFFF), (0x02, 7, named_uid), (0x04, 7, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF)]
    entries.append((0x20, 5, 0xFFFFFFFF))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)


@needs_root
def test_an_acl_makes_the_group_bits_a_mask_over_named_writers(tmp_path: Path) -> None:
    d = tmp_path / "acl"
    d.mkdir()
    with real_group(other_member=False) as private:
        give_to_group(d, private, 0o775)
        try:
            os.setxattr(d, perms.ACL_XATTR, _acl(4242))
        except OSError as exc:  # a filesystem without ACLs cannot have this problem
            pytest.skip(f"no ACL support here ({exc.strerror})")
        st = os.stat(d)
        assert st.st_mode & 0o020  # the mask shows as the group's write bit
        assert perms.writable_by_others(st, str(d))
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert perms.writable_by_others(os.fstat(fd), fd)
        finally:
            os.close(fd)


def test_check_tree_follows_links_only_when_asked(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    kwargs = {"uid": os.getuid(), "label": "the project root", "above": "a directory above the project root"}
    perms.check_tree(str(tmp_path / "link"), follow=True, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UnsafePathError, match="symlink"):
        perms.check_tree(str(tmp_path / "link"), **kwargs)  # type: ignore[arg-type]
    real.chmod(0o777)
    with pytest.raises(UnsafePathError) as info:
        perms.check_tree(str(tmp_path / "link"), follow=True, **kwargs)  # type: ignore[arg-type]
    assert info.value.message == f"the project root is writable by {perms.OTHERS}" and info.value.hint
    assert str(tmp_path) not in info.value.message + str(info.value.hint)
