"""The built-in host/local collectors on this machine and on fake home directories."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aios_systemd import state
from aios_systemd.data import schema
from aios_systemd.data.collectors import agents, host, scheduler
from aios_systemd.data.writer import write_live_data_for_scope
from aios_systemd.outcomes import RunState
from aios_systemd.registry import REGISTRY, ScopeKind, WriteScope
from tests.data.support import TS, host_branch, make_ctx


def _session(path: Path, age_days: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"prompt": "never read"}\n')
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))


def test_host_facts_are_valid_and_carry_no_host_name(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    got = host.collect(ctx)
    model = schema.Host.model_validate(got.branch)
    assert model.kernel == os.uname().release
    assert model.memory is not None and model.memory.total_bytes > 0
    assert model.disk is not None and model.disk.total_bytes >= model.disk.free_bytes
    assert model.unavailable == [] and not got.degraded
    text = json.dumps(got.branch)
    assert os.uname().nodename not in text
    assert str(tmp_path) not in text


def test_host_disk_uses_the_nearest_existing_ancestor(tmp_path: Path) -> None:
    assert host.disk(tmp_path / "not" / "yet")["totalBytes"] > 0


def test_an_unreadable_fact_degrades_only_that_fact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_proc = tmp_path / "proc"
    fake_proc.mkdir()
    (fake_proc / "meminfo").write_text("MemTotal: 10 kB\n")  # no MemAvailable
    with pytest.raises(OSError):
        host.memory(fake_proc)
    assert host.os_info((tmp_path / "missing", *host.OS_RELEASE))["name"]
    memory, uptime = host.memory, host.uptime_seconds
    monkeypatch.setattr(host, "memory", lambda: memory(fake_proc))
    monkeypatch.setattr(host, "uptime_seconds", lambda: uptime(fake_proc))
    got = host.collect(make_ctx(tmp_path))
    assert got.degraded and got.branch["unavailable"] == ["uptime", "memory"]
    assert got.branch["memory"] is None and got.branch["load"] is not None
    assert got.warnings == ("host fact unavailable: uptime", "host fact unavailable: memory")
    schema.Host.model_validate(got.branch)


def test_agents_counts_metadata_only(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    projects = ctx.home / ".claude" / "projects"
    _session(projects / "-home-canaryuser-src-app" / "operator@example.com.jsonl")
    _session(projects / "-home-canaryuser-src-app" / "b.jsonl", age_days=1)
    _session(projects / "other" / "c.jsonl", age_days=30)
    (projects / "other" / "notes.txt").write_text("not a session")
    _session(projects / "other" / "sub" / "agent" / "too-deep.jsonl")  # beyond the depth bound
    (projects / "linked").symlink_to(tmp_path)  # never followed
    day = datetime.now(UTC)
    _session(ctx.home / ".codex" / "sessions" / day.strftime("%Y/%m/%d") / "rollout-1.jsonl")
    got = agents.collect(ctx)
    model = schema.Agents.model_validate(got.branch)
    claude = model.claude_code
    assert claude.status == "ok" and claude.session_files == 3 and claude.projects == 2  # the symlink is not one
    assert claude.last_activity_at is not None
    assert sum(d.sessions for d in claude.recent_days) == 2
    assert claude.recent_days[-1].day == day.date().isoformat() and claude.recent_days[-1].sessions == 1
    assert model.codex.status == "ok" and model.codex.session_files == 1
    text = json.dumps(got.branch)
    for private in ("operator", "example.com", "canaryuser", "src-app", str(tmp_path), "never read"):
        assert private not in text
    assert not got.degraded and got.warnings == ()


def test_agents_absent_tools_are_not_a_problem(tmp_path: Path) -> None:
    got = agents.collect(make_ctx(tmp_path))
    assert got.branch["claudeCode"]["status"] == "absent" and got.branch["codex"]["status"] == "absent"
    assert not got.degraded


def test_an_unreadable_tool_degrades_but_the_other_still_reports(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    (ctx.home / ".claude").mkdir()
    (ctx.home / ".claude" / "projects").write_text("a file where a directory belongs")
    _session(ctx.home / ".codex" / "sessions" / "2026" / "11" / "26" / "r.jsonl")
    got = agents.collect(ctx)
    assert got.degraded
    assert got.branch["claudeCode"]["status"] == "unreadable"
    assert got.branch["codex"]["sessionFiles"] == 1
    assert got.warnings == ("Claude Code session directory could not be read",)
    schema.Agents.model_validate(got.branch)


def test_the_walk_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    for i in range(30):
        _session(root / f"p{i}" / "s.jsonl")
    starts = [time.time() - 86400]
    result = agents.walk(root, agents.TOOLS[0], starts, [0], max_entries=10)
    assert result.truncated and result.files < 30


def _record(job: str, run_state: RunState, finished: str | None) -> state.RunRecord:
    return state.RunRecord(
        job=job,
        run_id="20261126T050000.000Z-abcdef",
        state=run_state,
        trigger="manual",
        lock_outcome="acquired",
        started_at=TS,
        finished_at=finished,
        warning_count=2,
        warnings=("private text /srv/secret", "x"),
        exit_code=0,
    )


def test_scheduler_projection_uses_labels_only(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.state_dir.mkdir(parents=True)
    state.write(ctx, _record("agent-aggregate", RunState.WARNING_ONLY, TS))
    ctx.config_path.parent.mkdir(parents=True)
    ctx.config_path.write_text(
        json.dumps(
            {"schemaVersion": 1, "jobs": {"agent-aggregate": {"cadence": "hourly"}, "dream": {"cadence": "/bin/sh"}}}
        )
    )
    got = scheduler.collect(ctx, REGISTRY)
    model = schema.Scheduler.model_validate(got.branch)
    job = model.jobs["agent-aggregate"]
    assert job.state == "warning-only" and job.finished_at == TS and job.warning_count == 2
    assert job.cadence.id == "hourly" and job.cadence.calendars == ["hourly"]
    assert model.jobs["trend-finder"].state == "first-run"
    assert model.jobs["dream"].cadence.id == "dream-times"
    assert model.config_warning_count == 1
    assert set(model.jobs) == set(REGISTRY.ids())
    for job_model in model.jobs.values():
        assert (job_model.timer is None) == (job_model.timer_unavailable is not None)
    text = json.dumps(got.branch)
    assert "/srv/secret" not in text and "/bin/sh" not in text


def test_timer_view_keeps_reviewed_fields_only() -> None:
    raw = {
        "installed": True,
        "unit": "ai-os-dream.timer",
        "ownership": "ours",
        "unitFileState": "enabled",
        "activeState": "active",
        "nextElapse": "2026-11-27T06:30:00Z",
        "lastTrigger": None,
        "drift": "in-sync",
        "driftFindings": ["/home/x/.config/systemd/user/ai-os-dream.timer"],
        "calendars": ["*-*-* 06:30:00"],
    }
    view = scheduler._timer_view(raw)
    assert schema.TimerFacts.model_validate(view).next_elapse_at == "2026-11-27T06:30:00Z"
    assert "/home/x" not in json.dumps(view)
    assert scheduler._timer_view({"activeState": "Active; rm -rf"})["activeState"] is None


def test_dream_timestamp_comes_from_its_run_state_and_survives_a_failed_run(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert scheduler.collect_dream(ctx, REGISTRY).branch["lastRunAt"] is None
    ctx.state_dir.mkdir(parents=True)
    state.write(ctx, _record("dream", RunState.SUCCESS, "2026-11-26T06:31:00.000Z"))
    branch = scheduler.collect_dream(ctx, REGISTRY).branch
    assert branch["lastRunAt"] == "2026-11-26T06:31:00.000Z"
    hl = host_branch()
    hl["dream"] = branch
    assert write_live_data_for_scope(ctx, WriteScope(ScopeKind.HOST_LOCAL), hl).outcome == "written"
    # A later Dream that failed or was skipped did not dream: the previous time stays.
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    state.write(ctx, _record("dream", RunState.FAILED, later))
    assert scheduler.collect_dream(ctx, REGISTRY).branch["lastRunAt"] == "2026-11-26T06:31:00.000Z"
