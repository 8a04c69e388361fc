"""aios-run's event lines: journald priorities under systemd, quiet when piped."""

from __future__ import annotations

import io


def test_journald_lines_carry_priorities(run_testjob) -> None:
    ok = run_testjob("ok", env={"INVOCATION_ID": "0123456789abcdef"})
    lines = ok.stdout.splitlines()
    assert lines[0].startswith("<6>ok: started run ") and lines[-1].startswith("<6>ok: success in ")
    warn = run_testjob("warn", env={"JOURNAL_STREAM": "8:123"}).stdout.splitlines()
    assert "<4>warn: warning: source A answered slowly" in warn and warn[-1].startswith("<5>warn: warning-only")
    fail = run_testjob("fail", env={"INVOCATION_ID": "x"})
    assert fail.stdout.splitlines()[-1].startswith("<3>fail: failed (collector-failed)")
    crash = run_testjob("crash", env={"INVOCATION_ID": "x"}).stdout.splitlines()
    assert crash[-2].startswith("<3>crash: failed (handler-crash)")
    assert crash[-1].startswith("<5>crash: hint: the handler crashed; ")  # the fix, in the journal too
    unknown = run_testjob("nope", env={"INVOCATION_ID": "x"})
    assert unknown.stderr.startswith("<3>error: unknown job id") and "<3>hint:" in unknown.stderr


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
