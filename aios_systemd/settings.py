"""The environment settings that decide what a job does: one table, defined once.

Jobs read them from the process environment over the project's ``.env.local``; a timer's
service gets the *user manager's* environment, not the shell's, which is why ``aios-units
doctor`` compares the two for every setting here (by name; values are never shown).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

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
HOME = EnvSetting("HOME", Source.PROCESS, "the home directory (agent activity, default state and config)")
TZ = EnvSetting("TZ", Source.PROCESS, "the time zone")
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
)


def effective(setting: EnvSetting, environ: Mapping[str, str], env_local: Mapping[str, str]) -> str | bool | None:
    """What a job reads for ``setting`` in ``environ`` (a credential: only whether it is set)."""
    value = environ.get(setting.name)
    if value is None and setting.source is Source.PROJECT:
        value = env_local.get(setting.name)
    if setting.secret:
        return bool(value and value.strip())
    return value


def differing(
    timer_env: Mapping[str, str], shell_env: Mapping[str, str], env_local: Mapping[str, str]
) -> list[EnvSetting]:
    """The settings a timer run (the manager's environment) sees otherwise than this shell."""
    return [s for s in JOB_SETTINGS if effective(s, timer_env, env_local) != effective(s, shell_env, env_local)]
