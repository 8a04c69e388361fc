"""``aios-units logs``: a job's runs, each line with its run id, from its private run log
(every run) and, where there is one, a real journal (a real ``systemd-journald`` in the
private manager's namespace).  The test machines run no journald of their own: the
fallback tests below read the private log alone, as such a machine does."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CANARY_EMAIL, CANARY_SECRET
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, UnitsSandbox, units_cli

BIN = Path(sys.executable).parent
JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  (\S+) {2,}(\S.*)$")  # time, run id, text


def _cli(
    env: dict[str, str], *argv: str, wrap: Callable[[list[str]], list[str]] = list
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(wrap([str(BIN / argv[0]), *argv[1:]]), env=env, capture_output=True, text=True, timeout=120)


def _run(env: dict[str, str], job: str = JOB) -> tuple[int, str]:
    done = _cli(env, "aios-run", job)
    found = re.search(r"^run (\S+) \(", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    return done.returncode, found.group(1)


def _parsed(out: str) -> list[tuple[str, str]]:
    """(run id, text) of each line; every line must have the time and run id columns."""
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, line
        rows.append((m.group(2), m.group(3)))
    return rows


def _runs(rows: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(run for run, _ in rows))


# -- the private run log alone (no journal on this machine) --------------------------------
def test_runs_by_hand_newest_last_each_line_with_its_run_id(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    ids = []
    for _ in range(2):
        code, run_id = _run(base_env)
        assert code == 0
        ids.append(run_id)
    data = roots["project"] / "src" / "data" / "live-data.json"
    data.write_text("{not json")  # the writer refuses it: a failed run with a hint
    code, run_id = _run(base_env)
    assert code == 1
    ids.append(run_id)
    data.unlink()

    done = _cli(base_env, "aios-units", "logs", JOB)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    rows = _parsed(done.stdout)
    assert _runs(rows) == ids  # oldest first, newest last
    first = [text for run, text in rows if run == ids[0]]
    assert first[0] == "started (trigger manual, lock acquired, timeout 600s)"
    assert any(t.startswith("collector host: ok") for t in first) and first[-1].startswith("success in ")
    failed = [text for run, text in rows if run == ids[2]]
    assert any(t.startswith("warning: generated data was not written") for t in failed)
    assert any(t.startswith("failed (data-file-unusable) in ") and t.endswith(", exit 1") for t in failed)
    assert failed[-1].startswith("hint: nothing was written;")

    assert _runs(_parsed(_cli(base_env, "aios-units", "logs", JOB, "-n", "2").stdout)) == ids[1:]
    assert _cli(base_env, "aios-units", "logs", JOB, "-n", "0").stdout == ""
    only = _cli(base_env, "aios-units", "logs", JOB, "--run", ids[0])
    assert _runs(_parsed(only.stdout)) == [ids[0]]

    missing = _cli(base_env, "aios-units", "logs", JOB, "--run", "20991231T000000.000Z-000000")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.splitlines() == [
        f"error: no run 20991231T000000.000Z-000000 in the logs of {JOB}",
        f"hint: 'aios-units logs {JOB}' lists its recent runs and their ids",
    ]
    never = _cli(base_env, "aios-units", "logs", "dream")
    assert never.returncode == 0 and never.stdout == "" and never.stderr == "no runs of dream recorded yet\n"
    for argv, hint in ((["nope"], "hint: use one of"), ([JOB, "-n", "x"], "hint: pass -n N")):
        bad = _cli(base_env, "aios-units", "logs", *argv)
        assert bad.returncode == 2 and hint in bad.stderr, bad.stderr


def test_a_crash_shows_its_traceback_and_output_redacted(run_testjob, base_env: dict[str, str]) -> None:
    """What only the private log keeps (a traceback, the handler's output), through the
    privacy layer: the leak job prints and raises every private fact it finds."""
    from aios_systemd.context import Context
    from aios_systemd.runner.logs import Reader

    env = {**base_env, "AIOS_TEST_SECRET_TOKEN": CANARY_SECRET}
    assert run_testjob("leak", env=env).returncode == 1
    found = Reader(Context.from_environ(env), "leak").read()
    assert len(found) == 1
    text = "\n".join(line.show() for line in found[0].lines)
    assert "handler crashed (RuntimeError)" in text and "  Traceback (most recent call last):" in text
    assert "handler output (its last lines):" in text and "failed (handler-crash)" in text
    assert "hint: the handler crashed; 'aios-units logs leak' shows its error" in text
    for private in (CANARY_SECRET, os.environ.get("HOME", "/root"), "operator@example.com"):
        assert private not in text, private


def _write_log(roots: dict[str, Path], job: str, events: list[object], suffix: str = "") -> Path:
    logs = roots["scheduler"] / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = logs / f"{job}.jsonl{suffix}"
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    path.chmod(0o600)
    return path


def _event(run: str, ts: str, event: str, **fields: object) -> dict[str, object]:
    return {"ts": ts, "job": JOB, "runId": run, "event": event, **fields}


def test_a_hand_edited_log_is_redacted_and_one_line_per_line(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    env = {**base_env, "AIOS_TEST_SECRET_TOKEN": CANARY_SECRET}
    run = "20261126T080000.000Z-aaaaaa"
    _write_log(
        roots,
        JOB,
        [
            _event(run, "2026-11-26T08:00:00.000Z", "start", trigger="manual", lockOutcome="acquired"),
            _event(
                run,
                "2026-11-26T08:00:01.000Z",
                "handler-error",
                error="AiosError",
                message=f"token {CANARY_SECRET} at /home/someone/private/file for {CANARY_EMAIL} \x1b[31m"
                "\n<3>forged: a second line",
            ),
            _event(run, "2026-11-26T08:00:02.000Z", "finish", state="failed", exitCode=1, durationMs=2000),
        ],
    )
    done = _cli(env, "aios-units", "logs", JOB)
    assert done.returncode == 0, done.stderr
    rows = _parsed(done.stdout)
    assert [t.split(" ")[0] for _, t in rows] == ["started", "handler", "failed"]
    for private in (CANARY_SECRET, "/home/someone", CANARY_EMAIL, "\x1b", "\n<3>"):
        assert private not in done.stdout, private


def test_field_values_read_as_the_rest_of_the_output_not_as_python(
    base_env: dict[str, str], roots: dict[str, Path]
) -> None:
    """Booleans are yes/no and a null is none, nested ones too: never True, False, None."""
    run = "20261126T080000.000Z-eeeeee"
    _write_log(
        roots,
        JOB,
        [
            _event(
                run, "2026-11-26T08:00:00.000Z", "start", trigger="manual", lockOutcome="acquired", timeoutSeconds=600
            ),
            _event(run, "2026-11-26T08:00:00.100Z", "ping", kind="start", rid=run, sent=True),
            _event(run, "2026-11-26T08:00:00.200Z", "metrics", written=False),
            _event(
                run,
                "2026-11-26T08:00:00.300Z",
                "write",
                scope="host-local",
                outcome="written",
                base={"kept": True, "from": None},
            ),
            _event(run, "2026-11-26T08:00:01.000Z", "finish", state="success", exitCode=0, durationMs=1000),
        ],
    )
    done = _cli(base_env, "aios-units", "logs", JOB)
    assert done.returncode == 0, done.stderr
    texts = [t for _, t in _parsed(done.stdout)]
    assert texts == [
        "started (trigger manual, lock acquired, timeout 600s)",
        f"ping (kind start, rid {run}, sent yes)",
        "metrics (written no)",
        "write host-local: written (base {kept yes, from none})",
        "success in 1.0s, exit 0",
    ], texts
    for python in ("True", "False", "None"):
        assert python not in done.stdout, done.stdout


def test_the_rotated_log_comes_first_and_junk_is_skipped(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    old, new = "20261125T080000.000Z-bbbbbb", "20261126T080000.000Z-cccccc"
    _write_log(roots, JOB, [_event(old, "2026-11-25T08:00:00.000Z", "start"), "not json", "[1]"], ".1")
    _write_log(roots, JOB, [{"ts": 1, "runId": old}, _event(new, "2026-11-26T08:00:00.000Z", "start")])
    done = _cli(base_env, "aios-units", "logs", JOB)
    assert _runs(_parsed(done.stdout)) == [old, new] and done.stderr == ""


def test_a_log_that_is_not_ours_is_skipped_with_a_warning(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    path = _write_log(roots, JOB, [_event("20261126T080000.000Z-dddddd", "2026-11-26T08:00:00.000Z", "start")])
    elsewhere = roots["tmp"] / "planted.jsonl"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    done = _cli(base_env, "aios-units", "logs", JOB)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith("warning: the private run log is a symlink; refusing to follow it, so it is ignored")
    assert str(roots["tmp"]) not in done.stderr
    path.unlink()
    elsewhere.rename(path)
    path.chmod(0o666)  # writable by others: not trusted either
    done = _cli(base_env, "aios-units", "logs", JOB)
    assert done.stdout == "" and "writable by" in done.stderr


class _Follower:
    """``aios-units logs --follow`` in the background; its lines arrive on a queue."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        out = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line.rstrip("\n")) for line in out], daemon=True).start()

    def until(self, predicate: Callable[[str], bool], timeout: float = 30) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                continue
            if predicate(got[-1]):
                return got
        raise AssertionError(f"no such line in {timeout}s; got {got}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


def test_follow_prints_each_new_run_until_ctrl_c(base_env: dict[str, str]) -> None:
    _, before = _run(base_env)
    follower = _Follower([str(BIN / "aios-units"), "logs", JOB, "--follow", "-n", "1"], base_env)
    try:
        assert _parsed(follower.until(lambda line: " success in " in line)[-1])[0][0] == before
        time.sleep(0.5)
        _, after = _run(base_env)
        got = _parsed("\n".join(follower.until(lambda line: " success in " in line)))
        assert {run for run, _ in got} == {after} and got[0][1].startswith("started (trigger manual")
    finally:
        code, err = follower.interrupt()
    assert code == 0 and err == "", err  # Ctrl-C is how --follow ends: quietly, a success


# -- a real journal: systemd-journald in the private manager's namespace -------------------
@pytest.fixture
def journal_sandbox(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[UnitsSandbox]:
    """A manager with a real journald, a project and a scheduler root, the job installed."""
    with safe_directory("project-") as project:
        sb = UnitsSandbox(user_manager_factory(journal=True), project, tmp_path / "scheduler")
        code, out, err = units_cli(sb, capsys, "install", JOB)
        assert code == 0, out + err
        yield sb


def _timer_runs(sb: UnitsSandbox) -> None:
    """The job's service started twice, as its timer starts it: a run, then a start whose
    checkout has moved away (the service fails before aios-run: 200/CHDIR)."""
    with sb.pm.connect() as mgr:
        mgr.wait_job(mgr.start(SERVICE), timeout=60)
        moved = sb.project.with_name(sb.project.name + "-moved")
        sb.project.rename(moved)
        try:
            mgr.wait_job(mgr.start(SERVICE), timeout=60)
        finally:
            moved.rename(sb.project)


def _wait_logs(sb: UnitsSandbox, predicate: Callable[[str], bool], *argv: str) -> str:
    deadline = time.monotonic() + 30
    out = ""
    while time.monotonic() < deadline:
        done = _cli(sb.env, "aios-units", "logs", JOB, *argv, wrap=sb.pm.in_namespace)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        if predicate(out):
            return out
        time.sleep(0.2)
    raise AssertionError(f"the journal never showed it:\n{out}")


@pytest.mark.user_manager
def test_the_journal_adds_what_the_manager_saw(journal_sandbox: UnitsSandbox, tmp_path: Path) -> None:
    sb = journal_sandbox
    _timer_runs(sb)
    raw = subprocess.run(
        sb.pm.in_namespace(["journalctl", f"--user-unit={SERVICE}", "--no-pager"]), capture_output=True, text=True
    )
    assert "agent-aggregate: started run" in raw.stdout, raw.stdout + sb.pm.output()  # journald has them

    out = _wait_logs(sb, lambda o: "status=200/CHDIR" in o)
    rows = _parsed(out)
    runs = _runs(rows)
    assert len(runs) == 2 and runs[1] == "-", out
    timer_run = [t for r, t in rows if r == runs[0]]
    # The private log's lines (not the journal's copies of them), one run id for all.
    assert timer_run[0] == "started (trigger systemd, lock acquired, timeout 600s)", out
    assert timer_run[-1].startswith("success in ") and not any("started run" in t for t in timer_run)
    failure = [t for r, t in rows if r == "-"]
    assert any("Failed at step CHDIR" in t for t in failure), out + raw.stdout
    assert any("Failed with result" in t for t in failure), out
    assert not any(t.startswith("Starting ") for _, t in rows)  # the manager's info lines stay out
    for private in (str(sb.project), str(BIN), str(tmp_path)):
        assert private not in out, private

    # Without the private log (another scheduler root, or rotated away) the journal's
    # own lines of the run are shown, with the run id they name.
    (sb.scheduler_root / "logs" / f"{JOB}.jsonl").unlink()
    rows = _parsed(_wait_logs(sb, lambda o: "started run" in o))
    journal_run = [t for r, t in rows if r == runs[0]]
    assert journal_run[0].startswith(f"{JOB}: started run {runs[0]} (trigger systemd"), rows
    assert journal_run[-1].startswith(f"{JOB}: success in "), rows
    assert _runs(_parsed(_wait_logs(sb, bool, "--run", runs[0]))) == [runs[0]]


@pytest.mark.user_manager
def test_follow_reads_the_journal_as_it_grows(journal_sandbox: UnitsSandbox) -> None:
    sb = journal_sandbox
    follower = _Follower(sb.pm.in_namespace([str(BIN / "aios-units"), "logs", JOB, "--follow"]), sb.env)
    try:
        time.sleep(1)
        _timer_runs(sb)
        got = _parsed("\n".join(follower.until(lambda line: "Failed with result" in line)))
    finally:
        code, err = follower.interrupt()
    assert code == 0 and "error" not in err, err
    assert got[0][1] == "started (trigger systemd, lock acquired, timeout 600s)"
    assert got[-1][0] == "-" and any("status=200/CHDIR" in t for _, t in got)


@pytest.mark.user_manager
def test_journal_entries_as_journalctl_writes_them(user_manager_factory: Callable[..., PrivateManager]) -> None:
    """Real ``journalctl --output=json`` output: binary messages (as byte arrays), priority
    prefixes, the manager's lines and the service's, each with its invocation."""
    from aios_systemd.units import journal

    pm = user_manager_factory(journal=True)
    unit = "ai-os-dream.service"
    (pm.unit_dir / unit).write_text(
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c \"printf '<4>bad \\\\377 byte\\\\n'; exit 3\"\n"
    )
    with pm.connect() as mgr:
        mgr.reload()
        mgr.wait_job(mgr.start(unit), timeout=60)
    argv = ["journalctl", f"--user-unit={unit}", "--output=json", "--output-fields=" + ",".join(journal.FIELDS)]
    deadline = time.monotonic() + 30
    while True:
        entries = journal.parse(subprocess.run(pm.in_namespace(argv), capture_output=True, timeout=60).stdout, unit)
        if any("Failed with result" in e.message for e in entries) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    output = [e for e in entries if e.output]
    assert [e.message for e in output] == ["bad \ufffd byte"] and output[0].priority == 4
    assert output[0].pid is not None
    manager = [e for e in entries if not e.output]
    assert manager and all(e.invocation and len(e.invocation) == 32 for e in manager)
    assert len({e.invocation for e in manager}) == 1 and all(e.usec > 0 and e.cursor for e in entries)
