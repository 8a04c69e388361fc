"""The gate, the freshness window and the refresh decision, in process with an injected refresh."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from aios_systemd.errors import ExitCode
from aios_systemd.jobs import dream
from tests.dream.conftest import Refresh, context, write_material
from tests.trend_finder.project import Project

ENABLED = {dream.ENABLED_VAR: "true"}


def _no_commands(*_a: object, **_k: object) -> object:
    raise AssertionError("the offline provider runs no command")


def _execute(project: Project, env: dict[str, str], refresh: Refresh, **kw: object) -> dream.DreamRun:
    ctx = context(project, env)
    return dream.execute(
        ctx,
        dream.merged_env(ctx),
        "20261126T060000.000Z-abcdef",
        refresh=refresh,
        run_command=_no_commands,
        deadline=time.monotonic() + 60,
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "false", "1", "yes", "TRUE ", "True"])
def test_gate(value: str) -> None:
    assert dream.dream_enabled({dream.ENABLED_VAR: value}) is (value.strip().lower() == "true")
    assert not dream.dream_enabled({})


def test_disabled_does_nothing(project: Project) -> None:
    refresh = Refresh()
    out = _execute(project, {}, refresh)
    assert out.status == "disabled" and refresh.calls == []
    assert not (project.scheduler_root / "dream").exists()


def test_gate_from_env_local(project: Project) -> None:
    project.write_env_local({dream.ENABLED_VAR: "true"})
    write_material(project, timedelta(minutes=5))
    out = _execute(project, {}, Refresh())
    assert out.status == "written"


def test_fresh_material_is_used_without_refresh(project: Project) -> None:
    stamp = write_material(project, timedelta(hours=5, minutes=50))
    refresh = Refresh()
    out = _execute(project, ENABLED, refresh)
    assert refresh.calls == []
    assert out.status == "written" and not out.degraded and out.warnings == ()
    assert out.material_generated_at == stamp and not out.material_refreshed


@pytest.mark.parametrize("age", [timedelta(hours=6, minutes=5), timedelta(days=3)])
def test_stale_material_is_refreshed(project: Project, age: timedelta) -> None:
    write_material(project, age)
    refresh = Refresh(effect=lambda: write_material(project, timedelta(0)))
    out = _execute(project, ENABLED, refresh)
    assert len(refresh.calls) == 1 and 0 < refresh.calls[0] <= dream.REFRESH_TIMEOUT
    assert out.status == "written" and out.material_refreshed and not out.degraded


def test_missing_material_is_refreshed(project: Project) -> None:
    refresh = Refresh(effect=lambda: write_material(project))
    out = _execute(project, ENABLED, refresh)
    assert len(refresh.calls) == 1 and out.material_refreshed and not out.degraded


def test_material_from_the_future_counts_as_stale(project: Project) -> None:
    write_material(project, at=datetime.now(UTC) + timedelta(hours=2))
    refresh = Refresh(effect=lambda: write_material(project))
    _execute(project, ENABLED, refresh)
    assert len(refresh.calls) == 1


def test_window_is_overridable_and_clamped(project: Project) -> None:
    write_material(project, timedelta(minutes=40))
    refresh = Refresh()
    _execute(project, {**ENABLED, dream.MAX_AGE_VAR: "30"}, refresh)
    assert len(refresh.calls) == 1
    refresh = Refresh()
    out = _execute(project, {**ENABLED, dream.MAX_AGE_VAR: "1"}, refresh)  # clamped to 15 minutes
    assert len(refresh.calls) == 1
    assert any(dream.MAX_AGE_VAR in w and "clamped" in w for w in out.warnings)
    s = dream.DreamSettings.from_env({dream.MAX_AGE_VAR: "99999"})
    assert s.max_age == timedelta(minutes=dream.MAX_MAX_AGE_MINUTES)
    assert dream.DreamSettings.from_env({dream.MAX_AGE_VAR: "soon"}).max_age == timedelta(hours=6)


def test_failed_refresh_degrades_with_stale_material(project: Project) -> None:
    write_material(project, timedelta(days=1))
    out = _execute(project, ENABLED, Refresh(code=1))
    assert out.status == "written" and out.degraded and not out.material_refreshed
    assert "host/local refresh through agent-aggregate failed (exit 1)" in out.warnings


def test_failed_refresh_without_material_writes_no_dream(project: Project) -> None:
    out = _execute(project, ENABLED, Refresh(code=1))
    assert out.status == "no-material" and out.degraded
    assert not (project.scheduler_root / "dream").exists()


def test_example_data_is_not_material(project: Project) -> None:
    # No live file: the writer's reader falls back to the example, which Dream must not use.
    refresh = Refresh(code=1)
    out = _execute(project, ENABLED, refresh)
    assert refresh.calls and out.status == "no-material"


def test_blocked_refresh_waits_for_the_running_job(project: Project) -> None:
    write_material(project, timedelta(days=1))
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:  # the timer's agent-aggregate run finishes meanwhile
            write_material(project)

    refresh = Refresh(code=int(ExitCode.BLOCKED))
    out = _execute(project, ENABLED, refresh, sleep=sleep)
    assert len(refresh.calls) == 1 and len(naps) == 3
    assert out.material_refreshed and not out.degraded and out.warnings == ()


def test_blocked_refresh_gives_up_after_a_bounded_wait(project: Project) -> None:
    write_material(project, timedelta(days=1))
    started = time.monotonic()
    out = _execute(
        project,
        ENABLED,
        Refresh(code=int(ExitCode.BLOCKED)),
        blocked_wait=0.3,
        sleep=lambda s: time.sleep(min(s, 0.05)),
    )
    assert time.monotonic() - started < 5
    assert out.degraded and out.status == "written"
    assert any("blocked" in w for w in out.warnings)


def test_refresh_timeout_degrades(project: Project) -> None:
    write_material(project, timedelta(days=1))
    out = _execute(project, ENABLED, Refresh(code=None))
    assert out.degraded and "host/local refresh through agent-aggregate timed out" in out.warnings
