"""Field profiles: the login environments real users run the toolkit in, and how a test
runs a command inside one.

A profile is a file of ``NAME=value`` lines (``tests/field/profiles/``; ``../shared/field/
profiles/`` beside a checkout holds the shared, growing set) with headers:

* ``# secrets: NAME...`` (or ``(none)``): the variables whose values must never appear;
  each line of a multi-line value, and the password of a URL, are secrets too;
* ``# os-release: NAME``: the system's ``os-release`` (``os-release/NAME`` beside the
  profiles directory), applied by a bind mount over ``/usr/lib/os-release`` in a private
  mount namespace (needs root; ``/etc/os-release`` is a symlink to it);
* ``# umask: NNNN`` and ``# project-mode: NNNN``: the user's umask, and the mode their
  checkout has under it.

Values are read as the shared ``field.py`` reads them (its documented, deliberately simple
forms: an ``export`` prefix, single or double quotes, an inline comment after a space, and
``\\n`` in double quotes); a ``.env.local`` profile is not put in the environment but
copied into the project root.  A command gets the profile's environment except what the
caller provides: ``HOME``, the ``XDG_*`` base directories and ``DBUS_SESSION_BUS_ADDRESS``
come from the caller (or stay unset), every ``AIOS_*`` of the caller is added, and ``PATH``
is the caller's followed by the profile's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OWN_PROFILES = HERE / "profiles"
# CI keeps a read-only copy of the shared directory beside the clone; new profiles appear there.
SHARED_PROFILES = REPO.parent / "shared" / "field" / "profiles"
DROPINS = HERE / "dropins"

FROM_CALLER = (
    "HOME",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
)
ENV_LOCAL_SUFFIX = ".env.local"
ENV_SUFFIX = ".env"
# Drop-ins a distribution installs for every user service (``/usr/lib/systemd/user/service.d/``),
# by os-release ID: the private manager of a profile on that system gets them too.
DISTRIBUTION_DROPINS = {"fedora": ("10-timeout-abort.conf",)}

_TOOLS = "/usr/sbin:/usr/bin:/sbin:/bin"
# $0 is the os-release file; the command follows.  Nothing else on the machine sees the mount.
_OS_RELEASE_SCRIPT = '{mount} --make-rprivate / && {mount} --bind "$0" /usr/lib/os-release && exec "$@"'


@dataclass(frozen=True)
class Secret:
    """One value that must never appear, and how to name it without showing it."""

    variable: str
    form: str  # "value", "line 2 of the value", "URL password", "value as JSON text", ...
    value: str

    def label(self, origin: str) -> str:
        return f"{self.variable} ({self.form}, from {origin})"


@dataclass(frozen=True)
class Profile:
    path: Path
    values: dict[str, str]
    secret_names: tuple[str, ...]
    umask: int | None = None
    os_release_name: str | None = None
    project_mode: int | None = None
    content: bytes = field(default=b"", repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def short(self) -> str:
        for suffix in (ENV_LOCAL_SUFFIX, ENV_SUFFIX):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name

    @property
    def is_env_local(self) -> bool:
        return self.name.endswith(ENV_LOCAL_SUFFIX)

    @property
    def os_release(self) -> Path | None:
        """The profile's os-release file, beside its own profiles directory."""
        if self.os_release_name is None:
            return None
        return self.path.parent.parent / "os-release" / self.os_release_name

    @classmethod
    def load(cls, path: Path) -> Profile:
        content = path.read_bytes()
        values: dict[str, str] = {}
        secrets: list[str] = []
        headers: dict[str, str] = {}
        for raw in content.decode("utf-8").splitlines():
            line = raw.strip()
            if line.startswith("#"):
                key, _, rest = line[1:].strip().partition(":")
                if key == "secrets":
                    secrets += [n for n in rest.split() if n != "(none)"]
                elif key in ("umask", "os-release", "project-mode"):
                    headers[key] = rest.strip()
                continue
            if not line or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[len("export ") :]
            name, value = line.split("=", 1)
            values[name.strip()] = _value(value)
        return cls(
            path=path,
            values=values,
            secret_names=tuple(secrets),
            umask=int(headers["umask"], 8) if "umask" in headers else None,
            os_release_name=headers.get("os-release"),
            project_mode=int(headers["project-mode"], 8) if "project-mode" in headers else None,
            content=content,
        )

    def secrets(self) -> list[Secret]:
        """Every secret value of this profile, in each form it must not appear in."""
        out: list[Secret] = []
        for name in self.secret_names:
            value = self.values.get(name, "")
            if not value:
                continue
            out.append(Secret(name, "value", value))
            as_json = json.dumps(value)[1:-1]
            if as_json != value:  # as a JSON string carries it (a multi-line value: \n escapes)
                out.append(Secret(name, "value as JSON text", as_json))
            if "\n" in value:  # each line alone
                out += [
                    Secret(name, f"line {i} of the value", part)
                    for i, part in enumerate(value.split("\n"), 1)
                    if part.strip()
                ]
            if "://" in value and "@" in value.split("://", 1)[1]:
                userinfo = value.split("://", 1)[1].split("@", 1)[0]
                if ":" in userinfo and userinfo.split(":", 1)[1]:
                    out.append(Secret(name, "URL password", userinfo.split(":", 1)[1]))
        return out

    def environment(self, caller: Mapping[str, str]) -> dict[str, str]:
        """The environment a command gets in this profile, called from ``caller``."""
        env = dict(self.values)
        for name in FROM_CALLER:
            env.pop(name, None)
            if name in caller:
                env[name] = caller[name]
        env["PATH"] = ":".join(p for p in (caller.get("PATH", ""), self.values.get("PATH", "")) if p)
        env.update({k: v for k, v in caller.items() if k.startswith("AIOS_")})
        return env

    def os_release_id(self) -> str | None:
        path = self.os_release
        if path is None:
            return None
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "ID":
                return value.strip().strip("\"'")
        return None

    def dropins(self) -> list[Path]:
        return [DROPINS / name for name in DISTRIBUTION_DROPINS.get(self.os_release_id() or "", ())]


def _value(text: str) -> str:
    text = text.strip()
    if text[:1] in ("'", '"'):
        quote = text[0]
        end = text.find(quote, 1)
        inner = text[1:end] if end > 0 else text[1:]
        return inner.replace("\\n", "\n") if quote == '"' else inner
    if " #" in text:
        text = text.split(" #", 1)[0]
    return text.strip()


# -- which profiles ---------------------------------------------------------------------------
def profile_dirs() -> list[Path]:
    """The project's own copy, and the shared set when it is there (CI: beside the clone)."""
    return [OWN_PROFILES, *([SHARED_PROFILES] if SHARED_PROFILES.is_dir() else [])]


def discover(directories: Iterable[Path] | None = None) -> list[Profile]:
    """Every profile of every directory, de-duplicated by file name and content."""
    seen: set[tuple[str, bytes]] = set()
    out: list[Profile] = []
    for directory in profile_dirs() if directories is None else directories:
        for path in sorted(directory.iterdir()):
            if not path.is_file() or not path.name.endswith((ENV_SUFFIX, ENV_LOCAL_SUFFIX)):
                continue
            profile = Profile.load(path)
            key = (profile.name, profile.content)
            if key not in seen:
                seen.add(key)
                out.append(profile)
    return out


@dataclass(frozen=True)
class Combination:
    """An env profile, alone or with a ``.env.local`` profile in the project root."""

    env: Profile
    env_local: Profile | None = None
    id: str = ""

    def profiles(self) -> list[Profile]:
        return [self.env, *([self.env_local] if self.env_local else [])]

    def secrets(self) -> list[tuple[Secret, str]]:
        """(secret, the profile file it comes from) for the leak checks."""
        return [(s, p.name) for p in self.profiles() for s in p.secrets()]


def combinations(profiles: Sequence[Profile] | None = None) -> list[Combination]:
    profiles = discover() if profiles is None else list(profiles)
    # A profile keeps its short name; a later one of the same name (a changed shared copy)
    # says it is the shared one.
    labels: dict[int, str] = {}
    for p in profiles:
        name, n = p.short, 1
        while name in labels.values():
            n += 1
            name = f"shared:{p.short}" if n == 2 else f"shared{n - 1}:{p.short}"
        labels[id(p)] = name

    envs = [p for p in profiles if not p.is_env_local]
    locals_ = [p for p in profiles if p.is_env_local]
    out = []
    for env in envs:
        out.append(Combination(env, None, labels[id(env)]))
        out += [Combination(env, local, f"{labels[id(env)]}+{labels[id(local)]}") for local in locals_]
    return out


# -- running a command in a profile ----------------------------------------------------------
def wrap(argv: Sequence[str], profile: Profile) -> list[str]:
    """``argv``, run on the profile's os-release when it names one (root only)."""
    os_release = profile.os_release
    if os_release is None:
        return list(argv)
    if not os_release.is_file():
        raise FileNotFoundError(
            f"{profile.name} names os-release {profile.os_release_name!r}, not in {os_release.parent}"
        )
    if os.geteuid() != 0:
        raise PermissionError(f"{profile.name} needs root: its os-release is applied by a bind mount")
    unshare, mount = shutil.which("unshare", path=_TOOLS), shutil.which("mount", path=_TOOLS)
    if unshare is None or mount is None:
        raise FileNotFoundError("unshare or mount (util-linux) is missing")
    script = _OS_RELEASE_SCRIPT.format(mount=mount)
    return [unshare, "-m", "/bin/sh", "-c", script, str(os_release), *argv]


def run(
    profile: Profile,
    argv: Sequence[str],
    *,
    caller: Mapping[str, str],
    cwd: Path,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the profile's environment, umask and os-release, in ``cwd``.

    The caller's environment gives the plumbing (``HOME``, ``XDG_*``,
    ``DBUS_SESSION_BUS_ADDRESS``, ``AIOS_*``, the head of ``PATH``); stdout and stderr are
    pipes, stdin is ``/dev/null``.
    """
    return subprocess.run(
        wrap(argv, profile),
        env=profile.environment(caller),
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        umask=-1 if profile.umask is None else profile.umask,
        stdin=subprocess.DEVNULL,
    )
