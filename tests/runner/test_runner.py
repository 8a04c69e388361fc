"""The runner on real processes: outcomes, exit codes, overlap, stale locks, timeouts, signals."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aios_systemd import state as state_mod
from aios_systemd.context import Context
from aios_systemd.errors import UsageError
from aios_systemd.outcomes import RunState
from aios_systemd.runner.run import run_job
from tests.conftest import read_state
from tests.support.testjobs import OUTCOMES, TEST_HANDLERS, TEST_REGISTRY


@pytest.mark.parametrize(("job", "code", "state"), OUTCOMES)
def test_outcomes_and_exit_codes(run_testjob, roots, job: str, code: int, state: str) -> None:
    proc = run_testjob(job)
    assert proc.returncode == code, proc.stderr
    doc = read_state(roots, job)
    assert doc["state"] == state
    assert doc["exitCode"] == code
    assert doc["schemaVersion"] == 1
    assert doc["trigger"] == "manual"
    assert doc["lockOutcome"] == "acquired"
    assert doc["durationMs"] is not None and doc["finishedAt"]
    assert str(doc["runId"])[:8].isdigit()


def test_unknown_and_unavailable_jobs_exit_2_before_anything_runs(run_testjob, roots) -> None:
    unknown = run_testjob("nope")
    assert unknown.returncode == 2
    assert "unknown job id" in unknown.stderr and "hint: use one of: ok" in unknown.stderr
    retired = run_testjob("retired")
    assert retired.returncode == 2 and "unavailable" in retired.stderr
    missing = run_testjob("no-handler")
    assert missing.returncode == 2 and "no handler" in missing.stderr
    assert not roots["scheduler"].exists(), "a refused job must not create scheduler state"


def test_private_modes(run_testjob, roots) -> None:
    assert run_testjob("ok").returncode == 0
    sched = roots["scheduler"]
    for d in (sched, sched / "state", sched / "locks", sched / "logs"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in (sched / "state" / "ok.json", sched / "logs" / "ok.jsonl"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    lines = (sched / "logs" / "ok.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events[0] == "start" and events[-1] == "finish"


def test_trigger_source_is_reviewed(run_testjob, roots) -> None:
    run_testjob("ok", env={"AI_OS_SCHEDULER_TRIGGER_SOURCE": "systemd"})
    assert read_state(roots, "ok")["trigger"] == "systemd"
    run_testjob("ok", env={"AI_OS_SCHEDULER_TRIGGER_SOURCE": "$(rm -rf ~)"})
    assert read_state(roots, "ok")["trigger"] == "unknown"


def test_overlap_blocks_second_run_with_75(run_testjob, base_env, roots) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "slow"],
        env={**base_env, "AIOS_TEST_SLOW": "4"},
        cwd=roots["project"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (roots["scheduler"] / "locks" / "slow.holder.json").exists():
                break
            time.sleep(0.05)
        second = run_testjob("slow")
        assert second.returncode == 75, second.stderr
        blocked = json.loads((roots["scheduler"] / "state" / "slow.blocked.json").read_text())
        assert blocked["state"] == "blocked" and blocked["lockOutcome"] == "held"
        assert blocked["blockedBy"]
        # The live run's record is never overwritten by the attempt it blocked.
        assert read_state(roots, "slow")["state"] == "running"
    finally:
        assert first.wait(30) == 0
    assert read_state(roots, "slow")["state"] == "success"


def _wait_for_pids(pidfile: Path, count: int, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists():
            pids = [int(x) for x in pidfile.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.05)
    raise AssertionError("processes did not report their pids")


def _start_pidfile_job(base_env: dict[str, str], roots: dict[str, Path]) -> tuple[subprocess.Popen[bytes], int]:
    """The ``pidfile`` test job under a real runner, once its handler is up: (runner, handler pid)."""
    pidfile = roots["tmp"] / "pids"
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "pidfile"],
        env={**base_env, "AIOS_TEST_PIDFILE": str(pidfile)},
        cwd=roots["project"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return runner, _wait_for_pids(pidfile, 1)[0]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_sigkilled_runner_leaves_a_stale_lock_that_the_next_run_recovers(run_testjob, base_env, roots) -> None:
    pidfile = roots["tmp"] / "pids"
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "pidfile"],
        env={**base_env, "AIOS_TEST_PIDFILE": str(pidfile)},
        cwd=roots["project"],
    )
    handler_pid = _wait_for_pids(pidfile, 1)[0]
    assert read_state(roots, "pidfile")["state"] == "running"
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    # The handler dies with its runner (parent-death signal), so it cannot hold the lock.
    deadline = time.monotonic() + 5
    while _alive(handler_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(handler_pid)
    proc = run_testjob("ok")  # another job is unaffected
    assert proc.returncode == 0
    # Rerun the killed job with a quick handler: swap in "ok"'s behaviour via the same id.
    again = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.support import testjobs as t; t.TEST_HANDLERS['pidfile'] = t.ok; "
            "sys.exit(t.main(['pidfile']))",
        ],
        env=base_env,
        cwd=roots["project"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    doc = read_state(roots, "pidfile")
    assert doc["state"] == "stale-lock"
    assert doc["lockOutcome"] == "recovered-stale"


def test_timeout_kills_the_whole_tree_including_escapees(run_testjob, roots) -> None:
    pidfile = roots["tmp"] / "tree-pids"
    started = time.monotonic()
    proc = run_testjob("tree", env={"AIOS_TEST_PIDFILE": str(pidfile)})
    assert proc.returncode == 124, proc.stderr
    assert time.monotonic() - started < 20
    pids = [int(x) for x in pidfile.read_text().split()]
    assert len(pids) >= 5  # handler, sh, its child, the setsid'd shell and its child
    survivors = [p for p in pids if _alive(p)]
    assert survivors == []
    doc = read_state(roots, "tree")
    assert doc["state"] == "timeout" and doc["exitCode"] == 124 and doc["reason"] == "timeout"


@pytest.mark.parametrize(
    ("sig", "code", "reason"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_stop_signal_stops_the_tree_and_writes_a_final_state(base_env, roots, sig: int, code: int, reason: str) -> None:
    runner, handler_pid = _start_pidfile_job(base_env, roots)
    runner.send_signal(sig)
    assert runner.wait(20) == code
    assert not _alive(handler_pid)
    doc = read_state(roots, "pidfile")
    assert doc["state"] == "failed" and doc["reason"] == reason and doc["exitCode"] == code
    assert not (roots["scheduler"] / "locks" / "pidfile.holder.json").exists()


def test_a_stop_that_also_kills_the_handler_is_still_recorded_as_a_stop(base_env, roots) -> None:
    """systemd stopping a unit signals every process at once; the handler died of its
    SIGTERM first and the run was recorded as failed/no-result with exit 1 (found by the
    reliability campaign)."""
    runner, handler_pid = _start_pidfile_job(base_env, roots)
    runner.send_signal(signal.SIGTERM)
    os.kill(handler_pid, signal.SIGTERM)
    assert runner.wait(20) == 143
    doc = read_state(roots, "pidfile")
    assert doc["state"] == "failed" and doc["reason"] == "terminated" and doc["exitCode"] == 143


def test_corrupt_state_reads_unreadable_and_next_run_replaces_it(run_testjob, roots) -> None:
    run_testjob("ok")
    path = roots["scheduler"] / "state" / "ok.json"
    path.write_text('{"schemaVersion": 1, "job": "ok", "state": "succ')
    ctx = Context.from_environ(
        {"AIOS_SCHEDULER_ROOT": str(roots["scheduler"]), "HOME": str(roots["tmp"])}, project_root=roots["project"]
    )
    assert state_mod.read(ctx, "ok").state is RunState.UNREADABLE_STATE
    path.write_text(json.dumps({"schemaVersion": 99, "job": "ok", "state": "success"}))
    assert state_mod.read(ctx, "ok").state is RunState.UNREADABLE_STATE
    assert run_testjob("ok").returncode == 0
    assert state_mod.read(ctx, "ok").state is RunState.SUCCESS


def test_symlinked_state_file_is_never_written_through(run_testjob, roots) -> None:
    run_testjob("ok")
    target = roots["tmp"] / "elsewhere.txt"
    target.write_text("precious")
    path = roots["scheduler"] / "state" / "ok.json"
    path.unlink()
    path.symlink_to(target)
    proc = run_testjob("ok")
    assert proc.returncode != 0
    assert "symlink" in proc.stderr and "hint:" in proc.stderr
    assert str(target) not in proc.stderr
    assert target.read_text() == "precious"


def test_symlinked_scheduler_root_is_refused(run_testjob, roots) -> None:
    real = roots["tmp"] / "real"
    real.mkdir()
    roots["scheduler"].symlink_to(real)
    proc = run_testjob("ok")
    assert proc.returncode == 2 and "symlink" in proc.stderr
    assert list(real.iterdir()) == []


def test_in_process_run_returns_structured_record(roots) -> None:
    ctx = Context.from_environ(
        {"AIOS_SCHEDULER_ROOT": str(roots["scheduler"]), "HOME": str(roots["tmp"])}, project_root=roots["project"]
    )
    out = run_job(ctx, "warn", registry=TEST_REGISTRY, handlers=TEST_HANDLERS)
    assert out.record.state is RunState.WARNING_ONLY
    assert out.record.warnings == ("source A answered slowly",)
    with pytest.raises(UsageError):
        run_job(ctx, "nope", registry=TEST_REGISTRY, handlers=TEST_HANDLERS)


def test_log_is_bounded(roots) -> None:
    from aios_systemd.privacy import Privacy
    from aios_systemd.runlog import RunLog

    roots["scheduler"].mkdir(mode=0o700)
    path = roots["scheduler"] / "x.jsonl"
    log = RunLog(path, "r", "x", Privacy(secrets=(), home=None, users=()))
    for _ in range(400):
        log.event("noise", text="y" * 4000)
    total = sum(p.stat().st_size for p in roots["scheduler"].glob("x.jsonl*"))
    assert total <= 2 * (1 << 20) + 20000
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_concurrent_runs_one_runs_rest_blocked(base_env, roots) -> None:
    env = {**base_env, "AIOS_TEST_SLOW": "8"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.testjobs", "slow"],
            env=env,
            cwd=roots["project"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(12)
    ]
    codes = sorted(p.wait(60) for p in procs)
    assert codes.count(0) == 1 and codes.count(75) == len(procs) - 1
    assert read_state(roots, "slow")["state"] == "success"
    for line in (roots["scheduler"] / "logs" / "slow.jsonl").read_text().splitlines():
        json.loads(line)


def test_a_handler_forked_after_the_runner_died_does_not_run(tmp_path: Path) -> None:
    """A runner SIGKILLed between fork and the child's PR_SET_PDEATHSIG left its handler
    running with the job lock's fd, blocking every later run (found by the reliability
    campaign).  The child now checks its parent once the signal is armed."""
    import os

    from aios_systemd.runner import run as run_mod

    marker = tmp_path / "ran"

    def handler(_rc: object) -> object:
        marker.write_text("ran")
        return None

    result_r, result_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child always leaves through os._exit
        unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        run_mod._child(None, handler, result_w, out_w, os.getppid() + 1_000_000, unblocked)  # type: ignore[arg-type]
    for fd in (result_w, out_w):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    for fd in (result_r, out_r):
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 70
    assert not marker.exists()


def test_running_record_keeps_the_previous_run_summary(run_testjob, base_env, roots) -> None:
    assert run_testjob("slow", env={"AIOS_TEST_SLOW": "0"}).returncode == 0
    finished = read_state(roots, "slow")
    second = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "slow"],
        env={**base_env, "AIOS_TEST_SLOW": "3"},
        cwd=roots["project"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        doc = read_state(roots, "slow")
        while doc["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            doc = read_state(roots, "slow")
        assert doc["state"] == "running"
        assert doc["previous"] == {
            "state": "success",
            "runId": finished["runId"],
            "finishedAt": finished["finishedAt"],
            "exitCode": 0,
            "warningCount": 0,
        }
    finally:
        assert second.wait(30) == 0
    assert read_state(roots, "slow")["previous"] is None


def test_a_missing_project_root_is_refused_not_created(run_testjob, roots) -> None:
    missing = roots["tmp"] / "no-such-checkout"
    proc = run_testjob("ok", "--project-root", str(missing))
    assert proc.returncode == 2 and "project root does not exist" in proc.stderr and "hint:" in proc.stderr
    assert not missing.exists()


def test_a_failed_run_says_how_to_fix_it_and_status_repeats_it(run_testjob, roots) -> None:
    from tests.status.test_status import _status_testjobs

    crashed = run_testjob("crash")
    assert crashed.returncode == 1
    hint = "hint: the handler crashed; 'aios-units logs crash' shows its error; rerun: aios-run crash"
    # The summary stays on stdout for scripts; the error and its fix go to stderr, once.
    assert "crash: failed" in crashed.stdout and "exit 1" in crashed.stdout and "hint:" not in crashed.stdout
    assert crashed.stderr.splitlines()[-2:] == ["error: crash: failed, exit 1 (reason handler-crash)", hint]
    steps = _status_testjobs(roots, "crash")["nextSteps"]
    assert isinstance(steps, list)
    # The reason's fix comes first, then the state's usual response.
    assert steps[:2] == [
        "The handler crashed; 'aios-units logs crash' shows its error; rerun: aios-run crash",
        "Check local config and rerun: aios-run crash",
    ]
    # --json carries the same fix; a run without a reason that has one carries null.
    as_json = json.loads(run_testjob("crash", "--json").stdout)
    assert as_json["hint"] == hint.removeprefix("hint: ") and as_json["state"] == "failed"
    assert json.loads(run_testjob("ok", "--json").stdout)["hint"] is None
    # A reason without a more specific fix keeps its state's usual response only.
    failed = run_testjob("fail")
    assert "hint:" not in failed.stdout
    assert failed.stderr.splitlines()[-1] == "hint: Check local config and rerun: aios-run fail"
    assert run_testjob("ok").stderr == ""
    # --json: the record on stdout, the error on stderr all the same.
    assert "error: crash: failed, exit 1" in run_testjob("crash", "--json").stderr
    assert _status_testjobs(roots, "fail")["nextSteps"] == ["Check local config and rerun: aios-run fail"]
