"""``aios-status --check`` (a monitoring-plugin check) and the one-line-per-job table, on
real runs and a real private user manager."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import write_state
from tests.support.user_manager import UnitsSandbox, units_cli

BIN = Path(sys.executable).parent
JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
TIMER = f"ai-os-{JOB}.timer"
# The Monitoring Plugins guidelines: "SERVICE STATUS - text | perfdata", then long text.
STATUS_LINE = re.compile(r"^AIOS (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+?)(?: \| (.+))?$")
# 'label'=value[UOM];[warn];[crit];[min];[max] (trailing empty fields may be left out).
PERFDATA = re.compile(r"^'[^'=]+'=-?[0-9.]+(s|ms|us|%|B|KB|MB|TB|c)?(;-?[0-9.:~@]*){0,4}$")
CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _status(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "aios-status"), *argv], env=env, capture_output=True, text=True, timeout=120)


def _check(env: dict[str, str], *argv: str) -> tuple[str, str, list[str], list[str]]:
    """(state, summary, perfdata, long text lines) of a check, held to the guidelines."""
    done = _status(env, "--check", *argv)
    first, *rest = done.stdout.splitlines()
    m = STATUS_LINE.match(first)
    assert m, done.stdout + done.stderr
    assert done.returncode == CODES[m.group(1)], done.stdout
    perfdata = (m.group(3) or "").split()
    for item in perfdata:
        assert PERFDATA.match(item), item
    return m.group(1), m.group(2), perfdata, rest


def _run(env: dict[str, str], job: str = JOB) -> int:
    return subprocess.run([str(BIN / "aios-run"), job], env=env, capture_output=True, timeout=120).returncode


def _age_artifact(project: Path, hours: float) -> None:
    """The generated data as if written ``hours`` ago (each branch's own generatedAt)."""
    path = project / "src" / "data" / "live-data.json"
    doc = json.loads(path.read_text())
    stamp = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for branch in ("host", "scheduler", "agents", "dream"):
        if isinstance(doc.get(branch), dict):
            doc[branch]["generatedAt"] = stamp
    doc["generatedAt"] = stamp
    path.write_text(json.dumps(doc))


@pytest.mark.user_manager
def test_the_check_follows_runs_data_and_the_manager(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    env = sb.env
    sb.write_config({"trend-finder": {"timerEnabled": False}, "dream": {"timerEnabled": False}})
    state, summary, _, rest = _check(env)
    assert state == "WARNING" and summary == f"{JOB}: timer intent on, but no timer is installed", summary
    code, out, err = units_cli(sb, capsys, "install", JOB)
    assert code == 0, out + err
    state, summary, perfdata, rest = _check(env)
    assert (state, summary, perfdata) == ("OK", f"{JOB}: not run yet", []), summary
    assert rest == [f"{JOB}: OK - not run yet"]

    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.start(SERVICE), timeout=60)  # a timer's run
    state, summary, perfdata, _ = _check(env)
    assert state == "OK" and re.fullmatch(rf"{JOB}: success \d+s ago, data \d+s old", summary), summary
    labels = {p.split("=")[0]: p for p in perfdata}
    assert set(labels) == {f"'{JOB}_data_age'", f"'{JOB}_run_age'", f"'{JOB}_duration'"}
    assert labels[f"'{JOB}_data_age'"].endswith("s;28800;;0")  # stale after twice 4 hours
    assert labels[f"'{JOB}_duration'"].endswith("s;;;0;600")  # the job's timeout is the maximum

    data = sb.project / "src" / "data" / "live-data.json"
    kept = data.read_bytes()
    data.write_text("{not json")  # the next run fails: the writer refuses the file
    assert _run(env) == 1
    state, summary, _, rest = _check(env)
    assert (state, summary) == ("CRITICAL", f"{JOB}: latest run failed (data-file-unusable)"), summary
    assert rest[0].startswith(f"{JOB}: CRITICAL - latest run failed (data-file-unusable), ")  # and unreadable data
    plain = _status(env)
    assert plain.returncode == 0  # plain aios-status keeps its exit codes
    assert re.search(rf"^!  {JOB} +failed, \d+s ago ", plain.stdout, re.MULTILINE), plain.stdout
    data.write_bytes(kept)

    assert _run(env) == 0
    _age_artifact(sb.project, 9)
    state, summary, perfdata, _ = _check(env)
    assert (state, summary) == ("WARNING", f"{JOB}: data 9 h old (stale after 8 h)"), summary
    assert any(p.startswith(f"'{JOB}_data_age'=32") for p in perfdata), perfdata

    moved = sb.project.with_name(sb.project.name + "-moved")
    sb.project.rename(moved)  # the service fails before aios-run (200/CHDIR): the manager says so
    try:
        with sb.pm.connect() as mgr:
            mgr.wait_job(mgr.start(SERVICE), timeout=60)
    finally:
        moved.rename(sb.project)
    state, summary, _, rest = _check(env)
    assert state == "CRITICAL" and summary.startswith(f"{JOB}: {SERVICE} failed (200/CHDIR)"), summary
    assert "data 9 h old" in rest[0]  # the long text names every reason
    with sb.pm.connect() as mgr:
        mgr.reset_failed(SERVICE)

    timer = sb.unit_dir / TIMER
    timer.write_text(timer.read_text().replace("Persistent=true", "Persistent=false"))  # a hand edit
    sb.write_config({"dream": {"timerEnabled": False}})  # trend-finder's intent back on, with no timer
    state, summary, _, rest = _check(env)
    assert state == "WARNING", summary
    assert f"{JOB}: timer drift (hand-edited)" in summary and "trend-finder: timer intent on, but no timer" in summary
    assert [line.split(":")[0] for line in rest] == [JOB, "trend-finder"]
    brief = _status(env, "--brief").stdout.splitlines()
    assert brief[0].split() == ["JOB", "LATEST", "RUN", "NEXT", "TIMER", "DATA"]
    rows = {line[3:].split()[0]: line for line in brief[1:5]}
    assert rows[JOB].startswith("!") and re.search(r" in \d+ (min|h) +active, hand-edited +9 h ago$", rows[JOB])
    assert rows["trend-finder"].startswith("!") and "none (intent on)" in rows["trend-finder"]
    assert rows["aggregate"].startswith(" ") and rows["dream"].startswith(" ")
    assert brief[5].startswith("! needs action, ? cannot be read")


def test_the_check_without_timer_facts(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    state, summary, perfdata, rest = _check(base_env, "--no-timers")
    assert (state, summary, perfdata) == ("OK", "3 jobs OK", []), summary  # the three with their intent on
    assert rest == [f"{j}: OK - not run yet" for j in ("agent-aggregate", "trend-finder", "dream")]
    write_state(roots, "dream", state="degraded", reason="no-material", exitCode=0)
    state, summary, perfdata, _ = _check(base_env, "--no-timers")
    assert (state, summary) == ("WARNING", "dream: latest run degraded (no-material)")
    assert perfdata == ["'dream_run_age'=" + perfdata[0].split("=")[1], "'dream_duration'=1.000s;;;0;1800"]
    write_state(roots, "trend-finder", state="timeout", exitCode=124, reason="timeout")
    state, summary, _, _ = _check(base_env, "--no-timers")
    assert summary == "trend-finder: latest run timeout (timeout); dream: latest run degraded (no-material)"
    assert state == "CRITICAL"
    (roots["scheduler"] / "state" / "agent-aggregate.json").write_text("{torn")
    assert _check(base_env, "--no-timers", "--job", JOB)[:2] == ("UNKNOWN", f"{JOB}: its latest state cannot be read")
    # A manual job's failure is no alert, unless the check is asked about that job.
    write_state(roots, "aggregate", state="failed", exitCode=1, reason="handler-error")
    assert "aggregate:" not in _check(base_env, "--no-timers")[1].replace("agent-aggregate:", "")
    assert _check(base_env, "--no-timers", "--job", "aggregate")[:2] == (
        "CRITICAL",
        "aggregate: latest run failed (handler-error)",
    )
    (roots["project"] / "data").mkdir()
    (roots["project"] / "data" / "ai-os.scheduler.json").write_text("[]")
    _, summary, _, _ = _check(base_env, "--no-timers", "--job", "dream")
    assert (
        summary == "dream: latest run degraded (no-material); the local scheduler config is invalid (defaults in use)"
    )


def test_a_scheduler_root_that_cannot_hold_state_is_unknown(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    roots["scheduler"].write_text("not a directory")
    state, summary, _, _ = _check(base_env, "--no-timers")
    assert state == "UNKNOWN" and summary.startswith("agent-aggregate, trend-finder, dream: its latest state cannot")
    assert summary.endswith("; scheduler root: the scheduler root exists but is not a directory")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "No such option: --bogus"),
        (["--job", "nope"], "unknown job id (not in the reviewed registry)"),
        (["--json"], "--check, --brief, --json and --metrics each print a format of their own"),
        (["--job"], "Option '--job' requires an argument."),
        # A typo'd root in a monitoring command must never stay green.
        (["--project-root", "/nonexistent/typo"], "the project root does not exist or is not a directory"),
    ],
)
def test_in_check_mode_every_refusal_is_unknown(base_env: dict[str, str], argv: list[str], message: str) -> None:
    done = _status(base_env, "--check", "--no-timers", *argv)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == f"AIOS UNKNOWN - {message}\n"
    assert done.stderr.startswith(f"error: {message}\nhint: ")
    helped = _status(base_env, "--check", "--help")
    assert helped.returncode == 0 and "monitoring plugin" in helped.stdout
    assert _status(base_env, "--job", "nope").returncode == 2  # without --check: the usual usage error


def test_an_internal_error_in_check_mode_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    from aios_systemd.cli import common

    def broken(_command: object) -> object:
        def handler(**_values: object) -> int:
            raise RuntimeError("boom at /home/someone/secret")

        return handler

    assert common.dispatch("aios-status", ["--check"], broken) == 3  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "AIOS UNKNOWN - internal error (RuntimeError)\n" and "/home/someone" not in out + err
    assert common.dispatch("aios-status", ["--no-timers"], broken) == 1  # type: ignore[arg-type]


def test_the_table_comes_first_and_json_keeps_its_shape(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    assert _run(base_env) == 0
    out = _status(base_env, "--no-timers").stdout
    table, details = out.split("\n\n", 1)
    lines = table.splitlines()
    assert lines[0].split() == ["JOB", "LATEST", "RUN", "NEXT", "TIMER", "DATA"] and len(lines) == 5
    assert re.match(rf"^   {JOB} +success, \d+s ago +- +- +\d+s ago$", lines[2]), lines[2]
    assert re.match(r"^   dream +not run yet +- +- +-$", lines[4]), lines[4]
    assert details.startswith("Local config: ")
    assert _status(base_env, "--no-timers", "--brief").stdout == table + "\n"
    one = _status(base_env, "--no-timers", "--job", JOB).stdout
    assert one.startswith("Local config: ") and "LATEST RUN" not in one
    doc = json.loads(_status(base_env, "--no-timers", "--json").stdout)
    assert set(doc) == {"schemaVersion", "schedulerRoot", "config", "jobs"}
    assert set(doc["jobs"][1]["cadence"]) == {"id", "title", "calendar", "calendars", "source"}
    assert _status(base_env, "--no-timers", "--json", "--brief").returncode == 2
