"""The aggregate jobs through the real ``aios-run`` in a subprocess, with privacy canaries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from aios_systemd.data import schema

ROOT = Path(__file__).resolve().parents[2]
AIOS_RUN = Path(sys.executable).with_name("aios-run")
SECRET = "canary-secret-XYZ"
ENV_LOCAL_SECRET = "envlocal-canary-Q7"
USER = "canaryuser"
EMAIL = "operator@example.com"


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.project = tmp / "project"
        self.sched = tmp / "sched"
        self.home.mkdir()
        self.project.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
        self.env.update({"HOME": str(self.home), "AIOS_SCHEDULER_ROOT": str(self.sched)})

    def run(self, job: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIOS_RUN), job, "--project-root", str(self.project), *extra],
            cwd=self.tmp,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def data(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.project / "src" / "data" / "live-data.json").read_bytes())
        return doc

    def state(self, job: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.sched / "state" / f"{job}.json").read_bytes())
        return doc


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_agent_aggregate_writes_valid_data_with_nothing_configured(setup: Setup) -> None:
    done = setup.run("agent-aggregate", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["state"] in ("success", "warning-only"), record
    doc = setup.data()
    model = schema.validate_document(doc)
    assert model.host is not None and model.scheduler is not None and model.agents is not None
    assert model.dream is not None and model.dream.last_run_at is None
    assert model.scheduler.jobs["agent-aggregate"].state == "running"  # itself, mid-run
    assert record["freshness"] == {"hostLocal": doc["generatedAt"]}
    assert setup.state("agent-aggregate")["freshness"]["hostLocal"] == doc["generatedAt"]
    # The second run sees the first one's final state.
    assert setup.run("agent-aggregate").returncode == 0
    projected = setup.data()["scheduler"]["jobs"]["agent-aggregate"]
    # From the run log's finish event, written a moment after the state's finishedAt.
    assert abs(_t(projected["finishedAt"]) - _t(record["finishedAt"])) < 1.0
    assert projected["lastFinishedState"] == record["state"] and projected["state"] == "running"


def test_a_failing_collector_degrades_but_still_writes(setup: Setup) -> None:
    (setup.home / ".claude").mkdir()
    (setup.home / ".claude" / "projects").write_text("a file where the sessions directory belongs")
    done = setup.run("agent-aggregate", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["state"] == "degraded"
    assert "Claude Code session directory could not be read" in record["warnings"]
    doc = setup.data()
    schema.validate_document(doc)
    assert doc["agents"]["claudeCode"]["status"] == "unreadable"
    assert doc["host"]["kernel"] == os.uname().release


def test_privacy_canaries_reach_nothing(setup: Setup) -> None:
    (setup.project / ".env.local").write_text(f"APIFY_TOKEN={ENV_LOCAL_SECRET}\n")
    session_dir = setup.home / ".claude" / "projects" / f"-home-{USER}-{EMAIL}"
    session_dir.mkdir(parents=True)
    (session_dir / f"{EMAIL}.jsonl").write_text(json.dumps({"prompt": SECRET}) + "\n")
    env = {"AIOS_TEST_API_TOKEN": SECRET, "USER": USER, "LOGNAME": USER}
    outputs = []
    for job in ("agent-aggregate", "aggregate"):
        done = setup.run(job, env=env)
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
        done = setup.run(job, "--json", env=env)
        outputs += [done.stdout, done.stderr]
    doc = setup.data()
    schema.validate_document(doc)
    assert doc["agents"]["claudeCode"]["sessionFiles"] == 1
    texts = {"live data": json.dumps(doc), "printed": "\n".join(outputs)}
    for path in (setup.sched / "state").iterdir():
        texts[f"state {path.name}"] = path.read_text()
    for path in (setup.sched / "logs").iterdir():
        texts[f"log {path.name}"] = path.read_text()
    for where, text in texts.items():
        for canary in (SECRET, ENV_LOCAL_SECRET, USER, EMAIL, str(setup.home), str(setup.tmp)):
            assert canary not in text, f"{canary!r} leaked into {where}"


def test_full_aggregate_job_runs_enabled_extensions(setup: Setup) -> None:
    done = setup.run("aggregate", "--json", env={"VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "trend-finder"})
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    doc = setup.data()
    schema.validate_document(doc)
    assert "trend-finder" in doc["extensions"]["items"]
    assert record["freshness"]["hostLocal"] == doc["generatedAt"]
    assert record["freshness"]["extensions.trend-finder"] == doc["extensions"]["items"]["trend-finder"]["generatedAt"]
