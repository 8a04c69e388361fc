"""The environment settings that decide what a job does: one table, defined once.

Jobs read them from the process environment over the project's ``.env.local``; a timer's
service gets the *user manager's* environment, not the shell's, which is why ``aios-units
doctor`` compares the two for every setting here (by name; values are never shown).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from .context import METRICS_FILE_VAR, PING_URL_PREFIX
from .record import Record


class Source(enum.StrEnum):
    """Where a job reads a setting from."""

    PROJECT = "project"  # the environment over the project's .env.local
    PROCESS = "process"  # the process environment only (read by the interpreter or the OS)


class EnvSetting(Record):
    name: str
    source: Source
    meaning: str
    secret: bool = False  # compared by presence: a credential's value is never compared
    # A family: ``name`` is a prefix, and each job has its own member, the prefix plus the
    # job id upper-cased with ``-`` as ``_`` (``AIOS_PING_URL_AGENT_AGGREGATE``).
    per_job: bool = False
    # The manager sets it for every service from the user's account (HOME): a timer run's
    # value is never one to remove from the manager's environment.
    account: bool = False

    def for_job(self, job_id: str) -> EnvSetting:
        """This family's member for ``job_id``."""
        return self._replace(name=self.name + job_id.upper().replace("-", "_"), per_job=False)


ENABLED_EXTENSIONS = EnvSetting(
    "VITE_CLAUDE_OS_ENABLED_EXTENSIONS", Source.PROJECT, "the enabled extensions (Trend Finder runs only when listed)"
)
DREAM_ENABLED = EnvSetting("AI_OS_DREAM_ENABLED", Source.PROJECT, "Dream's activation gate")
DREAM_MAX_AGE = EnvSetting("AI_OS_DREAM_MATERIAL_MAX_AGE_MINUTES", Source.PROJECT, "how old Dream's material may be")
DREAM_PROVIDER = EnvSetting("AI_OS_DREAM_PROVIDER", Source.PROJECT, "Dream's provider")
DREAM_KEEP = EnvSetting("AI_OS_DREAM_KEEP", Source.PROJECT, "how many Dream outputs are kept")
DREAM_PROVIDER_TIMEOUT = EnvSetting("AI_OS_DREAM_PROVIDER_TIMEOUT_SECS", Source.PROJECT, "Dream's provider timeout")
APIFY_TOKEN = EnvSetting("APIFY_TOKEN", Source.PROJECT, "the Apify token", secret=True)
FINDTREND_DATASETS = EnvSetting("FINDTREND_APIFY_DATASET_IDS", Source.PROJECT, "Trend Finder's datasets")
FINDTREND_BUDGET = EnvSetting("FINDTREND_APIFY_COLLECTION_BUDGET_SECS", Source.PROJECT, "Trend Finder's time budget")
FINDTREND_BASE_URL = EnvSetting("FINDTREND_APIFY_BASE_URL", Source.PROJECT, "Trend Finder's API base")
FINDTREND_LIMIT = EnvSetting("FINDTREND_APIFY_ITEM_LIMIT", Source.PROJECT, "Trend Finder's item limit")
HOME = EnvSetting("HOME", Source.PROCESS, "the home directory (agent activity, default state and config)", account=True)
TZ = EnvSetting("TZ", Source.PROCESS, "the time zone")
PING_URL = EnvSetting(PING_URL_PREFIX, Source.PROJECT, "the job's healthcheck ping URL", secret=True, per_job=True)
METRICS_FILE = EnvSetting(METRICS_FILE_VAR, Source.PROJECT, "the metrics file every run rewrites")
# Not here: AIOS_PROJECT_ROOT, AIOS_SCHEDULER_ROOT and XDG_STATE_HOME.  The units pin both
# roots (--project-root, Environment=AIOS_SCHEDULER_ROOT=), so no environment moves a run.

JOB_SETTINGS: tuple[EnvSetting, ...] = (
    ENABLED_EXTENSIONS,
    DREAM_ENABLED,
    DREAM_MAX_AGE,
    DREAM_PROVIDER,
    DREAM_KEEP,
    DREAM_PROVIDER_TIMEOUT,
    APIFY_TOKEN,
    FINDTREND_DATASETS,
    FINDTREND_BUDGET,
    FINDTREND_BASE_URL,
    FINDTREND_LIMIT,
    HOME,
    TZ,
    PING_URL,
    METRICS_FILE,
)


def value(setting: EnvSetting, environ: Mapping[str, str], env_local: Mapping[str, str]) -> str | None:
    """What a job reads for ``setting``: ``environ`` over ``.env.local`` for a project setting."""
    found = environ.get(setting.name)
    if found is None and setting.source is Source.PROJECT:
        found = env_local.get(setting.name)
    return found


def ping_url(job_id: str, environ: Mapping[str, str], env_local: Mapping[str, str]) -> tuple[str, str]:
    """The job's ping URL setting: its variable's name, and its value ("" when unset)."""
    member = PING_URL.for_job(job_id)
    return member.name, (value(member, environ, env_local) or "").strip()


def effective(setting: EnvSetting, environ: Mapping[str, str], env_local: Mapping[str, str]) -> str | bool | None:
    """What a job reads for ``setting`` in ``environ`` (a credential: only whether it is set)."""
    found = value(setting, environ, env_local)
    if setting.secret:
        return bool(found and found.strip())
    return found


def members(setting: EnvSetting, *sources: Mapping[str, str]) -> list[EnvSetting]:
    """The concrete settings of ``setting``: itself, or for a family every member named in
    ``sources`` (a member set on one side only differs as well)."""
    if not setting.per_job:
        return [setting]
    names = sorted({n for env in sources for n in env if n.startswith(setting.name) and n != setting.name})
    return [setting._replace(name=n, per_job=False) for n in names]


def differing(
    timer_env: Mapping[str, str], shell_env: Mapping[str, str], env_local: Mapping[str, str]
) -> list[EnvSetting]:
    """The settings a timer run (the manager's environment) sees otherwise than this shell."""
    return [
        s
        for family in JOB_SETTINGS
        for s in members(family, timer_env, shell_env, env_local)
        if effective(s, timer_env, env_local) != effective(s, shell_env, env_local)
    ]


def set_by_manager(setting: EnvSetting, timer_env: Mapping[str, str], env_local: Mapping[str, str]) -> bool:
    """Whether a timer run reads ``setting`` from the manager's own environment, and reads
    otherwise than it would without it (the project's ``.env.local``, or unset): then the
    fix is to remove it there, not to write ``.env.local``, whose value it wins over."""
    if setting.account or setting.name not in timer_env:
        return False
    return effective(setting, timer_env, env_local) != effective(setting, {}, env_local)
