"""Where a unit may point: the working-directory policy and the render output check.

A unit runs unattended, later, as the user: its working directory must be a place only
the user (or root, for the directories above it) can change, that survives a reboot, and
that a unit file can carry literally.  Every refusal says why and how to fix it, and
names "the working directory", never the path itself (it carries the user's name).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from aios_systemd import proc
from aios_systemd.errors import AiosError, ProcessFailedError, UnsafePathError, UsageError
from aios_systemd.perms import OTHERS, check_tree, writable_by_others
from aios_systemd.units.templates import check_path_text, unsafe_character

LABEL = "the working directory"
# Lexical prefixes that are emptied at boot or are kernel views, not storage.
EPHEMERAL = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run", "/var/lock")  # noqa: S108 - refused, not used
VIRTUAL = ("/dev", "/proc", "/sys")
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "proc", "sysfs", "cgroup", "cgroup2"})
MOUNTINFO = Path("/proc/self/mountinfo")
GIT_TIMEOUT = 10.0


def _refuse(reason: str, hint: str) -> UnsafePathError:
    return UnsafePathError(f"{LABEL} {reason}", hint)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and i + 4 <= len(field):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(path: str, mountinfo: Path = MOUNTINFO) -> str | None:
    """The type of the filesystem mounted closest above ``path`` (``None``: unknown)."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        mount_point = _unescape_mountinfo(fields[4])
        covers = mount_point == "/" or _under(path, (mount_point,))
        # Later lines are mounted on top of earlier ones at the same point, hence ">=".
        if covers and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), right.split()[0])
    return best[1] if best else None


def check_working_directory(path: Path, *, home: Path, uid: int | None = None) -> Path:
    """``path`` if a unit may use it as its working directory; else :class:`UnsafePathError`."""
    uid = os.getuid() if uid is None else uid
    text = str(path) if isinstance(path, Path) else path
    if not isinstance(text, str):
        raise _refuse("is not a path", "pass a directory path")
    check_path_text(text, LABEL)
    if text == "/":
        raise _refuse("is the root directory", "use the project's own directory")
    if _under(text, EPHEMERAL):
        raise _refuse(
            "is in a temporary location that is emptied at reboot",
            "keep the project under your home directory or another persistent disk",
        )
    if _under(text, VIRTUAL):
        raise _refuse(
            "is in a kernel or device filesystem, not on a disk",
            "keep the project under your home directory or another persistent disk",
        )
    home_text = os.path.normpath(str(home))
    if text == home_text:
        raise _refuse(
            "is the home directory itself", "use the project's own directory, such as a checkout under your home"
        )

    check_tree(text, uid=uid, label=LABEL, above="a directory above the working directory")
    try:
        same_as_home = os.path.samestat(Path(text).stat(), Path(home_text).stat())
    except OSError:
        same_as_home = False
    if same_as_home:
        raise _refuse("is the home directory itself", "use the project's own directory")
    fstype = filesystem_type(text)
    if fstype in MEMORY_FILESYSTEMS:
        raise _refuse("is on a memory filesystem that is emptied at reboot", "keep the project on a persistent disk")
    return path


def unit_directory_problem(unit_dir: Path, config_home: Path, uid: int | None = None) -> str | None:
    """Why another user could change the units in ``unit_dir``, or ``None``: it, or a
    directory between it and ``config_home`` (those the toolkit creates), belongs to
    someone else or others can write it.  Missing ones are skipped (install creates them
    0700); links are followed, as systemd follows them."""
    uid = os.getuid() if uid is None else uid
    for directory in (config_home, config_home / "systemd", unit_dir):
        try:
            st = os.stat(directory)
        except OSError:
            continue
        if st.st_uid != uid:
            return "is owned by another user"
        if writable_by_others(st, str(directory)):
            return f"is writable by {OTHERS}"
    return None


def exposed_unit_directory(label: str, problem: str) -> tuple[str, str]:
    """What doctor and install say of a unit directory (``label``) others can change, after
    its label: the reason and the hint."""
    return (
        f"it, or a directory above it, {problem}",
        f"make {label} and the directories above it up to your config directory yours and "
        "writable only by you (chmod go-w): whoever can write there can change what a unit runs",
    )


# -- render --output ---------------------------------------------------------------------
OUTPUT_LABEL = "the output directory"


def _git(git: str, args: list[str], where: Path, env: Mapping[str, str]) -> proc.ProcResult:
    return proc.run([git, *args], cwd=where, env=proc.clean_env(env), timeout=GIT_TIMEOUT, check=False)


def _git_marker_above(start: Path) -> bool:
    for directory in (start, *start.parents):
        try:
            os.lstat(directory / ".git")
        except FileNotFoundError:
            continue
        except OSError:
            return True  # unreadable: cannot rule a repository out
        return True
    return False


def _nearest_existing(target: Path) -> Path:
    for directory in (target, *target.parents):
        try:
            st = directory.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UsageError(
                f"{OUTPUT_LABEL} cannot be inspected ({exc.strerror or 'I/O error'})", "check its permissions"
            ) from None
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{OUTPUT_LABEL} (or a parent of it) is not a directory", "choose a directory")
        return directory
    return Path("/")


def check_output_directory(path: Path, *, cwd: Path, env: Mapping[str, str], git: str = "git") -> None:
    """Refuse an ``aios-units render --output`` directory that git could commit.

    Inside a git work tree the directory must be ignored by git; a directory inside a
    repository's own ``.git`` (or a bare repository) is refused as well.  Without a git
    binary, a ``.git`` anywhere above is enough to refuse: whether it is ignored cannot be
    told.  ``git`` names the program (tests point it at a missing one).
    """
    text = str(path)
    found = unsafe_character(text)
    if found is not None:
        raise UsageError(f"{OUTPUT_LABEL} contains {found}", "choose a plain directory name")
    target = Path(os.path.normpath(cwd / text))
    existing = _nearest_existing(target)
    hint_outside = "choose a directory outside the work tree, or one that the repository's .gitignore ignores"
    try:
        inside = _git(git, ["rev-parse", "--is-inside-work-tree"], existing, env)
    except ProcessFailedError as exc:
        if exc.returncode is not None:
            raise
        if _git_marker_above(existing):
            raise UsageError(
                f"{OUTPUT_LABEL} is below a .git and git is not installed to tell whether it is ignored",
                "install git, or " + hint_outside,
            ) from None
        return
    answer = inside.stdout.strip()
    if inside.returncode != 0:
        if _git_marker_above(existing):
            # Not "not a repository": git refused it (dubious ownership, damage).
            raise UsageError(
                f"{OUTPUT_LABEL} is below a git repository that git could not read",
                "fix the repository (see 'git status' there), or " + hint_outside,
            )
        return
    if answer == b"false":
        raise UsageError(
            f"{OUTPUT_LABEL} is inside a git repository's own directory", "choose a directory outside the repository"
        )
    if answer != b"true":
        raise AiosError("git gave an unexpected answer about the output directory", "report this as a bug")
    relative = os.path.relpath(target, existing)
    spec = "./" if relative == "." else relative + "/"
    ignored = _git(git, ["check-ignore", "-q", "--", spec], existing, env)
    if ignored.returncode == 0:
        return
    if ignored.returncode == 1:
        raise UsageError(
            f"{OUTPUT_LABEL} is inside a git work tree and git does not ignore it; "
            "generated unit files never belong in git",
            hint_outside,
        )
    raise UsageError(
        f"{OUTPUT_LABEL} could not be checked against the repository's ignore rules",
        "run 'git check-ignore' there to see why, or " + hint_outside,
    )
