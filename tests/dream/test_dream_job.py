"""``aios-run dream`` through the real runner: the refresh runs the real ``agent-aggregate``
job, never Trend Finder, and nothing private reaches what is shown."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from datetime import timedelta

from aios_systemd.data.collectors import trend_finder as tf
from aios_systemd.jobs import dream
from aios_systemd.locks import Holder, RunLock, boot_id
from tests.dream.conftest import context, write_material
from tests.trend_finder.project import AIOS_RUN, Project
from tests.trend_finder.server import FakeApify, fake_apify

ENABLED = {dream.ENABLED_VAR: "true"}


def _state(project: Project, job: str) -> dict[str, object]:
    return json.loads((project.scheduler_root / "state" / f"{job}.json").read_text())


def _dreams(project: Project) -> list[str]:
    d = project.scheduler_root / "dream"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def _trend_finder_enabled(api: FakeApify) -> dict[str, str]:
    return {
        tf.ENABLED_VAR: "trend-finder",
        tf.BASE_URL_VAR: api.base_url,
        tf.TOKEN_VAR: "apify_CANARY_123456",
        tf.DATASETS_VAR: "okA",
    }


def test_disabled_is_skipped(project: Project) -> None:
    out = project.run("dream")
    assert out.returncode == 0, out.stdout + out.stderr
    state = _state(project, "dream")
    assert state["state"] == "skipped" and state["reason"] == "dream-disabled"
    assert _dreams(project) == []
    assert not (project.scheduler_root / "state" / "agent-aggregate.json").exists()


def test_fresh_material_runs_no_refresh(project: Project) -> None:
    stamp = write_material(project, timedelta(minutes=10))
    out = project.run("dream", ENABLED)
    assert out.returncode == 0, out.stdout + out.stderr
    state = _state(project, "dream")
    assert state["state"] == "success", state
    assert state["freshness"]["dreamMaterial"] == stamp  # type: ignore[index]
    assert not (project.scheduler_root / "state" / "agent-aggregate.json").exists()
    [name] = _dreams(project)
    assert name == f"{state['runId']}.md"
    assert stat.S_IMODE((project.scheduler_root / "dream" / name).stat().st_mode) == 0o600


def test_stale_material_is_refreshed_through_agent_aggregate_never_trend_finder(project: Project) -> None:
    write_material(project, timedelta(days=2))
    with fake_apify() as api:
        # Trend Finder enabled and configured: Dream must still leave it alone.
        out = project.run("dream", {**ENABLED, **_trend_finder_enabled(api)})
        assert api.requests == []
    assert out.returncode == 0, out.stdout + out.stderr
    agent = _state(project, "agent-aggregate")
    assert agent["state"] in ("success", "warning-only", "degraded"), agent
    state = _state(project, "dream")
    assert state["state"] == "success", state
    live = json.loads((project.root / "src/data/live-data.json").read_text())
    assert state["freshness"]["dreamMaterial"] == live["generatedAt"]  # type: ignore[index]
    assert "trend-finder" not in live["extensions"]["items"]
    for where in ("state/trend-finder.json", "logs/trend-finder.jsonl", "locks/trend-finder.lock"):
        assert not (project.scheduler_root / where).exists(), where
    log = (project.scheduler_root / "logs" / "dream.jsonl").read_text()
    assert '"refreshJob":"agent-aggregate"' in log


def test_missing_material_is_refreshed(project: Project) -> None:
    out = project.run("dream", ENABLED)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _state(project, "dream")["state"] == "success"
    assert (project.root / "src/data/live-data.json").exists()
    assert (project.scheduler_root / "state" / "agent-aggregate.json").exists()


def test_blocked_refresh_waits_for_the_running_timer_job(project: Project) -> None:
    """A timer's agent-aggregate holds its job lock: Dream's refresh is blocked (exit 75),
    then Dream picks up the material that run writes."""
    write_material(project, timedelta(days=2))
    ctx = context(project)
    ctx.locks_dir.mkdir(parents=True, mode=0o700)
    os.chmod(project.scheduler_root, 0o700)
    lock = RunLock(ctx.lock_path("agent-aggregate"), "the job lock")
    assert lock.try_acquire().acquired
    lock.record_holder(Holder(os.getpid(), "timer-run", "2026-11-26T06:00:00.000Z", boot_id()))
    try:
        child = subprocess.Popen(
            [str(AIOS_RUN), "dream", "--project-root", str(project.root), "--json"],
            env=project.env(ENABLED),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            agent = project.scheduler_root / "state" / "agent-aggregate.blocked.json"
            if agent.exists() and json.loads(agent.read_text()).get("state") == "blocked":
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the refresh was never blocked")
        stamp = write_material(project)  # the timer run finishes and writes
    finally:
        lock.release()
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stdout + stderr
    state = _state(project, "dream")
    assert state["state"] == "success" and state["warningCount"] == 0, state
    assert state["freshness"]["dreamMaterial"] == stamp  # type: ignore[index]


def test_privacy_canaries_never_reach_what_is_shown(project: Project) -> None:
    secret_env = "ghp_CANARYenvSECRET0123456789"
    secret_local = "CANARY-env-local-value-xyz"
    project.write_env_local({"SOME_PROVIDER_KEY": secret_local, dream.ENABLED_VAR: "true"})
    # Material in the window's past forces a refresh; a bad provider value forces a warning.
    write_material(project, timedelta(days=1))
    extra = {"GITHUB_TOKEN": secret_env, "USER": "canaryuser", dream.PROVIDER_VAR: f"{secret_env} /etc/passwd"}
    out = project.run("dream", extra)
    assert out.returncode == 0, out.stdout + out.stderr
    shown = out.stdout + out.stderr
    state_text = (project.scheduler_root / "state" / "dream.json").read_text()
    log_text = (project.scheduler_root / "logs" / "dream.jsonl").read_text()
    [name] = _dreams(project)
    dream_text = (project.scheduler_root / "dream" / name).read_text()
    for text in (shown, state_text, log_text, dream_text):
        for canary in (secret_env, secret_local, str(project.home), "canaryuser", "/etc/passwd"):
            assert canary not in text
    assert json.loads(state_text)["warnings"] == [
        "AI_OS_DREAM_PROVIDER is not one of offline, claude, codex; using offline"
    ]
