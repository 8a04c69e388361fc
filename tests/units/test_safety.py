"""The working-directory policy on real directories, and the render --output git check.

Every unsafe case is built for real (modes, owners, symlinks, temporary and memory
filesystems) under a safe base in ``~/.cache``; every refusal must say why and how to fix
it without showing the path.  Allowed odd names are rendered and verified silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aios_systemd.errors import UnsafePathError, UsageError
from aios_systemd.units.safety import check_output_directory, check_working_directory, filesystem_type
from tests.support.groups import give_to_group, real_group
from tests.support.rendering import assert_verifies, fake_aios_run, render_with

OTHER_UID = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def home_of(base: Path) -> Path:
    return base / "home-not-used"  # a home that none of the cases is


def assert_refused(path: Path | str, *, home: Path, uid: int | None = None, reason: str) -> UnsafePathError:
    with pytest.raises(UnsafePathError) as info:
        check_working_directory(path, home=home, uid=uid)  # type: ignore[arg-type]
    err = info.value
    assert reason in err.message, err.message
    assert err.hint
    # Privacy: neither the path nor its private, generated names show up.
    text = str(path)
    for shown in (err.message, err.hint):
        assert text not in shown
        for part in text.split("/"):
            if part.startswith(("safe-", "aios-safety-")):
                assert part not in shown, (part, shown)
    return err


@pytest.fixture
def ephemeral_dirs() -> Iterator[Callable[[str], Path]]:
    """Real directories under /tmp, /var/tmp, /dev/shm and /run, removed afterwards."""
    made: list[Path] = []

    def make(parent: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix="aios-safety-", dir=parent))
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def test_the_safe_directory_is_accepted(safe_dir: Path) -> None:
    project = safe_dir / "project"
    project.mkdir(mode=0o755)
    assert check_working_directory(project, home=home_of(safe_dir)) == project
    assert check_working_directory(safe_dir, home=home_of(safe_dir)) == safe_dir


# -- the corpus -------------------------------------------------------------------------------
def test_relative(safe_dir: Path) -> None:
    assert_refused(Path("project"), home=home_of(safe_dir), reason="relative")
    assert_refused(Path("./project/sub"), home=home_of(safe_dir), reason="relative")


def test_missing(safe_dir: Path) -> None:
    assert_refused(safe_dir / "missing", home=home_of(safe_dir), reason="does not exist")
    assert_refused(safe_dir / "missing" / "deeper", home=home_of(safe_dir), reason="does not exist")


def test_not_a_directory(safe_dir: Path) -> None:
    (safe_dir / "file").write_text("x")
    assert_refused(safe_dir / "file", home=home_of(safe_dir), reason="not a directory")
    assert_refused(safe_dir / "file" / "below", home=home_of(safe_dir), reason="not a directory")


def test_symlink_itself(safe_dir: Path) -> None:
    (safe_dir / "real").mkdir()
    (safe_dir / "link").symlink_to(safe_dir / "real")
    assert_refused(safe_dir / "link", home=home_of(safe_dir), reason="symlink")


def test_symlink_on_the_way(safe_dir: Path) -> None:
    (safe_dir / "realparent" / "project").mkdir(parents=True)
    (safe_dir / "linkparent").symlink_to("realparent")
    assert_refused(safe_dir / "linkparent" / "project", home=home_of(safe_dir), reason="symlink")


def test_dangling_symlink(safe_dir: Path) -> None:
    (safe_dir / "dangling").symlink_to(safe_dir / "nowhere")
    assert_refused(safe_dir / "dangling", home=home_of(safe_dir), reason="symlink")


@pytest.mark.parametrize(("mode", "who"), [(0o777, "world"), (0o757, "world only"), (0o1777, "world, sticky")])
def test_writable_by_others_itself(safe_dir: Path, mode: int, who: str) -> None:
    project = safe_dir / "project"
    project.mkdir()
    project.chmod(mode)
    assert_refused(project, home=home_of(safe_dir), reason="writable by other users")


@needs_root
@pytest.mark.parametrize("mode", [0o775, 0o2775, 0o770])
def test_writable_by_a_group_with_another_member_is_refused(safe_dir: Path, mode: int) -> None:
    project = safe_dir / "project"
    project.mkdir()
    with real_group(other_member=True) as gid:
        give_to_group(project, gid, mode)
        assert_refused(project, home=home_of(safe_dir), reason="writable by other users")


@needs_root
@pytest.mark.parametrize("mode", [0o775, 0o2775])
def test_writable_by_a_user_private_group_is_accepted(safe_dir: Path, mode: int) -> None:
    """Fedora: umask 0002 and a group of one's own, so checkouts are 0775."""
    parent = safe_dir / "home-like"
    (parent / "project").mkdir(parents=True)
    with real_group(other_member=False) as gid:
        for directory in (parent, parent / "project"):
            give_to_group(directory, gid, mode)
        assert check_working_directory(parent / "project", home=home_of(safe_dir))


@pytest.mark.parametrize("mode", [0o777, 0o722])
def test_ancestor_writable_without_sticky_bit(safe_dir: Path, mode: int) -> None:
    parent = safe_dir / "shared"
    (parent / "project").mkdir(parents=True)
    parent.chmod(mode)
    assert_refused(parent / "project", home=home_of(safe_dir), reason="without the sticky bit")


@needs_root
def test_ancestor_writable_by_a_shared_group_without_sticky_bit(safe_dir: Path) -> None:
    parent = safe_dir / "shared"
    (parent / "project").mkdir(parents=True)
    with real_group(other_member=True) as gid:
        give_to_group(parent, gid, 0o770)
        assert_refused(parent / "project", home=home_of(safe_dir), reason="without the sticky bit")


def test_ancestor_writable_with_sticky_bit_is_accepted(safe_dir: Path) -> None:
    parent = safe_dir / "sticky"
    (parent / "project").mkdir(parents=True)
    parent.chmod(0o1777)
    assert check_working_directory(parent / "project", home=home_of(safe_dir))


@needs_root
def test_not_owned_by_the_user(safe_dir: Path) -> None:
    project = safe_dir / "project"
    project.mkdir()
    os.chown(project, OTHER_UID, OTHER_UID)
    assert_refused(project, home=home_of(safe_dir), reason="not owned by you")


def test_not_owned_by_the_given_uid(safe_dir: Path) -> None:
    """Root-owned ancestors are fine for any user; the directory itself must be theirs."""
    project = safe_dir / "project"
    project.mkdir()
    uid = os.getuid() + 1 if os.getuid() != 0 else OTHER_UID
    if os.getuid() == 0:
        assert_refused(project, home=home_of(safe_dir), uid=uid, reason="not owned by you")
        os.chown(project, uid, uid)
        # The safe base is root's (the test user's); ancestors may belong to root or the user.
        assert check_working_directory(project, home=home_of(safe_dir), uid=uid)
    else:
        assert_refused(project, home=home_of(safe_dir), uid=uid, reason="not owned by you")


@needs_root
def test_ancestor_owned_by_another_user(safe_dir: Path) -> None:
    parent = safe_dir / "theirs"
    (parent / "project").mkdir(parents=True)
    os.chown(parent, OTHER_UID, OTHER_UID)
    assert_refused(parent / "project", home=home_of(safe_dir), reason="owned by another user")


@pytest.mark.parametrize("parent", ["/tmp", "/var/tmp", "/dev/shm", "/run"])
def test_ephemeral_locations(parent: str, ephemeral_dirs: Callable[[str], Path], safe_dir: Path) -> None:
    path = ephemeral_dirs(parent)
    (path / "project").mkdir()
    for candidate in (path, path / "project"):
        assert_refused(candidate, home=home_of(safe_dir), reason="temporary location")


@pytest.mark.parametrize("path", ["/tmp", "/run", "/var/run/x", "/var/lock/x"])
def test_ephemeral_roots_themselves(path: str, safe_dir: Path) -> None:
    assert_refused(Path(path), home=home_of(safe_dir), reason="temporary location")


@pytest.mark.parametrize("path", ["/proc/self", "/sys/kernel", "/dev/pts"])
def test_kernel_filesystems(path: str, safe_dir: Path) -> None:
    assert_refused(Path(path), home=home_of(safe_dir), reason="kernel or device filesystem")


def test_root_directory(safe_dir: Path) -> None:
    assert_refused(Path("/"), home=home_of(safe_dir), reason="root directory")


def test_home_directory_itself(safe_dir: Path) -> None:
    home = safe_dir / "home"
    home.mkdir()
    assert_refused(home, home=home, reason="home directory itself")
    # A home given with a trailing slash or through a symlink is still the home.
    assert_refused(home, home=Path(str(home) + "/"), reason="home directory itself")
    (safe_dir / "homelink").symlink_to(home)
    assert_refused(home, home=safe_dir / "homelink", reason="home directory itself")
    (home / "project").mkdir()
    assert check_working_directory(home / "project", home=home)


UNSAFE_NAMES = {
    "newline": ("a\nExecStart=x", "line break"),
    "carriage return": ("a\rb", "line break"),
    "escape": ("a\x1b[2Jb", "control character"),
    "tab": ("a\tb", "control character"),
    "del": ("a\x7fb", "control character"),
    "c1": ("a\x85b", "control character"),
    "line separator": ("a\u2028b", "line or paragraph separator"),
    "paragraph separator": ("a\u2029b", "line or paragraph separator"),
    "bidi override": ("a\u202eb", "invisible formatting character"),
    "zero width joiner": ("a\u200db", "invisible formatting character"),
    "no-break space": ("a\u00a0b", "space character other than the plain space"),
    "backslash": ("a\\b", "backslash"),
    "trailing backslash": ("ab\\", "backslash"),
    "trailing space": ("ab ", "ends with a space"),
}


@pytest.mark.parametrize(("name", "reason"), UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
def test_characters_a_unit_cannot_carry(name: str, reason: str, safe_dir: Path) -> None:
    project = safe_dir / name
    project.mkdir()  # real directories: the filesystem takes them, a unit file cannot
    assert_refused(project, home=home_of(safe_dir), reason=reason)


def test_undecodable_name(safe_dir: Path) -> None:
    raw = os.fsencode(safe_dir) + b"/bad\xffname"
    os.mkdir(raw)
    assert_refused(Path(os.fsdecode(raw)), home=home_of(safe_dir), reason="surrogate")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/" + "/".join(["d" * 200] * 25), "longer than a path may be"),
        ("/srv/" + "n" * 256, "longer than a path may be"),
        ("/srv/./project", "not a normalized path"),
        ("/srv/../srv/project", "not a normalized path"),
        ("//srv/project", "not a normalized path"),
    ],
)
def test_lexically_unsafe_paths(path: str, reason: str, safe_dir: Path) -> None:
    assert_refused(path, home=home_of(safe_dir), reason=reason)


def test_memory_filesystem_is_refused_wherever_it_is_mounted(safe_dir: Path) -> None:
    """A tmpfs mounted on a safe-looking path is still emptied at reboot.  The mount lives
    in a private mount namespace so nothing else on the machine sees it."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed for this test")
    target = safe_dir / "mounted"
    target.mkdir()
    code = (
        "import sys; from pathlib import Path;"
        "from aios_systemd.errors import UnsafePathError;"
        "from aios_systemd.units.safety import check_working_directory, filesystem_type;"
        "p = Path(sys.argv[1]); print(filesystem_type(str(p)));"
        "check_working_directory(p, home=Path('/nonexistent-home'))"
    )
    script = 'mount --make-rprivate / && mount -t tmpfs -o mode=0700 tmpfs "$1" && exec "$2" -c "$3" "$1"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(target), sys.executable, code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    if "mount:" in done.stderr and "tmpfs" not in done.stdout:
        pytest.fail(f"could not mount a tmpfs in a private namespace: {done.stderr}")
    assert done.stdout.strip() == "tmpfs"
    assert "UnsafePathError" in done.stderr and "memory filesystem" in done.stderr, done.stderr
    # Outside that namespace the same directory is an ordinary, accepted one.
    assert check_working_directory(target, home=home_of(safe_dir))


def test_filesystem_type_reads_mountinfo() -> None:
    assert filesystem_type("/dev/shm/x") == "tmpfs"
    assert filesystem_type("/proc/self") == "proc"
    assert filesystem_type("/") is not None


# -- allowed names render and verify ----------------------------------------------------------
ALLOWED_NAMES = [
    "plain",
    "sp ace",
    "100%h pct",
    'dq"x',
    "sq'x",
    "dollar$HOME",
    "semi;x",
    "hash #x",
    "é-ü-日本",
    " lead",
    "=eq",
    "%%",
]


@pytest.mark.parametrize("name", ALLOWED_NAMES)
def test_allowed_names_pass_and_verify_silently(name: str, safe_dir: Path) -> None:
    project = safe_dir / name
    project.mkdir()
    assert check_working_directory(project, home=home_of(safe_dir)) == project
    units = render_with(safe_dir, working_directory=project, aios_run=fake_aios_run(safe_dir / "bin"))
    assert_verifies(units, safe_dir / "verify")


# -- render --output ----------------------------------------------------------------------------
def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"},
    )


@pytest.fixture
def repo(safe_dir: Path) -> Path:
    root = safe_dir / "repo"
    root.mkdir()
    git("init", "-q", ".", cwd=root)
    (root / ".gitignore").write_text("/units-out/\nbuild/\n")
    (root / "src").mkdir()
    return root


def env_for(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "LANG": "C.UTF-8"}


def test_output_outside_any_repository_is_accepted(safe_dir: Path) -> None:
    check_output_directory(safe_dir / "out", cwd=safe_dir, env=env_for(safe_dir))
    check_output_directory(Path("out/new"), cwd=safe_dir, env=env_for(safe_dir))


@pytest.mark.parametrize("relative", [".", "src", "src/new", "new-dir", "units-out-not"])
def test_output_in_a_work_tree_not_ignored_is_refused(relative: str, repo: Path) -> None:
    with pytest.raises(UsageError) as info:
        check_output_directory(Path(relative), cwd=repo, env=env_for(repo.parent))
    assert "git does not ignore it" in info.value.message
    assert str(repo) not in info.value.message and info.value.hint


@pytest.mark.parametrize("relative", ["units-out", "units-out/deeper", "build", "src/build/x"])
def test_output_ignored_by_git_is_accepted(relative: str, repo: Path) -> None:
    check_output_directory(Path(relative), cwd=repo, env=env_for(repo.parent))  # not created yet
    (repo / relative).mkdir(parents=True)
    check_output_directory(repo / relative, cwd=Path("/"), env=env_for(repo.parent))  # exists, absolute
    check_output_directory(Path("."), cwd=repo / relative, env=env_for(repo.parent))


def test_output_inside_the_git_directory_is_refused(repo: Path) -> None:
    with pytest.raises(UsageError) as info:
        check_output_directory(repo / ".git" / "units", cwd=repo, env=env_for(repo.parent))
    assert "repository's own directory" in info.value.message


def test_output_file_is_refused(repo: Path) -> None:
    (repo / "units-out").write_text("not a directory")
    with pytest.raises(UsageError) as info:
        check_output_directory(Path("units-out"), cwd=repo, env=env_for(repo.parent))
    assert "not a directory" in info.value.message


def test_without_git_a_dot_git_above_is_refused(repo: Path, safe_dir: Path) -> None:
    missing_git = str(safe_dir / "no-such-git")
    with pytest.raises(UsageError) as info:
        check_output_directory(Path("units-out"), cwd=repo, env=env_for(safe_dir), git=missing_git)
    assert "git is not installed" in info.value.message
    # With no .git anywhere above, a missing git means "not a work tree".
    check_output_directory(safe_dir / "elsewhere", cwd=safe_dir, env=env_for(safe_dir), git=missing_git)


@needs_root
def test_a_repository_git_refuses_to_read_is_refused(repo: Path) -> None:
    """git will not read a repository owned by someone else (safe.directory); that is not
    "no repository here"."""
    for dirpath, dirnames, filenames in os.walk(repo):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), OTHER_UID, OTHER_UID)
    os.chown(repo, OTHER_UID, OTHER_UID)
    with pytest.raises(UsageError) as info:
        check_output_directory(Path("units-out"), cwd=repo, env=env_for(repo.parent))
    assert "could not read" in info.value.message
