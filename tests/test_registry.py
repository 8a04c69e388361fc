"""The reviewed registry: shape, immutability, and every calendar accepted by systemd."""

from __future__ import annotations

import subprocess

import pytest

from aios_systemd.errors import UsageError
from aios_systemd.registry import REGISTRY, CadenceKind, ScopeKind, calendar_for_time, calendars_for


def test_reviewed_jobs_and_starter_defaults() -> None:
    assert REGISTRY.ids() == ("aggregate", "agent-aggregate", "trend-finder", "dream")
    enabled = {j.id for j in REGISTRY if j.enabled_by_default}
    assert enabled == {"agent-aggregate", "trend-finder", "dream"}
    assert REGISTRY.get("aggregate").timeout_seconds == 35 * 60
    assert REGISTRY.get("agent-aggregate").default_cadence == "every-4-hours"
    assert REGISTRY.get("trend-finder").default_cadence == "daily-0600"
    assert REGISTRY.get("trend-finder").write_scope.kind is ScopeKind.EXTENSION_ITEM
    assert REGISTRY.get("trend-finder").write_scope.extension_id == "trend-finder"
    assert REGISTRY.get("agent-aggregate").write_scope.kind is ScopeKind.HOST_LOCAL
    assert REGISTRY.get("aggregate").write_scope.kind is ScopeKind.FULL


def test_registry_is_immutable() -> None:
    with pytest.raises(TypeError):
        REGISTRY.jobs["evil"] = REGISTRY.get("aggregate")  # type: ignore[index]
    with pytest.raises(AttributeError):
        REGISTRY.get("aggregate").timeout_seconds = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        REGISTRY.jobs = {}  # type: ignore[misc]


def test_every_job_has_a_handler_module() -> None:
    # A handler missing is no build this project makes: the map covers every handler id.
    import importlib

    from aios_systemd import jobs
    from aios_systemd.registry import HandlerId

    assert set(jobs.MODULES) == set(HandlerId) and {str(j.handler) for j in REGISTRY} <= set(jobs.default_handlers())
    for module in jobs.MODULES.values():
        assert callable(importlib.import_module(f"aios_systemd.jobs.{module}").run)


def test_unknown_job_lists_reviewed_ids() -> None:
    with pytest.raises(UsageError) as err:
        REGISTRY.get("rm -rf /")
    assert "rm -rf" not in err.value.message
    assert err.value.hint and "agent-aggregate" in err.value.hint


def _all_calendars() -> list[str]:
    out = []
    for job in REGISTRY:
        for cid in job.cadences:
            out.extend(calendars_for(job, REGISTRY.cadence(cid)))
    out.extend(calendars_for(REGISTRY.get("dream"), REGISTRY.cadence("dream-times"), ("00:00", "23:59", "06:30")))
    return sorted(set(out))


@pytest.mark.parametrize("calendar", _all_calendars())
def test_every_registry_calendar_is_accepted_by_systemd(calendar: str) -> None:
    proc = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Normalized form:" in proc.stdout


def test_cadence_table_matches_runbook() -> None:
    assert REGISTRY.cadence("hourly").calendars == ("hourly",)
    assert REGISTRY.cadence("every-2-hours").calendars == ("*-*-* 0/2:00:00",)
    assert REGISTRY.cadence("every-4-hours").calendars == ("*-*-* 0/4:00:00",)
    assert REGISTRY.cadence("dream-times").kind is CadenceKind.TIMES


@pytest.mark.parametrize("bad", ["24:00", "6:30", "06:60", "06:30:00", "06:30\n", "hourly", "", "０６:３０"])
def test_dream_times_are_strict(bad: str) -> None:
    with pytest.raises(UsageError):
        calendar_for_time(bad)


def test_every_reason_hint_formats_and_names_no_path() -> None:
    from aios_systemd.outcomes import REASON_HINTS, hint_for

    for reason in REASON_HINTS:
        hint = hint_for(reason, "agent-aggregate")
        assert hint and "{" not in hint and "}" not in hint
        assert "/" not in hint.replace("src/data", "")  # only the project's own layout
    assert hint_for(None, "x") is None and hint_for("collector-degraded", "x") is None
