"""Healthcheck pings against a real HTTP server: the client on its own, then every way a
run ends through the real ``aios-run`` code path, then the real console script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios_systemd import ping
from tests.conftest import RunJob, StartJob, read_state
from tests.monitoring.server import UUID, Checks, ping_server
from tests.support.testjobs import OUTCOMES
from tests.trend_finder.project import AIOS_RUN, make_project

RID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NAME = "AIOS_PING_URL_OK"


@pytest.fixture
def checks() -> Iterator[Checks]:
    with ping_server() as server:
        yield server


def _env(job: str, url: str) -> dict[str, str]:
    return {"AIOS_PING_URL_" + job.upper().replace("-", "_"): url}


def _no_url_in(*texts: str) -> None:
    for text in texts:
        assert UUID not in text and "127.0.0.1:" not in text


# -- the client ---------------------------------------------------------------------------


def test_start_and_exit_status_share_one_rid_and_carry_only_the_summary(checks: Checks) -> None:
    pinger = ping.Pinger(NAME, ping.check_url(NAME, checks.url() + "/"))
    assert pinger.start() is None
    body = ping.summary_line("ok", "success", 1234, 0)
    assert body == "ok: success · 1.2s · exit 0"
    assert pinger.finish(0, body) is None
    start, end = checks.of("ok")
    assert (start.method, start.kind, start.body) == ("POST", "start", b"")
    assert (end.method, end.kind, end.body.decode()) == ("POST", "0", body)
    assert start.rid == end.rid == pinger.rid and RID.fullmatch(pinger.rid)
    assert end.headers["content-type"].startswith("text/plain")
    assert end.headers["user-agent"].startswith("aios-systemd/")
    assert NAME in repr(pinger) and UUID not in repr(pinger)


def test_each_run_has_its_own_rid(checks: Checks) -> None:
    rids = {ping.Pinger(NAME, checks.url()).rid for _ in range(50)}
    assert len(rids) == 50 and all(RID.fullmatch(r) for r in rids)


def test_a_redirect_to_another_host_is_refused(checks: Checks) -> None:
    with ping_server("127.0.0.2") as other:
        checks.redirect_to = other.base
        warning = ping.Pinger(NAME, checks.url("elsewhere")).start()
        assert other.pings == [], "the other host must get nothing"
    assert warning is not None and "a redirect to another host, not followed" in warning
    assert warning.startswith(f"{NAME}: the start ping failed (HTTP 302") and "outcome is unchanged" in warning
    _no_url_in(warning)


def test_a_redirect_on_the_same_host_keeps_the_post_and_its_body(checks: Checks) -> None:
    assert ping.Pinger(NAME, checks.url("moved")).finish(1, "moved: failed · 0.1s · exit 1") is None
    first, followed = checks.of("moved")
    assert (followed.method, followed.kind) == ("POST", "1")
    assert followed.body.decode() == "moved: failed · 0.1s · exit 1"
    assert followed.rid == first.rid


def test_a_slow_endpoint_costs_the_timeout_and_is_a_warning(checks: Checks) -> None:
    started = time.monotonic()
    warning = ping.Pinger(NAME, checks.url("slow"), timeout=0.5).finish(0, "x")
    assert time.monotonic() - started < 2.5
    assert warning == f"{NAME}: the exit-status (0) ping failed (no answer within 0.5s); the run's outcome is unchanged"


def test_a_rejected_ping_is_a_warning_and_a_busy_server_gets_one_more_try(checks: Checks) -> None:
    warning = ping.Pinger(NAME, checks.url("missing")).start()
    assert warning is not None and "(HTTP 404)" in warning and len(checks.of("missing")) == 1
    assert ping.Pinger(NAME, checks.url("flaky")).start() is None
    assert [p.kind for p in checks.of("flaky")] == ["start", "start"]


def test_nobody_listening_is_a_warning(checks: Checks) -> None:
    warning = ping.Pinger(NAME, "http://127.0.0.1:9/" + UUID).start()
    assert warning is not None and "(could not connect: ConnectionRefusedError)" in warning
    _no_url_in(warning)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hc-ping.com/" + UUID,
        "file:///etc/passwd",
        "hc-ping.com/" + UUID,
        "https://user:pw@hc-ping.com/" + UUID,
        "https://hc-ping.com/" + UUID + "?x=1",
        "https:///" + UUID,
        "https://hc-ping.com:port/" + UUID,
    ],
)
def test_only_plain_http_urls_are_pinged(url: str) -> None:
    with pytest.raises(ping.PingUrlError) as caught:
        ping.check_url(NAME, url)
    assert str(caught.value).startswith(NAME) and UUID not in str(caught.value)


# -- through the runner -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "code", "state"),
    [*OUTCOMES, ("hang", 124, "timeout")],
)
def test_a_run_pings_start_then_its_exit_code(
    run_testjob: RunJob, roots: dict[str, Path], checks: Checks, job: str, code: int, state: str
) -> None:
    out = run_testjob(job, env=_env(job, checks.url()))
    assert out.returncode == code, out.stdout + out.stderr
    start, end = checks.pings
    assert (start.kind, end.kind) == ("start", str(code))
    assert start.rid == end.rid and RID.fullmatch(start.rid or "")
    body = end.body.decode()
    assert re.fullmatch(rf"{job}: {state} · \d+\.\ds · exit {code}", body), body
    doc = read_state(roots, job)
    assert doc["state"] == state and doc["exitCode"] == code
    assert not any("ping" in str(w) for w in doc["warnings"])  # type: ignore[attr-defined]


def test_the_url_can_live_in_env_local_and_shows_up_nowhere(
    run_testjob: RunJob, roots: dict[str, Path], checks: Checks
) -> None:
    (roots["project"] / ".env.local").write_text(f"{NAME}={checks.url()}\n")
    out = run_testjob("ok", "--json")
    assert out.returncode == 0, out.stderr
    assert [p.kind for p in checks.pings] == ["start", "0"]
    log = (roots["scheduler"] / "logs" / "ok.jsonl").read_text()
    events = [json.loads(line) for line in log.splitlines()]
    assert [(e["kind"], e["sent"]) for e in events if e["event"] == "ping"] == [("start", True), ("exit-status", True)]
    _no_url_in(out.stdout, out.stderr, log, (roots["scheduler"] / "state" / "ok.json").read_text())


def test_a_failed_ping_is_a_warning_that_changes_nothing_else(
    run_testjob: RunJob, roots: dict[str, Path], checks: Checks
) -> None:
    out = run_testjob("ok", env=_env("ok", checks.url("missing")))
    assert out.returncode == 0, out.stderr
    doc = read_state(roots, "ok")
    assert doc["state"] == "success" and doc["exitCode"] == 0
    assert doc["warnings"] == [
        f"{NAME}: the start ping failed (HTTP 404); the run's outcome is unchanged",
        f"{NAME}: the exit-status (0) ping failed (HTTP 404); the run's outcome is unchanged",
    ]
    assert "ok: success" in out.stdout and f"warning: {NAME}: the start ping failed" in out.stdout
    log = (roots["scheduler"] / "logs" / "ok.jsonl").read_text()
    _no_url_in(out.stdout, out.stderr, log, json.dumps(doc))


def test_a_url_that_is_no_http_url_is_a_warning_and_nothing_is_sent(
    run_testjob: RunJob, roots: dict[str, Path]
) -> None:
    out = run_testjob("ok", env=_env("ok", "file:///" + UUID))
    assert out.returncode == 0, out.stderr
    doc = read_state(roots, "ok")
    assert doc["state"] == "success"
    assert doc["warnings"] == [f"{NAME} is not an http(s) URL; no ping was sent"]


def test_a_blocked_attempt_sends_nothing(run_testjob: RunJob, start_testjob: StartJob, checks: Checks) -> None:
    env = {**_env("slow", checks.url()), "AIOS_TEST_SLOW": "3"}
    first = start_testjob("slow", env)
    try:
        deadline = time.monotonic() + 20
        while not checks.pings and time.monotonic() < deadline:
            time.sleep(0.05)
        blocked = run_testjob("slow", env=env)
        assert blocked.returncode == 75, blocked.stdout + blocked.stderr
        assert [p.kind for p in checks.pings] == ["start"]
    finally:
        first.communicate(timeout=30)
    assert first.returncode == 0
    start, end = checks.pings
    assert (start.kind, end.kind) == ("start", "0") and start.rid == end.rid


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_pings_its_stop_exit_code(
    start_testjob: StartJob, roots: dict[str, Path], checks: Checks, sig: signal.Signals, code: int
) -> None:
    pidfile = roots["tmp"] / "pids"
    child = start_testjob("pidfile", {**_env("pidfile", checks.url()), "AIOS_TEST_PIDFILE": str(pidfile)})
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, sig)
    child.communicate(timeout=30)
    assert child.returncode == code
    assert [p.kind for p in checks.pings] == ["start", str(code)]
    assert checks.pings[1].body.decode().startswith("pidfile: failed · ")
    assert read_state(roots, "pidfile")["exitCode"] == code


# -- the real console script --------------------------------------------------------------


def test_the_real_aios_run_pings_and_loads_no_ping_code_without_a_url(tmp_path: Path, checks: Checks) -> None:
    project = make_project(tmp_path)
    project.write_env_local({"AIOS_PING_URL_TREND_FINDER": checks.url()})
    out = project.run("trend-finder")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [p.kind for p in checks.pings] == ["start", "0"]
    assert re.fullmatch(r"trend-finder: skipped · \d+\.\ds · exit 0", checks.pings[1].body.decode())
    _no_url_in(out.stdout, out.stderr, *project.private_texts().values())

    def imported(env_local: dict[str, str]) -> set[str]:
        project.write_env_local(env_local)
        traced = subprocess.run(
            [sys.executable, "-X", "importtime", str(AIOS_RUN), "trend-finder", "--project-root", str(project.root)],
            env=project.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert traced.returncode == 0, traced.stdout + traced.stderr
        return {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if "|" in line}

    quiet = imported({})
    for module in ("aios_systemd.ping", "aios_systemd.settings", "urllib.request", "prometheus_client"):
        assert module not in quiet
    assert "aios_systemd.ping" in imported({"AIOS_PING_URL_TREND_FINDER": checks.url()})


def test_a_failure_ping_goes_to_fail_without_a_rid(checks: Checks) -> None:
    """A failure outside a run (the notify unit's): ``<url>/fail``, the one summary line."""
    body = "agent-aggregate: ai-os-agent-aggregate.service failed (200/CHDIR)"
    assert ping.Pinger(NAME, checks.url()).fail(body) is None
    (only,) = checks.of("ok")
    assert (only.method, only.kind, only.rid, only.body.decode()) == ("POST", "fail", None, body)
    warning = ping.Pinger(NAME, checks.url("missing")).fail(body)
    assert warning == f"{NAME}: the failure ping failed (HTTP 404)"
