"""What names a run: its id and its trigger source.

Shared by the runner, the direct aggregate (its trace is named by a run id) and Dream (its
private output is, and its refresh passes the trigger on to the job it starts).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime

TRIGGERS = frozenset({"manual", "systemd", "dashboard"})
TRIGGER_ENV = "AI_OS_SCHEDULER_TRIGGER_SOURCE"
# The shape new_run_id() gives: UTC start time to the millisecond, then six hex digits.
RUN_ID_PATTERN = r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}"


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{stamp}Z-{os.urandom(3).hex()}"


def trigger_from(env: Mapping[str, str]) -> str:
    value = env.get(TRIGGER_ENV)
    if value is None or value == "":
        return "manual"
    return value if value in TRIGGERS else "unknown"
