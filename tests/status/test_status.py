"""aios-status: first run, every label, human and JSON, and the privacy canaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aios_systemd.cli import status as status_cli
from aios_systemd.outcomes import RunState
from aios_systemd.status import model as status_model
from tests.conftest import CANARY_EMAIL, CANARY_SECRET, CANARY_USER, write_state


def _status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str
) -> tuple[int, str, str]:
    for key in [k for k in os.environ if k.startswith(("AIOS_", "AI_OS_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = status_cli.main(["--no-timers", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_first_run_human_and_json(capsys, monkeypatch, base_env) -> None:
    code, out, _ = _status(capsys, monkeypatch, base_env)
    assert code == 0
    assert out.count("Not run yet") == 4
    assert "timer intent  on from registry default (intent only: it does not prove a timer exists)" in out
    assert "not present (registry defaults; example: data/ai-os.scheduler.example.json)" in out
    code, out, _ = _status(capsys, monkeypatch, base_env, "--json")
    doc = json.loads(out)
    assert doc["schemaVersion"] == 1 and [j["job"] for j in doc["jobs"]] == [
        "aggregate",
        "agent-aggregate",
        "trend-finder",
        "dream",
    ]
    code, out, _ = _status(capsys, monkeypatch, base_env, "--job", "agent-aggregate", "--json")
    one = json.loads(out)
    for key in ("job", "lifecycle", "enabledByDefault", "timerEnabled", "cadence", "latestRun", "timer"):
        assert key in one
    assert one["cadence"] == {
        "id": "every-4-hours",
        "title": "Every 4 hours",
        "calendar": "*-*-* 0/4:00:00",
        "calendars": ["*-*-* 0/4:00:00"],
        "source": "registry-default",
    }
    for key in (
        "state",
        "label",
        "runId",
        "exitCode",
        "trigger",
        "lockOutcome",
        "warningCount",
        "startedAt",
        "finishedAt",
        "durationMs",
    ):
        assert key in one["latestRun"]
    assert one["latestRun"]["state"] == "first-run" and one["latestRun"]["label"] == "Not run yet"
    assert one["enabledByDefault"] is True and one["timerEnabled"] is None


def test_unknown_job_is_a_usage_error(capsys, monkeypatch, base_env) -> None:
    code, _, err = _status(capsys, monkeypatch, base_env, "--job", "nope")
    assert code == 2 and "hint: use one of" in err


@pytest.mark.parametrize(
    ("job", "label"),
    [
        ("ok", "success"),
        ("warn", "warning-only"),
        ("degraded", "degraded"),
        ("skip", "skipped"),
        ("fail", "failed"),
    ],
)
def test_each_label_after_a_run(run_testjob, roots, job: str, label: str) -> None:
    run_testjob(job)
    proc = _status_testjobs(roots, job)
    assert proc["latestRun"]["state"] == label
    assert proc["latestRun"]["exitCode"] is not None and proc["latestRun"]["runId"]


def test_a_run_records_its_checkout_and_status_elsewhere_says_it_was_for_another(run_testjob, roots, tmp_path) -> None:
    """One scheduler root, two checkouts: a run records which one it was for (a key, never
    the path), and status asked from the other checkout does not call it this one's."""
    from aios_systemd.context import Context

    assert run_testjob("ok").returncode == 0
    record = json.loads((roots["scheduler"] / "state" / "ok.json").read_text())
    here = Context.from_environ({}, project_root=roots["project"]).project_key
    assert record["project"] == here and str(roots["project"]) not in json.dumps(record)
    mine = _status_testjobs(roots, "ok")
    assert mine["latestRun"]["forAnotherProjectRoot"] is False
    other = tmp_path / "other-checkout"
    other.mkdir()
    theirs = _status_testjobs({**roots, "project": other}, "ok")
    assert theirs["latestRun"]["forAnotherProjectRoot"] is True
    assert theirs["nextSteps"][0].startswith("The latest run of ok was for another checkout")
    assert status_model.assess(theirs).level is status_model.Level.WARNING
    assert status_model.assess(mine).level is status_model.Level.OK


@pytest.mark.parametrize(
    ("project", "state"), [(None, "success"), ("0123abcd", "success"), ("../etc", "unreadable-state")]
)
def test_a_record_without_a_checkout_is_not_judged_and_a_bad_one_is_unreadable(
    capsys, monkeypatch, base_env, roots, project: str | None, state: str
) -> None:
    write_state(roots, "agent-aggregate", **({} if project is None else {"project": project}))
    code, out, _ = _status(capsys, monkeypatch, base_env, "--job", "agent-aggregate", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["latestRun"]["state"] == state
    assert doc["latestRun"]["forAnotherProjectRoot"] is (project == "0123abcd")


def _status_testjobs(roots: dict[str, Path], job: str) -> dict[str, object]:
    from aios_systemd.context import Context
    from tests.support.testjobs import TEST_REGISTRY

    ctx = Context.from_environ(
        {"AIOS_SCHEDULER_ROOT": str(roots["scheduler"]), "HOME": str(roots["tmp"])}, project_root=roots["project"]
    )
    doc = status_model.build(ctx, TEST_REGISTRY, [job], with_timers=False)
    result: dict[str, object] = doc["jobs"][0]
    return result


def _artifact(project: Path, stamp: str = "2026-11-26T00:00:02.000Z", items: dict | None = None) -> None:
    from aios_systemd.data import writer

    doc = json.loads(writer.packaged_example_bytes())
    for branch in ("host", "scheduler", "agents", "dream"):
        doc[branch]["generatedAt"] = stamp
    doc["extensions"]["items"] = items or {}
    path = project / "src" / "data" / "live-data.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_freshness_comes_from_the_artifact_of_this_project_root(capsys, monkeypatch, base_env, roots, tmp_path) -> None:
    """A failed run leaves fresh data; a run elsewhere wrote other data: the artifact says."""
    code, out, _ = _status(capsys, monkeypatch, base_env, "--json")
    assert code == 0
    jobs = {j["job"]: j for j in json.loads(out)["jobs"]}
    assert jobs["agent-aggregate"]["freshness"] == {}
    assert jobs["agent-aggregate"]["freshnessNote"] == "no generated data in this project root yet"
    _artifact(roots["project"], items={"trend-finder": {"generatedAt": "2026-11-26T06:00:00Z", "x": 1}})
    code, out, _ = _status(capsys, monkeypatch, base_env, "--json")
    jobs = {j["job"]: j for j in json.loads(out)["jobs"]}
    assert set(jobs["agent-aggregate"]["freshness"]) == {"host", "scheduler", "agents", "dream"}
    assert jobs["trend-finder"]["freshness"]["extensions.trend-finder"]["generatedAt"] == "2026-11-26T06:00:00Z"
    assert set(jobs["aggregate"]["freshness"]) == {"host", "scheduler", "agents", "dream", "extensions.trend-finder"}
    # Another project root has its own data (none here), whatever the latest run wrote.
    other = tmp_path / "other"
    other.mkdir()
    code, out, _ = _status(capsys, monkeypatch, {**base_env, "AIOS_PROJECT_ROOT": str(other)}, "--json")
    assert code == 0
    assert {j["job"]: j for j in json.loads(out)["jobs"]}["agent-aggregate"]["freshness"] == {}


def test_freshness_of_a_large_artifact_is_read_without_parsing_it_whole(roots) -> None:
    from aios_systemd.data import freshness

    big = {f"ext-{i}": {"generatedAt": f"2026-11-26T0{i % 10}:00:00Z", "blob": "x" * 300_000} for i in range(5)}
    _artifact(roots["project"], items=big)
    path = roots["project"] / "src" / "data" / "live-data.json"
    assert path.stat().st_size > freshness.PARSE_WHOLE_BYTES
    got = freshness.read(path)
    assert got.problem is None and got.branches["extensions.ext-3"] == "2026-11-26T03:00:00Z"
    assert got.branches["host"] == "2026-11-26T00:00:02.000Z"
    path.write_bytes(path.read_bytes()[:-10])
    assert freshness.read(path).problem == "the generated data file is not a valid artifact"


@pytest.mark.parametrize("state", [s for s in RunState if s not in (RunState.FIRST_RUN, RunState.UNREADABLE_STATE)])
def test_every_recorded_state_renders(capsys, monkeypatch, base_env, roots, state: RunState) -> None:
    sdir = roots["scheduler"] / "state"
    sdir.mkdir(parents=True)
    (sdir / "agent-aggregate.json").write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                "job": "agent-aggregate",
                "runId": "20261126T000000.000Z-abc",
                "state": str(state),
                "trigger": "systemd",
                "lockOutcome": "acquired",
                "startedAt": "2026-11-26T00:00:00.000Z",
                "finishedAt": "2026-11-26T00:00:01.000Z",
                "durationMs": 1000,
                "exitCode": 0,
                "warningCount": 0,
                "warnings": [],
                "freshness": {"hostLocal": "2026-11-26T00:00:01.000Z"},
            }
        )
    )
    _artifact(roots["project"])
    code, out, _ = _status(capsys, monkeypatch, base_env, "--job", "agent-aggregate")
    assert code == 0 and f"latest run    {state}" in out and "host generated 2026-11-26T00:00:02.000Z" in out
    code, out, _ = _status(capsys, monkeypatch, base_env, "--job", "agent-aggregate", "--json")
    assert json.loads(out)["latestRun"]["state"] == str(state)


def test_unreadable_state(capsys, monkeypatch, base_env, roots) -> None:
    sdir = roots["scheduler"] / "state"
    sdir.mkdir(parents=True)
    (sdir / "dream.json").write_text("{not json")
    _, out, _ = _status(capsys, monkeypatch, base_env, "--job", "dream", "--json")
    doc = json.loads(out)
    assert doc["latestRun"]["state"] == "unreadable-state"
    assert "Rerun to replace private state: aios-run dream" in doc["nextSteps"]


def test_config_overlay_and_warnings(capsys, monkeypatch, base_env, roots) -> None:
    (roots["project"] / "data").mkdir()
    (roots["project"] / "data" / "ai-os.scheduler.json").write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                "jobs": {"aggregate": {"timerEnabled": True, "cadence": "hourly"}, "dream": {"times": ["7:00"]}},
            }
        )
    )
    _, out, _ = _status(capsys, monkeypatch, base_env, "--json")
    jobs = {j["job"]: j for j in json.loads(out)["jobs"]}
    assert jobs["aggregate"]["cadence"]["source"] == "local-config" and jobs["aggregate"]["timerEnabled"] is True
    assert jobs["dream"]["cadence"]["source"] == "registry-default"
    assert jobs["dream"]["configWarnings"] == ["jobs.dream.times[0]: must be a strict HH:MM time"]


def test_privacy_canaries_never_reach_status_or_state(run_testjob, roots, base_env, capsys, monkeypatch) -> None:
    home = roots["tmp"] / "home" / CANARY_USER
    home.mkdir(parents=True)
    env = {"AIOS_TEST_SECRET_TOKEN": CANARY_SECRET, "HOME": str(home), "USER": CANARY_USER, "LOGNAME": CANARY_USER}
    (roots["project"] / "data").mkdir()
    (roots["project"] / "data" / "ai-os.scheduler.json").write_text(
        json.dumps(
            {
                "jobs": {"dream": {"times": [CANARY_SECRET, str(home), CANARY_EMAIL]}, CANARY_EMAIL: {}},
                CANARY_SECRET: True,
            }
        )
    )
    proc = run_testjob("leak", env=env)
    assert proc.returncode == 1
    seen = [proc.stdout, proc.stderr]
    seen.append((roots["scheduler"] / "state" / "leak.json").read_text())
    seen.append(json.dumps(_status_testjobs(roots, "leak")))
    for args in ((), ("--json",)):
        _, out, err = _status(capsys, monkeypatch, {**base_env, **env}, *args)
        seen += [out, err]
    # A state file hand-edited to carry canaries is redacted on display too.
    tampered = roots["scheduler"] / "state" / "agent-aggregate.json"
    tampered.write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                "job": "agent-aggregate",
                "runId": "r",
                "state": "failed",
                "trigger": "manual",
                "lockOutcome": "acquired",
                "startedAt": "2026-11-26T00:00:00Z",
                "warningCount": 1,
                "warnings": [f"{CANARY_SECRET} {home}/x {CANARY_EMAIL} {CANARY_USER}"],
            }
        )
    )
    for args in ((), ("--json",)):
        _, out, err = _status(capsys, monkeypatch, {**base_env, **env}, *args)
        seen += [out, err]
    blob = "\n".join(seen)
    for canary in (CANARY_SECRET, str(home), CANARY_EMAIL, CANARY_USER):
        assert canary not in blob, canary


@pytest.mark.parametrize(
    "bad",
    [
        {"durationMs": "abc"},
        {"freshness": {"host": 5}},
        {"freshness": {"host": "2026-11-26T00:00:00"}},
        {"exitCode": {"/home/alice/.ssh/id_rsa": 1}},
        {"warnings": "oops"},
        {"previous": {"state": "nope"}},
        {"exitCode": True},
        {"startedAt": "yesterday"},
        {"freshness": {"/root/secret-plans a@b.org": "2026-11-26T00:00:00Z"}},
    ],
)
def test_a_hand_edited_state_file_reads_unreadable_and_never_crashes(
    capsys, monkeypatch, base_env, roots, bad: dict[str, object]
) -> None:
    write_state(roots, "dream", runId="r1", **bad)
    for args in ((), ("--json",)):
        code, out, err = _status(capsys, monkeypatch, base_env, *args)
        assert code == 0, err
        assert "id_rsa" not in out and "secret-plans" not in out and "a@b.org" not in out
    _, out, _ = _status(capsys, monkeypatch, base_env, "--job", "dream", "--json")
    assert json.loads(out)["latestRun"]["state"] == "unreadable-state"


@pytest.mark.parametrize("argv", [[], ["--json"], ["--brief"], ["--metrics"]])
def test_a_project_root_that_is_not_there_is_a_usage_error(capsys, monkeypatch, base_env, roots, argv) -> None:
    """A typo or a moved checkout: never a report of runs recorded for another root."""
    write_state(roots, "agent-aggregate", state="success")
    missing = roots["project"].parent / "moved-away"
    code, out, err = _status(capsys, monkeypatch, {**base_env, "AIOS_PROJECT_ROOT": str(missing)}, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: the project root does not exist or is not a directory\nhint: pass --project-root")
    assert str(missing) not in err


def test_empty_job_is_a_usage_error(capsys, monkeypatch, base_env) -> None:
    code, _, err = _status(capsys, monkeypatch, base_env, "--job", "", "--json")
    assert code == 2 and "hint:" in err


def test_a_dead_run_and_the_last_blocked_attempt_are_shown(capsys, monkeypatch, base_env, roots) -> None:
    sdir = roots["scheduler"] / "state"
    sdir.mkdir(parents=True)
    base = {
        "schemaVersion": 1,
        "job": "dream",
        "trigger": "systemd",
        "startedAt": "2026-11-26T00:00:00Z",
        "warningCount": 0,
        "warnings": [],
        "freshness": {},
    }
    (sdir / "dream.json").write_text(
        json.dumps({**base, "runId": "r1", "state": "running", "lockOutcome": "acquired", "pid": 999999})
    )
    (sdir / "dream.blocked.json").write_text(
        json.dumps({**base, "runId": "r2", "state": "blocked", "lockOutcome": "held", "blockedBy": "r1"})
    )
    _, out, _ = _status(capsys, monkeypatch, base_env, "--job", "dream", "--json")
    doc = json.loads(out)
    assert doc["latestRun"]["state"] == "running" and "stopped before finishing" in doc["latestRun"]["label"]
    assert doc["activeRun"] is None and "Rerun to allow stale-lock recovery: aios-run dream" in doc["nextSteps"]
    assert doc["lastBlocked"] == {"runId": "r2", "at": "2026-11-26T00:00:00Z", "blockedBy": "r1"}
    _, out, _ = _status(capsys, monkeypatch, base_env, "--job", "dream")
    assert "last blocked  run r2" in out


def test_a_scheduler_root_that_is_a_file_is_reported_once(capsys, monkeypatch, base_env, roots) -> None:
    roots["scheduler"].write_text("not a directory")
    code, out, _ = _status(capsys, monkeypatch, base_env)
    assert code == 0 and "Scheduler root: the scheduler root exists but is not a directory" in out
    _, out, _ = _status(capsys, monkeypatch, base_env, "--json")
    assert json.loads(out)["schedulerRoot"]["ok"] is False


def test_a_timer_that_cannot_be_checked_is_not_no_action_required(roots) -> None:
    """Without a reachable user manager (a shell with no XDG_RUNTIME_DIR), whether the
    timer exists is unknown: the next steps say where to look, not "No action required"."""
    from aios_systemd.context import Context
    from aios_systemd.registry import REGISTRY

    env = {"AIOS_SCHEDULER_ROOT": str(roots["scheduler"]), "HOME": str(roots["tmp"]), "PATH": os.environ["PATH"]}
    write_state(roots, "agent-aggregate", state="success")
    ctx = Context.from_environ(env, project_root=roots["project"])
    job = status_model.build(ctx, REGISTRY, ["agent-aggregate"])["jobs"][0]
    assert job["timer"] is None and "XDG_RUNTIME_DIR is not set" in job["timerReason"]
    assert job["nextSteps"][-1].startswith("Its timer could not be checked (")
    assert "No action required" not in job["nextSteps"]
    unasked = status_model.build(ctx, REGISTRY, ["agent-aggregate"], with_timers=False)["jobs"][0]
    assert unasked["nextSteps"] == ["No action required"]
