"""``aios-run trend-finder`` through the real runner, against a real loopback server."""

from __future__ import annotations

import json
import time

from aios_systemd.data import writer
from aios_systemd.data.collectors import trend_finder as tf
from aios_systemd.outcomes import hint_for
from tests.trend_finder.conftest import TOKEN
from tests.trend_finder.project import Project
from tests.trend_finder.server import FakeApify


def _sources(api: FakeApify, datasets: str, budget: str = "5") -> dict[str, str]:
    return {tf.BASE_URL_VAR: api.base_url, tf.TOKEN_VAR: TOKEN, tf.DATASETS_VAR: datasets, tf.BUDGET_VAR: budget}


def _state(project: Project, job: str = "trend-finder") -> dict[str, object]:
    return json.loads((project.scheduler_root / "state" / f"{job}.json").read_text())


def _live(project: Project) -> dict[str, object]:
    return json.loads((project.root / "src/data/live-data.json").read_text())


def test_disabled_is_skipped_with_the_reason(project: Project, api: FakeApify) -> None:
    out = project.run("trend-finder", _sources(api, "okA"))
    assert out.returncode == 0, out.stderr
    state = _state(project)
    assert state["state"] == "skipped" and state["reason"] == "extension-disabled"
    assert api.requests == []
    assert not (project.root / "src/data/live-data.json").exists()


def test_enabled_writes_only_its_item(project: Project, api: FakeApify) -> None:
    env = {tf.ENABLED_VAR: "trend-finder", **_sources(api, "okA")}
    out = project.run("trend-finder", env)
    assert out.returncode == 0, out.stdout + out.stderr
    state = _state(project)
    assert state["state"] == "success", state
    live = _live(project)
    item = live["extensions"]["items"]["trend-finder"]  # type: ignore[index]
    assert item["status"] == "ok" and item["itemCount"] == 7
    assert state["freshness"] == {"trend-finder": item["generatedAt"]}
    # A new file: the examples' placeholders are never a merge base, so no host-local
    # branch is presented as this machine's; the root dates from this write.
    assert live["generatedAt"] == item["generatedAt"]
    assert not {"host", "scheduler", "agents", "dream"} & set(live)


def test_enablement_is_read_from_env_local(project: Project, api: FakeApify) -> None:
    # The enablement value "trend-finder" is also the artifact's own extension key: a
    # setting, not a secret (neither its name nor its form says so), so the write goes through.
    project.write_env_local({tf.ENABLED_VAR: "trend-finder", **_sources(api, "okA")})
    out = project.run("trend-finder")
    assert out.returncode == 0, out.stdout + out.stderr
    assert _state(project)["state"] == "success"
    assert [r.authorization for r in api.requests] == [f"Bearer {TOKEN}"]
    assert _live(project)["extensions"]["items"]["trend-finder"]["itemCount"] == 7  # type: ignore[index]


def test_a_secret_in_the_merged_artifact_refuses_the_write(project: Project, api: FakeApify) -> None:
    # Collected titles are redacted before the write; the write's own check covers the
    # whole merged artifact, here another extension's kept item that holds a value which
    # has since become a secret in .env.local.
    base = json.loads(writer.packaged_example_bytes())
    base["extensions"]["items"]["other-ext"] = {"generatedAt": "2026-01-01T06:00:00Z", "note": "q9-example-pass"}
    live = project.root / "src/data/live-data.json"
    live.parent.mkdir(parents=True)
    live.write_text(json.dumps(base))
    before = live.read_bytes()
    project.write_env_local(
        {tf.ENABLED_VAR: "trend-finder", "OTHER_EXT_PASSWORD": "q9-example-pass", **_sources(api, "okA")}
    )
    out = project.run("trend-finder")
    assert out.returncode == 1, out.stdout + out.stderr
    state = _state(project)
    assert state["state"] == "failed" and state["reason"] == "privacy-check"
    # The same fix as the aggregate jobs' refusal, in the --json output too.
    assert json.loads(out.stdout)["hint"] == hint_for("privacy-check", "trend-finder")
    assert "hint" not in state  # the state file keeps its own fields
    assert "q9-example-pass" not in out.stdout + out.stderr
    assert live.read_bytes() == before


def test_slow_source_degrades_and_still_writes_within_the_budget(project: Project, api: FakeApify) -> None:
    api.slow_seconds = 20
    env = {tf.ENABLED_VAR: "trend-finder", **_sources(api, "okA,slowB", budget="2")}
    started = time.monotonic()
    out = project.run("trend-finder", env)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert elapsed < 15, "the collection budget bounds the run"
    state = _state(project)
    assert state["state"] == "degraded" and state["reason"] == "sources-degraded"
    assert state["warnings"] == ["Trend Finder source apify-dataset-2: did not fit in the collection budget"]
    item = _live(project)["extensions"]["items"]["trend-finder"]  # type: ignore[index]
    assert [s["status"] for s in item["sources"]] == ["ok", "degraded"]


def test_failing_sources_degrade_and_still_write(project: Project, api: FakeApify) -> None:
    env = {tf.ENABLED_VAR: "trend-finder", **_sources(api, "err500 badjson huge")}
    out = project.run("trend-finder", env)
    assert out.returncode == 0, out.stdout + out.stderr
    state = _state(project)
    assert state["state"] == "degraded" and state["warningCount"] == 3
    item = _live(project)["extensions"]["items"]["trend-finder"]  # type: ignore[index]
    assert [s["reason"] for s in item["sources"]] == ["http-error", "bad-json", "too-large"]


def test_no_sources_is_warning_only(project: Project) -> None:
    out = project.run("trend-finder", {tf.ENABLED_VAR: "trend-finder"})
    assert out.returncode == 0, out.stdout + out.stderr
    state = _state(project)
    assert state["state"] == "warning-only" and state["reason"] == "no-sources"
    assert _live(project)["extensions"]["items"]["trend-finder"]["status"] == "unconfigured"  # type: ignore[index]


def test_token_never_leaves_the_request(project: Project, api: FakeApify) -> None:
    """The token, from the environment and from .env.local, in neither state, log, data
    nor printed output, including when every source fails."""
    api.slow_seconds = 20
    project.write_env_local({tf.TOKEN_VAR: TOKEN})
    env = {
        tf.ENABLED_VAR: "trend-finder",
        tf.BASE_URL_VAR: api.base_url,
        tf.BUDGET_VAR: "2",
        tf.DATASETS_VAR: "okA err401 err500 badjson slowB redirect",
    }
    out = project.run("trend-finder", env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert all(r.authorization == f"Bearer {TOKEN}" for r in api.requests)
    assert TOKEN not in out.stdout + out.stderr
    texts = project.private_texts()
    assert any(name.startswith("logs/") for name in texts)
    assert "src/data/live-data.json" in texts
    for name, text in texts.items():
        assert TOKEN not in text, name
        assert "okA" not in text, name  # dataset ids stay in the request too
    status = json.loads(out.stdout)
    assert status["state"] == "degraded"


def test_full_aggregate_collects_the_item_within_the_budget(project: Project, api: FakeApify) -> None:
    """The compatibility job reaches this collector through the orchestration's registry."""
    api.slow_seconds = 20
    env = {tf.ENABLED_VAR: "trend-finder", **_sources(api, "okA slowB", budget="2")}
    started = time.monotonic()
    out = project.run("aggregate", env)
    assert time.monotonic() - started < 15
    assert out.returncode == 0, out.stdout + out.stderr
    assert _state(project, "aggregate")["state"] == "degraded"
    item = _live(project)["extensions"]["items"]["trend-finder"]  # type: ignore[index]
    assert [s["status"] for s in item["sources"]] == ["ok", "degraded"]
    assert TOKEN not in (project.root / "src/data/live-data.json").read_text()
