"""aios-run's event lines: journald priorities under systemd, quiet when piped."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path


def _journal_run(job: str, base_env: dict[str, str], cwd: Path, **extra: str) -> tuple[str, str]:
    """Run a test job with stdout and stderr on one pipe that ``JOURNAL_STREAM`` names, as
    systemd connects a service to the journal; returns (that stream's text, the stream
    name)."""
    read_end, write_end = os.pipe()
    st = os.fstat(write_end)
    stream = f"{st.st_dev}:{st.st_ino}"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.testjobs", job],
            env={**base_env, "JOURNAL_STREAM": stream, **extra},
            cwd=cwd,
            stdout=write_end,
            stderr=write_end,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read().decode()
    proc.wait(60)
    return out, stream


def test_journald_lines_carry_priorities(base_env: dict[str, str], roots: dict[str, Path]) -> None:
    cwd = roots["project"]
    lines = _journal_run("ok", base_env, cwd)[0].splitlines()
    assert lines[0].startswith("<6>ok: started run ") and lines[-1].startswith("<6>ok: success in ")
    warn = _journal_run("warn", base_env, cwd)[0].splitlines()
    assert "<4>warn: warning: source A answered slowly" in warn and warn[-1].startswith("<5>warn: warning-only")
    fail = _journal_run("fail", base_env, cwd)[0]
    assert fail.splitlines()[-1].startswith("<3>fail: failed (collector-failed)")
    crash = _journal_run("crash", base_env, cwd)[0].splitlines()
    assert crash[-2].startswith("<3>crash: failed (handler-crash)")
    assert crash[-1].startswith("<5>crash: hint: the handler crashed; ")  # the fix, in the journal too
    unknown = _journal_run("nope", base_env, cwd)[0]
    assert unknown.startswith("<3>error: unknown job id") and "<3>hint:" in unknown


def test_an_inherited_journal_stream_is_not_the_journal(
    base_env: dict[str, str], roots: dict[str, Path], run_testjob
) -> None:
    """A GNOME Terminal shell inherits INVOCATION_ID and JOURNAL_STREAM from the terminal's
    service while its output is a terminal or a pipe: no priority prefixes there."""
    inherited = {"INVOCATION_ID": "2969c9da2c4efd8d417bf7170c796999", "JOURNAL_STREAM": "8:31457"}
    for job in ("ok", "warn", "nope"):
        done = run_testjob(job, env=inherited)
        for line in (done.stdout + done.stderr).splitlines():
            assert not re.match(r"<[0-7]>", line), line
    # The right device with another inode (or garbage) is not the stream either.
    _, stream = _journal_run("ok", base_env, roots["project"])
    dev, ino = stream.split(":")
    for wrong in (f"{dev}:{int(ino) + 1}", f"{dev}", ":", "x:y", f"{dev}:{ino}:0", "9" * 30 + ":1"):
        assert not _journal_run("ok", base_env, roots["project"], JOURNAL_STREAM=wrong)[0].startswith("<")


def test_is_journal_compares_device_and_inode() -> None:
    from aios_systemd.cli.common import is_journal

    with open(os.devnull, "w") as devnull:
        st = os.fstat(devnull.fileno())
        assert is_journal(devnull, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not is_journal(devnull, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not is_journal(devnull, {"INVOCATION_ID": "x"})
    assert not is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:1"})


def test_piped_output_is_one_summary_without_escapes(run_testjob) -> None:
    out = run_testjob("ok").stdout
    assert out.startswith("ok: success") and "\x1b" not in out and "\r" not in out


def test_terminal_reporter_shows_elapsed_and_respects_no_color() -> None:
    from aios_systemd.cli.progress import TerminalReporter

    plain = io.StringIO()
    rep = TerminalReporter(plain, color=False)
    rep("start", {"job": "slow"})
    rep("tick", {"elapsedSeconds": 0.5})
    assert plain.getvalue() == ""
    rep("tick", {"elapsedSeconds": 12.2})
    rep("finish", {})
    assert "slow running 12s" in plain.getvalue() and "\x1b[2m" not in plain.getvalue()
    colored = io.StringIO()
    rep = TerminalReporter(colored, color=True)
    rep("start", {"job": "slow"})
    rep("tick", {"elapsedSeconds": 3})
    assert "\x1b[2m" in colored.getvalue()
