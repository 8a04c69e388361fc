"""SIGTERM at any moment of ``aios-run``: no ``running`` state and no held lock survive;
from the moment ``running`` is written the run ends with exit 143 and a final state; a
run stopped after its handler wrote the generated data says so."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aios_systemd import stops
from aios_systemd.context import Context
from aios_systemd.locks import RunLock, holder_path
from aios_systemd.runner.run import WRITTEN_BEFORE_STOP, Stopped, run_job
from aios_systemd.status import model as status_model
from tests.conftest import read_state
from tests.reliability.common import Attempt
from tests.reliability.sigterm import MODES, Worker
from tests.support.testjobs import TEST_HANDLERS, TEST_REGISTRY

ROOT = Path(__file__).resolve().parents[2]
TRIES = int(os.environ.get("AIOS_TEST_SIGTERM_TRIES", "40"))


def test_sigterm_at_random_moments_of_a_real_aios_run(tmp_path: Path) -> None:
    """The real console script and the real agent-aggregate job, SIGTERMed right at start
    (before or just after the handlers exist), at random over the run, just after
    ``running`` is written and around the end; the invariants of every try are those of the
    campaign's ``sigterm`` scenario (tests/reliability/sigterm.py)."""
    worker = Worker(tmp_path)
    baseline = min(worker.baseline() for _ in range(3))
    rng = random.Random(20261126)
    seen: dict[str, int] = {}
    for i in range(TRIES):
        a = Attempt()
        worker.one(a, random.Random(rng.random()), MODES[i % len(MODES)], baseline)
        assert not a.lost_reasons, (i, a.lost_reasons, a.info)
        for note in a.info:
            seen[note] = seen.get(note, 0) + 1
    # The tries reached both sides of the line (the test would be blind otherwise).
    assert seen.get("stopped mid-run: failed/terminated recorded", 0) >= TRIES // 4, seen


def test_a_stop_before_anything_is_recorded_ends_the_attempt_there(tmp_path: Path) -> None:
    ctx = Context.from_environ(
        {"HOME": str(tmp_path), "AIOS_SCHEDULER_ROOT": str(tmp_path / "s")}, project_root=tmp_path
    )
    replaced = stops.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # noted, not acted on
        with pytest.raises(Stopped) as stopped:
            run_job(ctx, "ok", registry=TEST_REGISTRY, handlers=TEST_HANDLERS)
    finally:
        stops.restore(replaced)
    assert stopped.value.exit_code == 143 and "nothing was run or recorded" in stopped.value.message
    assert stopped.value.hint == "rerun when ready: aios-run ok"
    assert not ctx.state_path("ok").exists() and not holder_path(ctx.lock_path("ok")).exists()
    lock = RunLock(ctx.lock_path("ok"), "the job lock")
    assert lock.try_acquire().acquired
    lock.release()
    events = [json.loads(line)["event"] for line in ctx.log_path("ok").read_text().splitlines()]
    assert events == ["stopped-before-start"]


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the file never appeared"
        time.sleep(0.01)


def test_a_run_stopped_after_its_data_write_says_so(base_env, roots) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "write-then-wait"],
        env=base_env,
        cwd=roots["project"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    live = roots["project"] / "src" / "data" / "live-data.json"
    _wait_for(live, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    state = read_state(roots, "write-then-wait")
    assert state["state"] == "failed" and state["reason"] == "terminated" and state["exitCode"] == 143
    written = json.loads(live.read_bytes())["generatedAt"]
    assert WRITTEN_BEFORE_STOP in state["warnings"]  # type: ignore[operator]
    assert state["freshness"] == {"hostLocal": written}
    assert f"warning: {WRITTEN_BEFORE_STOP}" in out  # the run's own output
    # aios-status (its report and human text; the test registry stands in for the real one)
    from aios_systemd.status import render

    ctx = Context.from_environ(base_env, project_root=roots["project"])
    report = status_model.build(ctx, TEST_REGISTRY, ["write-then-wait"], with_timers=False)
    job = report["jobs"][0]
    assert f"warning: {WRITTEN_BEFORE_STOP}" in render.render(report)
    assert WRITTEN_BEFORE_STOP in job["latestRun"]["warnings"]
    assert job["freshness"]["hostLocal"]["generatedAt"] == written


def test_a_run_stopped_before_any_write_says_nothing_of_the_kind(run_testjob, base_env, roots) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.testjobs", "slow"],
        env={**base_env, "AIOS_TEST_SLOW": "30"},
        cwd=roots["project"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = roots["scheduler"] / "state" / "slow.json"
    _wait_for(state, proc)  # type: ignore[arg-type]
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    assert proc.wait(30) == 143
    assert time.monotonic() - t0 < 2.5  # a signal wakes the wait at once, not at its next poll
    doc = read_state(roots, "slow")
    assert doc["state"] == "failed" and WRITTEN_BEFORE_STOP not in doc["warnings"]  # type: ignore[operator]


def test_the_writer_holds_stop_signals_between_the_write_and_its_note(tmp_path: Path) -> None:
    """A process with the default action for SIGTERM (the handler's) that is signalled
    inside the write still says it wrote, and dies of the signal right after."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from aios_systemd.context import Context
        from aios_systemd.data.writer import write_live_data_for_scope
        from aios_systemd.registry import ScopeKind, WriteScope
        from tests.data.support import item
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        ctx = Context.from_environ({{"HOME": {str(tmp_path)!r}, "AIOS_SCHEDULER_ROOT": {str(tmp_path / "s")!r}}},
                                   project_root={str(tmp_path)!r})
        def written(result):
            os.kill(os.getpid(), signal.SIGTERM)  # lands inside the write: held until it returns
            print("noted", result.outcome, flush=True)
        write_live_data_for_scope(ctx, WriteScope(ScopeKind.EXTENSION_ITEM, "demo"), item(1), on_written=written)
        print("never", flush=True)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout == "noted written\n"
    assert (tmp_path / "src" / "data" / "live-data.json").exists()
