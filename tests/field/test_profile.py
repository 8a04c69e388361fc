"""The field runner itself: profile semantics (as the shared ``field.py`` documents them),
which profiles are run, and that each contract check finds what it looks for without
printing a secret.  No user manager here: these run on made-up inputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.field import profile as field_profile
from tests.field.profile import Combination, Profile, combinations, discover
from tests.field.test_field_contract import (
    COMMANDS,
    RUN_COMMAND,
    STATUS_JSON,
    FieldRun,
    check_commands,
    check_json_keys,
    check_main_job,
    check_secrets,
    check_syslog_prefixes,
)

PROFILE = """\
# A made-up session.
# secrets: API_TOKEN DSN MULTI
# os-release: debian-12
# umask: 0002
# project-mode: 0775
USER=sam
HOME=/home/sam
XDG_RUNTIME_DIR=/run/user/1000
DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus
AIOS_PROJECT_ROOT=/home/sam/own
export EXPORTED=yes
PLAIN=value   # a comment
HASH=a#b
SINGLE='it is # kept'
DOUBLE="two\\nlines"
EMPTY=
API_TOKEN=tok_9f8e7d6c5b4a
DSN=postgres://app:pa55w0rd-x@db:5432/x
MULTI="first-line-1\\nsecond-line-2"
PATH=/home/sam/bin:/usr/bin
"""


def _profile(tmp_path: Path, text: str = PROFILE, name: str = "made-up.env") -> Profile:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    path = tmp_path / "profiles" / name
    path.write_text(text)
    return Profile.load(path)


def test_values_and_headers_are_read_as_field_py_documents(tmp_path: Path) -> None:
    p = _profile(tmp_path)
    assert p.values["EXPORTED"] == "yes"
    assert p.values["PLAIN"] == "value"
    assert p.values["HASH"] == "a#b"  # a comment needs the space before '#'
    assert p.values["SINGLE"] == "it is # kept"
    assert p.values["DOUBLE"] == "two\nlines"
    assert p.values["EMPTY"] == ""
    assert p.secret_names == ("API_TOKEN", "DSN", "MULTI")
    assert (p.umask, p.project_mode) == (0o002, 0o775)
    assert p.os_release == tmp_path / "os-release" / "debian-12"  # beside its own profiles directory
    assert not p.is_env_local and p.short == "made-up"


def test_the_environment_takes_the_plumbing_from_the_caller(tmp_path: Path) -> None:
    p = _profile(tmp_path)
    caller = {
        "PATH": "/caller/bin",
        "HOME": "/tmp/h",
        "XDG_CONFIG_HOME": "/tmp/c",
        "AIOS_SCHEDULER_ROOT": "/s",
        "X": "1",
    }
    env = p.environment(caller)
    assert env["HOME"] == "/tmp/h" and env["XDG_CONFIG_HOME"] == "/tmp/c"
    assert "XDG_RUNTIME_DIR" not in env and "DBUS_SESSION_BUS_ADDRESS" not in env  # the caller has none
    assert env["PATH"] == "/caller/bin:/home/sam/bin:/usr/bin"
    assert env["AIOS_SCHEDULER_ROOT"] == "/s"
    assert env["AIOS_PROJECT_ROOT"] == "/home/sam/own"  # the caller did not set this one
    assert "X" not in env  # nothing else of the caller
    assert env["USER"] == "sam"


def test_secrets_include_each_line_and_a_urls_password(tmp_path: Path) -> None:
    found = {(s.variable, s.form): s.value for s in _profile(tmp_path).secrets()}
    assert found[("API_TOKEN", "value")] == "tok_9f8e7d6c5b4a"
    assert found[("DSN", "URL password")] == "pa55w0rd-x"
    assert found[("MULTI", "line 1 of the value")] == "first-line-1"
    assert found[("MULTI", "line 2 of the value")] == "second-line-2"
    assert found[("MULTI", "value as JSON text")] == "first-line-1\\nsecond-line-2"


def test_the_shared_field_py_agrees_where_it_is_there() -> None:
    """The shared tool and this runner give the same environment and (at least) the same
    secrets for every profile both can read."""
    tool = field_profile.SHARED_PROFILES.parent / "field.py"
    if not tool.is_file():
        return  # a fresh clone without ../shared: nothing to compare with
    caller = {"PATH": "/usr/bin:/bin", "HOME": "/h", "XDG_RUNTIME_DIR": "/r", "AIOS_X": "1", "OTHER": "no"}
    for p in discover():
        if not p.is_env_local:
            # (field.py applies the os-release too; /usr/bin/env prints only the environment)
            out = subprocess.run(
                ["/usr/bin/python3", str(tool), "run", str(p.path), "--", "/usr/bin/env", "-0"],
                env=caller,
                capture_output=True,
                check=True,
            ).stdout
            theirs = dict(item.decode().split("=", 1) for item in out.split(b"\0") if item)
            theirs.pop("PWD", None)  # the os-release wrapper's shell adds it
            assert theirs == p.environment(caller), p.name
        listed = subprocess.run(
            ["/usr/bin/python3", str(tool), "secrets", str(p.path)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert set(listed) <= {s.value for s in p.secrets()}, p.name


def test_profiles_are_the_union_of_both_directories_without_duplicates(tmp_path: Path) -> None:
    own, shared = tmp_path / "own", tmp_path / "shared"
    own.mkdir(), shared.mkdir()
    (own / "a.env").write_text("USER=a\n")
    (own / "x.env.local").write_text("K=v\n")
    (shared / "a.env").write_text("USER=a\n")  # the same file: once
    (shared / "b.env").write_text("USER=b\n")  # a new profile
    (shared / "x.env.local").write_text("K=other\n")  # same name, other content: both
    (shared / "README.md").write_text("not a profile\n")
    profiles = discover([own, shared])
    assert [(p.path.parent.name, p.name) for p in profiles] == [
        ("own", "a.env"),
        ("own", "x.env.local"),
        ("shared", "b.env"),
        ("shared", "x.env.local"),
    ]
    ids = [c.id for c in combinations(profiles)]
    assert len(ids) == 6 and len(set(ids)) == 6  # 2 env profiles x (alone + 2 .env.local)
    assert "a" in ids and "b+x" in ids and "b+shared:x" in ids


def test_the_projects_own_copy_is_complete() -> None:
    """A fresh clone runs the contract on its own copy: every os-release a profile names is
    there, and so is every drop-in."""
    own = discover([field_profile.OWN_PROFILES])
    assert any(p.is_env_local for p in own) and any(not p.is_env_local for p in own)
    for p in own:
        if p.os_release is not None:
            assert p.os_release.is_file(), p.name
        for dropin in p.dropins():
            assert dropin.is_file(), dropin


# -- the checks, on made-up runs -------------------------------------------------------------
def _done(name: str, code: int = 0, out: str = "", err: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([name], code, out, err)


GOOD_STATUS = {
    "schemaVersion": 1,
    "config": {},
    "jobs": [
        {
            "job": "agent-aggregate",
            "lifecycle": "active",
            "enabledByDefault": True,
            "timerEnabled": None,
            "timerIntent": "on",
            "cadence": {"id": "every-4-hours", "calendar": "x", "calendars": ["x"], "source": "registry"},
            "latestRun": {
                "state": "success",
                "label": "success",
                "runId": "r",
                "exitCode": 0,
                "trigger": "manual",
                "lockOutcome": "acquired",
                "warningCount": 0,
                "startedAt": "t",
                "finishedAt": "t",
                "durationMs": 1,
            },
            "activeRun": None,
            "freshness": {"hostLocal": "t"},
            "timer": None,
            "nextSteps": [],
        }
    ],
}


def _run(tmp_path: Path) -> FieldRun:
    env = _profile(tmp_path)
    r = FieldRun(Combination(env, None, "made-up"))
    r.outputs = {name: _done(name, 0, "ok\n") for name in COMMANDS}
    r.outputs[STATUS_JSON] = _done(STATUS_JSON, 0, json.dumps(GOOD_STATUS))
    r.state = {"state": "success"}
    r.artifact_written = True
    r.files = {"scheduler root/state/agent-aggregate.json": b'{"state": "success", "warningCount": 0}'}
    return r


def test_a_run_that_keeps_the_contract_passes_every_check(tmp_path: Path) -> None:
    r = _run(tmp_path)
    for check in (check_main_job, check_commands, check_secrets, check_json_keys, check_syslog_prefixes):
        assert check(r) == [], check.__name__


def test_a_leak_names_the_variable_and_the_place_but_never_the_value(tmp_path: Path) -> None:
    r = _run(tmp_path)
    r.files["scheduler root/logs/agent-aggregate.jsonl"] = b'{"msg": "x second-line-2 y"}\n'
    r.outputs["aios-status"] = _done("aios-status", 0, "", "warning: pa55w0rd-x\n")
    problems = check_secrets(r)
    text = "\n".join(problems)
    assert "MULTI (line 2 of the value, from made-up.env) appears in the file scheduler root/logs/" in text
    assert "DSN (URL password, from made-up.env) appears in the stderr of aios-status" in text
    assert "second-line-2" not in text and "pa55w0rd-x" not in text
    # the excerpts of other failures mask it too
    r.outputs[RUN_COMMAND] = _done(RUN_COMMAND, 1, "failed: tok_9f8e7d6c5b4a\n")
    shown = "\n".join(check_main_job(r))
    assert "tok_9f8e7d6c5b4a" not in shown and "<secret API_TOKEN>" in shown


def test_each_other_check_finds_its_failure(tmp_path: Path) -> None:
    r = _run(tmp_path)
    r.state = {"state": "degraded", "reason": "collector-degraded"}
    assert any("'degraded'" in p for p in check_main_job(r))

    r.outputs["aios-units diff"] = _done("aios-units diff", 2, "", "error: x\n")
    r.outputs["aios-status"] = _done("aios-status", 1, "", "error: internal error (KeyError)\n")
    problems = check_commands(r)
    assert any(p.startswith("aios-units diff exited 2") for p in problems)
    assert any(p.startswith("aios-status exited 1, not 0 and printed 'internal error'") for p in problems)

    status = json.loads(json.dumps(GOOD_STATUS))
    status["jobs"][0]["latestRun"]["[redacted]Count"] = status["jobs"][0]["latestRun"].pop("warningCount")
    r.outputs[STATUS_JSON] = _done(STATUS_JSON, 0, json.dumps(status))
    r.files["project root/src/data/live-data.json"] = b'{"host": {"<path>": 1}}'
    status["jobs"][0]["timer"] = {"next_elapse": None}
    status["jobs"][0]["freshness"] = {"trend-finder": {}}  # a map keyed by data: not checked
    r.outputs[STATUS_JSON] = _done(STATUS_JSON, 0, json.dumps(status))
    problems = check_json_keys(r)
    assert any("key 'next_elapse' (at $.jobs[0].timer) is not camelCase" in p for p in problems)
    assert not any("trend-finder" in p for p in problems)
    assert any("'[redacted]Count' carries a redaction label, at $.jobs[0].latestRun" in p for p in problems)
    assert any("latestRun keys ['warningCount'] missing" in p for p in problems)
    assert any(p.startswith("project root/src/data/live-data.json: key '<path>'") for p in problems)

    r.outputs[RUN_COMMAND] = _done(RUN_COMMAND, 0, "<6>agent-aggregate: started\nplain\n")
    assert any("1 prefixed line(s)" in p for p in check_syslog_prefixes(r))


@pytest.mark.parametrize("text", ["", "null", "[]"])
def test_status_json_that_is_not_the_document_fails(tmp_path: Path, text: str) -> None:
    r = _run(tmp_path)
    r.outputs[STATUS_JSON] = _done(STATUS_JSON, 0, text)
    assert check_json_keys(r)
