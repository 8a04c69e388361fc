"""Aggregate orchestration: isolated collectors, extension collectors, handler mapping."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aios_systemd.data import orchestration
from aios_systemd.data.collectors import Collected
from aios_systemd.data.orchestration import collect_extensions, collect_host_local
from aios_systemd.data.writer import write_live_data_for_scope
from aios_systemd.jobs.agent_aggregate import to_handler_result
from aios_systemd.locks import RunLock
from aios_systemd.registry import REGISTRY, ScopeKind, WriteScope
from aios_systemd.runner.api import HandlerOutcome
from tests.data.support import TS, item, make_ctx

HERE = "tests.data.test_orchestration"


def boom(ctx: Any, registry: Any) -> Collected:
    raise RuntimeError("collector exploded at /srv/private")


def leaky_host(ctx: Any, registry: Any) -> Collected:
    from aios_systemd.data.collectors import host

    got = host.collect(ctx, registry)
    return Collected({**got.branch, "kernel": f"built in {ctx.home}/src"})


def coincident_host(ctx: Any, registry: Any) -> Collected:
    from aios_systemd.data.collectors import host

    got = host.collect(ctx, registry)
    return Collected({**got.branch, "os": {"name": "Debian GNU/Linux", "version": "12", "id": ctx.env["USER"]}})


def bad_shape(ctx: Any, registry: Any) -> Collected:
    return Collected({"generatedAt": TS, "lastRunAt": "yesterday"})


def ext_ok(ctx: Any, env: Any, deadline: float) -> tuple[dict[str, Any], list[str], bool]:
    assert deadline > time.monotonic()
    return item(3) | {"fromEnv": env.get("DEMO_SETTING", "")}, ["one source slow"], True


def ext_boom(ctx: Any, env: Any, deadline: float) -> tuple[dict[str, Any], list[str], bool]:
    raise ValueError("nope")


def _collectors(**override: str) -> dict[str, str]:
    return {**orchestration.HOST_LOCAL_COLLECTORS, **override}


def test_a_failing_collector_degrades_and_keeps_its_previous_branch(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    first = orchestration.aggregate_host_local(ctx, REGISTRY)
    assert first.write is not None and first.write.ok and not first.degraded, first.warnings
    before = json.loads(ctx.live_data_path.read_bytes())
    events: list[tuple[str, dict[str, object]]] = []
    out = collect_host_local(
        ctx,
        REGISTRY,
        lambda name, **f: events.append((name, f)),
        collectors=_collectors(host=f"{HERE}:boom", dream=f"{HERE}:bad_shape"),
    )
    assert out.degraded
    assert "host collector failed (RuntimeError)" in out.warnings
    assert any(w.startswith("dream collector output refused (schema: $.dream.lastRunAt") for w in out.warnings)
    assert "host" not in out.document and "dream" not in out.document
    assert {"scheduler", "agents"} <= set(out.document)
    assert all("/srv/private" not in w for w in out.warnings)
    assert (
        "collector",
        {
            "collector": "host",
            "status": "failed",
            "error": "RuntimeError",
            "message": "collector exploded at /srv/private",
            "durationMs": events[0][1]["durationMs"],
        },
    ) == events[0]
    written = write_live_data_for_scope(ctx, out.scope, out.document)
    assert written.ok
    after = json.loads(ctx.live_data_path.read_bytes())
    assert after["host"] == before["host"] and after["dream"] == before["dream"]
    assert after["agents"]["generatedAt"] > before["agents"]["generatedAt"]


def test_a_privacy_failing_branch_is_dropped_not_written(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"USER": "canaryuser", "LOGNAME": "canaryuser"})
    out = collect_host_local(ctx, REGISTRY, collectors=_collectors(host=f"{HERE}:leaky_host"))
    assert out.degraded and "host" not in out.document
    assert any("privacy: $.host.kernel contains the home directory path" in w for w in out.warnings)
    assert all("canaryuser" not in w for w in out.warnings)


def test_a_coincidence_in_a_built_in_branch_is_that_fact(tmp_path: Path) -> None:
    """The OS id of a cloud image equals its user's name ('debian', 'ubuntu'): the reviewed
    host collector's branch is written, not refused as carrying the user name."""
    ctx = make_ctx(tmp_path, {"USER": "debian", "LOGNAME": "debian", "DESKTOP_SESSION": "debian"})
    out = collect_host_local(ctx, REGISTRY, collectors=_collectors(host=f"{HERE}:coincident_host"))
    assert not out.degraded and out.document["host"]["os"]["id"] == "debian", out.warnings


def test_extensions_run_only_when_enabled_and_each_is_isolated(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "demo-ext,broken missing-one"})
    ctx.env_local_path.write_text("DEMO_SETTING=yes\n")
    collectors = {
        "demo-ext": f"{HERE}:ext_ok",
        "broken": f"{HERE}:ext_boom",
        "missing-one": "tests.data.no_such_module:collect",
        "not-enabled": f"{HERE}:ext_boom",
    }
    deadline = time.monotonic() + 30
    out = collect_extensions(ctx, deadline, collectors=collectors)
    assert set(out.document["items"]) == {"demo-ext"}
    assert out.document["items"]["demo-ext"]["fromEnv"] == "yes"
    assert out.degraded
    assert "one source slow" in out.warnings
    assert "broken extension collector failed (ValueError)" in out.warnings
    assert "missing-one extension collector failed (ModuleNotFoundError)" in out.warnings


def test_enabled_extensions_reads_the_reviewed_list_only() -> None:
    env = {"VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "trend-finder, rm -rf"}
    assert orchestration.enabled_extensions(env) == ["trend-finder"]
    assert orchestration.enabled_extensions({}) == []


def test_full_aggregate_writes_everything_and_drops_disabled_items(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, WriteScope(ScopeKind.EXTENSION_ITEM, "old-ext"), item()).ok
    out = orchestration.aggregate_full(ctx, REGISTRY, deadline=time.monotonic() + 30)
    assert out.write is not None and out.write.ok, out.warnings
    doc = json.loads(ctx.live_data_path.read_bytes())
    assert doc["extensions"]["items"] == {}  # full preserves nothing
    assert out.freshness() == {"hostLocal": out.write.generated_at}
    result = to_handler_result(out)
    assert result.outcome is HandlerOutcome.SUCCESS and result.freshness["hostLocal"] == doc["generatedAt"]


def test_write_failures_map_to_failed_runs_with_reasons(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.locks_dir.mkdir(parents=True, mode=0o700)
    holder = RunLock(ctx.data_lock_path, "the generated-data lock")
    assert holder.try_acquire().acquired
    try:
        out = orchestration.aggregate_host_local(ctx, REGISTRY, lock_timeout=0.1)
    finally:
        holder.release()
    result = to_handler_result(out)
    assert result.outcome is HandlerOutcome.FAILED and result.reason == "data-lock-timeout"
    assert result.freshness == {}
    assert any(w.startswith("generated data was not written: lock:") for w in result.warnings)
    assert not ctx.live_data_path.exists()
