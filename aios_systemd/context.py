"""Everything resolved once per invocation and passed explicitly to core functions.

No module holds a path at import time; the CLI builds one :class:`Context` from argv and
the environment, and tests build their own with temporary directories.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from ._typing import TYPE_CHECKING
from .errors import UsageError
from .record import Record

if TYPE_CHECKING:
    from .privacy import Privacy

CONFIG_RELPATH = Path("data/ai-os.scheduler.json")
CONFIG_EXAMPLE_RELPATH = Path("data/ai-os.scheduler.example.json")
LIVE_DATA_RELPATH = Path("src/data/live-data.json")
LIVE_DATA_EXAMPLE_RELPATH = Path("src/data/live-data.example.json")
ENV_LOCAL_RELPATH = Path(".env.local")
DATA_LOCK_NAME = "generated-live-data"
# The monitoring settings' names (settings.PING_URL, settings.METRICS_FILE), here so that
# aios-run tells whether either is set without loading the settings table.
PING_URL_PREFIX = "AIOS_PING_URL_"
METRICS_FILE_VAR = "AIOS_METRICS_FILE"


def _absolute_env_dir(env: Mapping[str, str], name: str) -> Path | None:
    # The XDG base directory spec says relative values are invalid and must be ignored.
    value = env.get(name, "")
    return Path(value) if value.startswith("/") else None


class Context(Record):
    """Everything resolved once per invocation (built by :meth:`from_environ`)."""

    __slots__ = ("_privacy",)  # built on first use: see privacy

    project_root: Path
    scheduler_root: Path
    home: Path
    config_home: Path
    env: Mapping[str, str]

    def __repr__(self) -> str:  # never the environment: it holds secrets
        return f"Context(project_root={self.project_root!r}, scheduler_root={self.scheduler_root!r})"

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        project_root: str | os.PathLike[str] | None = None,
        cwd: Path | None = None,
    ) -> Context:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("HOME") or os.path.expanduser("~"))
        base = cwd or Path.cwd()
        root_value = project_root if project_root is not None else env.get("AIOS_PROJECT_ROOT") or None
        root = Path(os.path.abspath(base / Path(root_value))) if root_value else Path(os.path.abspath(base))

        sched_value = env.get("AIOS_SCHEDULER_ROOT", "")
        if sched_value:
            if not sched_value.startswith("/"):
                raise UsageError(
                    "AIOS_SCHEDULER_ROOT must be an absolute path",
                    "set it to an absolute directory, or unset it to use $XDG_STATE_HOME/ai-os/scheduler",
                )
            scheduler_root = Path(os.path.normpath(sched_value))
        else:
            state_home = _absolute_env_dir(env, "XDG_STATE_HOME") or home / ".local" / "state"
            scheduler_root = state_home / "ai-os" / "scheduler"
        config_home = _absolute_env_dir(env, "XDG_CONFIG_HOME") or home / ".config"
        return cls(root, scheduler_root, home, config_home, MappingProxyType(env))

    def require_project_root(self, *, safe: bool = True) -> Path:
        """The project root, which must already exist: a command never creates one, and
        never reports on one that is not there (a typo or a moved checkout must not become
        a fresh tree, or a status that says all is well).  A command that runs or writes
        (``safe``) also needs it safe from other users, as a unit's working directory is:
        its ``.env.local`` and config steer what runs and where the Apify token goes."""
        if not self.project_root.is_dir():
            raise UsageError(
                "the project root does not exist or is not a directory",
                "pass --project-root DIR (or set AIOS_PROJECT_ROOT) to your AI OS checkout",
            )
        if not safe:
            return self.project_root
        from .perms import check_tree

        check_tree(
            str(self.project_root),
            uid=os.getuid(),
            label="the project root",
            above="a directory above the project root",
            follow=True,
        )
        return self.project_root

    def env_local_warning(self) -> str | None:
        """Why ``.env.local`` exists but is ignored (another user's, writable by others, a
        symlink...), for the run's warnings; ``None`` when it is used or missing."""
        from . import envfile

        problems: list[str] = []
        envfile.load(self.env_local_path, problems)
        return problems[0] if problems else None

    # -- project files -------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.project_root / CONFIG_RELPATH

    @property
    def live_data_path(self) -> Path:
        return self.project_root / LIVE_DATA_RELPATH

    @property
    def live_data_example_path(self) -> Path:
        return self.project_root / LIVE_DATA_EXAMPLE_RELPATH

    @property
    def env_local_path(self) -> Path:
        return self.project_root / ENV_LOCAL_RELPATH

    @property
    def project_key(self) -> str:
        """Which checkout a run was for, without its path: the CRC-32 of the project root's
        real path, in hex (a run records it; status compares it, as one scheduler root may
        serve runs of several checkouts).  An identity, not a secret: binascii, because
        hashlib's OpenSSL import would cost aios-run an eighth of its start-up."""
        import binascii

        return f"{binascii.crc32(os.path.realpath(self.project_root).encode('utf-8', 'surrogateescape')):08x}"

    # -- scheduler root ------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.scheduler_root / "state"

    @property
    def locks_dir(self) -> Path:
        return self.scheduler_root / "locks"

    @property
    def logs_dir(self) -> Path:
        return self.scheduler_root / "logs"

    @property
    def cache_dir(self) -> Path:
        return self.scheduler_root / "cache"

    def state_path(self, job_id: str) -> Path:
        return self.state_dir / f"{job_id}.json"

    def blocked_state_path(self, job_id: str) -> Path:
        return self.state_dir / f"{job_id}.blocked.json"

    def reported_failure_path(self, job_id: str) -> Path:
        return self.state_dir / f"{job_id}.reported.json"

    def lock_path(self, job_id: str) -> Path:
        return self.locks_dir / f"{job_id}.lock"

    def log_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.jsonl"

    @property
    def data_lock_path(self) -> Path:
        return self.locks_dir / f"{DATA_LOCK_NAME}.lock"

    # -- systemd -------------------------------------------------------------------
    @property
    def unit_dir(self) -> Path:
        return self.config_home / "systemd" / "user"

    @property
    def data_home(self) -> Path:
        return _absolute_env_dir(self.env, "XDG_DATA_HOME") or self.home / ".local" / "share"

    @property
    def runtime_dir(self) -> Path | None:
        return _absolute_env_dir(self.env, "XDG_RUNTIME_DIR")

    # -- privacy -------------------------------------------------------------------
    @property
    def privacy(self) -> Privacy:
        """Built on first use (it reads ``.env.local``), then kept."""
        privacy: Privacy | None = getattr(self, "_privacy", None)
        if privacy is None:
            from . import envfile
            from .privacy import Privacy

            privacy = Privacy.from_env(self.env, str(self.home), envfile.load(self.env_local_path))
            object.__setattr__(self, "_privacy", privacy)
        return privacy
