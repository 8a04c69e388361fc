"""Failure alerts for failures outside ``aios-run``: the desktop notification against a real
``org.freedesktop.Notifications`` server on a private manager's user bus, then the notify
unit run by a real private ``systemd --user`` through ``OnFailure=``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aios_systemd.units.systemd import notify_desktop, session_bus_address
from tests.monitoring.server import UUID, Checks, ping_server
from tests.support.notifications import NotificationServer, notification_server, session_bus
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, UnitsSandbox, units_cli

pytestmark = pytest.mark.user_manager


@pytest.fixture
def bus(user_manager: PrivateManager) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield session_bus(user_manager.runtime_dir, stack)


@pytest.fixture
def server(bus: str, tmp_path: Path) -> Iterator[NotificationServer]:
    with notification_server(bus, tmp_path) as running:
        yield running


# -- the adapter's one call on the session bus ---------------------------------------------
def test_a_notification_reaches_the_server(user_manager: PrivateManager, server: NotificationServer) -> None:
    assert notify_desktop(user_manager.env, "AI OS job agent-aggregate failed", "why\nand what to do") is None
    (shown,) = server.notifications()
    assert shown["app"] == "aios-systemd" and shown["summary"] == "AI OS job agent-aggregate failed"
    assert shown["body"] == "why\nand what to do" and shown["urgency"] == 2 and shown["expire"] == -1
    assert shown["signature"] == "susssasa{sv}i"


def test_the_session_bus_is_found_without_dbus_session_bus_address(
    user_manager: PrivateManager, server: NotificationServer
) -> None:
    env = {k: v for k, v in user_manager.env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    assert session_bus_address(env) == f"unix:path={user_manager.runtime_dir}/bus".encode()
    assert notify_desktop(env, "s", "b") is None
    assert len(server.notifications()) == 1


def test_no_server_is_no_error(user_manager: PrivateManager, bus: str) -> None:
    started = time.monotonic()
    assert notify_desktop(user_manager.env, "s", "b") == "no notification server answers on the session bus"
    assert time.monotonic() - started < 5


def test_no_session_bus_is_no_error(tmp_path: Path) -> None:
    assert notify_desktop({"XDG_RUNTIME_DIR": str(tmp_path)}, "s", "b") == (
        "there is no session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus)"
    )
    gone = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/nothing"}
    assert notify_desktop(gone, "s", "b") == "the session bus did not answer"


def test_a_server_that_never_answers_costs_the_timeout(user_manager: PrivateManager, bus: str, tmp_path: Path) -> None:
    with notification_server(bus, tmp_path, silent=True) as silent:
        started = time.monotonic()
        assert notify_desktop(user_manager.env, "s", "b", timeout=1) == (
            "the notification server did not answer within 1s"
        )
        assert time.monotonic() - started < 4
        assert len(silent.calls()) == 1


# -- the notify unit, run by a real manager through OnFailure= --------------------------------
JOB = "agent-aggregate"
SERVICE = f"ai-os-{JOB}.service"
INSTANCE = f"ai-os-notify@{SERVICE}.service"
PING_VAR = "AIOS_PING_URL_AGENT_AGGREGATE"


@dataclass
class Alerting:
    sb: UnitsSandbox
    checks: Checks
    server: NotificationServer | None


@contextlib.contextmanager
def _alerting(
    factory: Callable[..., PrivateManager],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    ping_in: str,
    notification_server_up: bool = True,
    journal: bool = False,
) -> Iterator[Alerting]:
    """A private manager, a project whose agent-aggregate is installed with --notify, the
    check's ping server, and (unless told otherwise) a notification server on the bus.
    ``ping_in``: where the job's ping URL lives, the manager's environment or .env.local."""
    with contextlib.ExitStack() as stack:
        checks = stack.enter_context(ping_server())
        url = checks.url()
        pm = factory({PING_VAR: url} if ping_in == "manager" else {}, journal=journal)
        project = stack.enter_context(safe_directory("alert-project-"))
        if ping_in == "env.local":
            (project / ".env.local").write_text(f"{PING_VAR}={url}\n")
        sb = UnitsSandbox(pm, project, tmp_path / "scheduler")
        bus = session_bus(pm.runtime_dir, stack)
        server = stack.enter_context(notification_server(bus, tmp_path)) if notification_server_up else None
        code, out, err = units_cli(sb, capsys, "install", JOB, "--notify")
        assert code == 0, out + err
        assert f"wrote notify: true for {JOB} into data/ai-os.scheduler.json" in out
        assert "write ai-os-notify@.service (new)" in out
        yield Alerting(sb, checks, server)


def _fail_and_wait(pm: PrivateManager) -> dict[str, str]:
    """Start the job's service, which fails; wait for the notify unit it starts to end.
    Returns the notify instance's facts (``systemctl show``) from that run."""
    before = _show(pm, INSTANCE).get("InvocationID")  # a new run of it has a new one
    with pm.connect() as mgr:
        mgr.wait_job(mgr.start(SERVICE), timeout=120)
        assert mgr.unit(SERVICE).active_state == "failed", pm.output()
    deadline = time.monotonic() + 60
    while True:
        facts = _show(pm, INSTANCE)
        ran = facts.get("InvocationID") not in (None, "", before)
        if ran and facts.get("ExecMainExitTimestamp") and facts["ActiveState"] in ("inactive", "failed"):
            return facts
        assert time.monotonic() < deadline, f"the notify unit did not run: {facts}\n{pm.output()}"
        time.sleep(0.05)


def _show(pm: PrivateManager, unit: str) -> dict[str, str]:
    shown = subprocess.run(
        [
            "systemctl",
            "--user",
            "show",
            unit,
            "-p",
            "ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp,InvocationID",
        ],
        env=pm.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


@contextlib.contextmanager
def _checkout_moved(sb: UnitsSandbox) -> Iterator[None]:
    """The project moved away meanwhile: the service fails before aios-run (200/CHDIR)."""
    moved = sb.project.with_name(sb.project.name + "-moved")
    sb.project.rename(moved)
    try:
        yield
    finally:
        moved.rename(sb.project)


def _fail_with_the_checkout_moved(sb: UnitsSandbox) -> dict[str, str]:
    """:func:`_fail_and_wait` while the project is moved away: the notify unit runs with
    its pinned root gone."""
    with _checkout_moved(sb):
        return _fail_and_wait(sb.pm)


def _no_private_text(alerting: Alerting, *texts: str) -> None:
    for text in texts:
        assert str(alerting.sb.project) not in text and UUID not in text and str(Path.home()) not in text


def test_a_service_that_cannot_start_is_reported_once_with_a_fail_ping_and_a_notification(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkout moves away: the service fails before aios-run (200/CHDIR), so nothing
    told the check; the notify unit (pinned, no working directory) still runs, pings
    /fail once and shows which job failed and why."""
    with _alerting(user_manager_factory, tmp_path, capsys, ping_in="manager") as alerting:
        sb = alerting.sb
        facts = _fail_with_the_checkout_moved(sb)
        assert (facts["ActiveState"], facts["Result"], facts["ExecMainStatus"]) == ("inactive", "success", "0")
        (fail,) = alerting.checks.pings
        assert (fail.method, fail.kind, fail.rid) == ("POST", "fail", None)
        body = fail.body.decode()
        assert re.fullmatch(rf"{JOB}: {SERVICE} failed \(200/CHDIR\) at \S+Z", body), body
        assert alerting.server is not None
        (shown,) = alerting.server.wait_for(1)
        assert shown["summary"] == f"AI OS job {JOB} failed" and shown["app"] == "aios-systemd"
        assert shown["body"].startswith(f"{SERVICE} failed (200/CHDIR)")
        assert f"run 'aios-units install {JOB}' from the checkout where it lives now" in shown["body"]
        _no_private_text(alerting, body, shown["body"])


def _notify_journal(pm: PrivateManager, wanted: str) -> list[str]:
    """What the notify instance printed, from the journal, once ``wanted`` is among it."""
    # By the stream's identifier: a short-lived process's output may reach journald after its
    # cgroup is gone, without the unit's fields.
    argv = ["journalctl", "--identifier=aios-notify", "-o", "cat", "--no-pager"]
    deadline = time.monotonic() + 30
    while True:
        lines = subprocess.run(pm.in_namespace(argv), capture_output=True, text=True, timeout=60).stdout.splitlines()
        if any(wanted in line for line in lines):
            return lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)


def test_a_ping_url_gone_with_the_checkout_is_said_truthfully_with_how_to_keep_it(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The URL is where the README puts it, the project's .env.local, and the checkout
    moves away: the notify unit cannot read it, and says so (not "is not set"), with the
    fix that makes the alert survive a moved checkout; no path in what it prints."""
    with _alerting(user_manager_factory, tmp_path, capsys, ping_in="env.local", journal=True) as alerting:
        sb = alerting.sb
        facts = _fail_with_the_checkout_moved(sb)
        assert (facts["Result"], facts["ExecMainStatus"]) == ("success", "0")  # no URL is no error
        assert alerting.checks.pings == []
        assert alerting.server is not None and len(alerting.server.wait_for(1)) == 1
        lines = _notify_journal(sb.pm, "ping: ")
        assert (
            f"ping: none sent: {PING_VAR} is not in the environment, and the project's .env.local "
            "cannot be read (the checkout the unit names is gone?)"
        ) in lines, lines
        assert not any("is not set" in line for line in lines), lines
        assert (
            f"hint: for failure alerts that survive a moved checkout, give the user manager {PING_VAR} too: "
            f"a line {PING_VAR}=<its URL> in ~/.config/environment.d/aios.conf (mode 0600), "
            "then systemctl --user daemon-reload"
        ) in lines, lines
        _no_private_text(alerting, *lines)


def test_a_run_that_fails_inside_aios_run_is_reported_once_by_its_own_exit_code_ping(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """aios-run took the lock and failed (exit 1: the generated data file is unusable): its
    own pings told the check (start, 1); the notify unit adds no /fail, and still shows
    the failure on the desktop."""
    with _alerting(user_manager_factory, tmp_path, capsys, ping_in="env.local") as alerting:
        sb = alerting.sb
        data = sb.project / "src" / "data"
        data.mkdir(parents=True)
        (data / "live-data.json").write_text("not json")
        facts = _fail_and_wait(sb.pm)
        assert facts["Result"] == "success", facts
        assert [p.kind for p in alerting.checks.pings] == ["start", "1"]
        assert alerting.server is not None
        (shown,) = alerting.server.wait_for(1)
        assert shown["body"].startswith(f"{SERVICE} failed (1)")
        assert "aios-run ran and failed: the latest run says why" in shown["body"]
        _no_private_text(alerting, shown["body"])


def test_a_refusal_before_the_lock_pings_fail_once_from_the_env_local_and_no_server_is_no_error(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """aios-run refuses before the lock (exit 2: a scheduler root others can write): no run
    pinged, so the notify unit does, with the URL from the pinned project's .env.local;
    with no notification server on the bus it still succeeds."""
    with _alerting(
        user_manager_factory, tmp_path, capsys, ping_in="env.local", notification_server_up=False
    ) as alerting:
        sb = alerting.sb
        sb.scheduler_root.mkdir(mode=0o700, exist_ok=True)
        sb.scheduler_root.chmod(0o777)
        try:
            facts = _fail_and_wait(sb.pm)
        finally:
            sb.scheduler_root.chmod(0o700)
        assert (facts["Result"], facts["ExecMainStatus"]) == ("success", "0")
        (fail,) = alerting.checks.pings
        assert fail.kind == "fail" and fail.body.decode().startswith(f"{JOB}: {SERVICE} failed (2) at ")


def _notify_cli(env: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from aios_systemd.cli.common import dispatch

    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        capsys.readouterr()
        code = dispatch("aios-notify", list(argv))
    finally:
        os.environ.clear()
        os.environ.update(old)
    out, err = capsys.readouterr()
    return code, out, err


def _fail_by_hand(sb: UnitsSandbox) -> str:
    """The job's service (no notify unit) fails once more; its new InvocationID."""
    with _checkout_moved(sb), sb.pm.connect() as mgr:
        mgr.wait_job(mgr.start(SERVICE), timeout=60)
    facts = _show(sb.pm, SERVICE)
    assert facts["ActiveState"] == "failed" and facts["InvocationID"], facts
    return facts["InvocationID"]


def test_aios_notify_says_what_it_reported_and_a_failed_ping_is_an_error_with_its_fix(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str], server: NotificationServer
) -> None:
    sb = units_sandbox
    code, out, err = units_cli(sb, capsys, "install", JOB)  # no notify: the test runs aios-notify itself
    assert code == 0, out + err
    invocation = _fail_by_hand(sb)
    with ping_server() as checks:
        # A ping that fails is an error, and the failure is not taken as reported.
        code, out, err = _notify_cli({**sb.env, PING_VAR: checks.url("missing")}, capsys, SERVICE, "--json")
        assert code == 1
        doc = json.loads(out)
        assert (doc["ping"], doc["desktop"], doc["warning"]) == (
            "failed",
            "shown",
            f"{PING_VAR}: the failure ping failed (HTTP 404)",
        )
        assert (
            f"error: {JOB}: the failure was not told to the job's check: {PING_VAR}: the failure ping failed (HTTP 404)"
            in err
        )
        assert f"hint: check {PING_VAR} (the check's ping URL) and that its server answers" in err
        _no_private_text(Alerting(sb, checks, server), out, err)
        reported = sb.scheduler_root / "state" / f"{JOB}.reported.json"
        assert not reported.exists()

        # So the rerun reports it.
        code, out, err = _notify_cli({**sb.env, PING_VAR: checks.url()}, capsys, SERVICE)
        assert code == 0, out + err
        lines = out.splitlines()
        assert re.fullmatch(rf"{JOB}: {SERVICE} failed \(200/CHDIR\) at \S+Z", lines[0]), out
        assert lines[1:3] == [
            f"ping: the failure went to the job's check ({PING_VAR}/fail)",
            "desktop: notification shown",
        ]
        assert lines[3].startswith("hint: its working directory (the project root) is gone or moved")
        assert [p.kind for p in checks.of("ok")] == ["fail"] and len(server.notifications()) == 2
        # Remembered privately (0600), by the failed invocation.
        assert reported.stat().st_mode & 0o777 == 0o600
        assert json.loads(reported.read_text())["failure"] == invocation

        # The same failure again: nothing is sent, and that is no error.
        code, out, err = _notify_cli({**sb.env, PING_VAR: checks.url()}, capsys, SERVICE)
        assert code == 0 and err == "", out + err
        assert out.splitlines()[1:] == [
            "already reported this failure: nothing sent again",
            lines[3],
        ], out
        code, out, err = _notify_cli({**sb.env, PING_VAR: checks.url()}, capsys, SERVICE, "--json")
        assert code == 0 and json.loads(out)["ping"] == "already-reported", out + err
        assert [p.kind for p in checks.of("ok")] == ["fail"] and len(server.notifications()) == 2

    _fail_by_hand(sb)  # a new failure is reported
    code, out, err = _notify_cli(sb.env, capsys, SERVICE)
    assert code == 0 and f"ping: none sent: {PING_VAR} is not set" in out, out + err
    assert len(server.notifications()) == 3

    # A .env.local that is refused (a symlink) cannot be read either: said so, and why.
    _fail_by_hand(sb)
    elsewhere = sb.project.with_name(sb.project.name + "-env")
    elsewhere.write_text(f"{PING_VAR}=https://hc-ping.com/{UUID}\n")
    (sb.project / ".env.local").symlink_to(elsewhere)
    try:
        code, out, err = _notify_cli(sb.env, capsys, SERVICE)
    finally:
        (sb.project / ".env.local").unlink()
        elsewhere.unlink()
    assert code == 0, out + err
    lines = out.splitlines()
    assert (
        f"ping: none sent: {PING_VAR} is not in the environment, and the project's .env.local cannot be read"
    ) in lines, out
    assert "warning: .env.local is a symlink; refusing to follow it, so it is ignored: remove the symlink" in lines
    assert any(
        line.startswith(f"hint: for failure alerts that survive a moved checkout, give the user manager {PING_VAR}")
        for line in lines
    )
    _no_private_text(Alerting(sb, checks, server), out, err)

    # Where the report cannot be remembered (a scheduler root others can write), it still
    # goes out, and says that a rerun repeats it.
    sb.scheduler_root.chmod(0o777)
    try:
        code, out, err = _notify_cli(sb.env, capsys, SERVICE)
    finally:
        sb.scheduler_root.chmod(0o700)
    assert code == 0 and "desktop: notification shown" in out, out + err
    assert any(
        line.startswith(
            "warning: this report was not recorded, so a rerun reports it again: the scheduler root is writable by "
            "other users (the world, or a group with other members): make it private yourself (chmod go-w)"
        )
        for line in out.splitlines()
    ), out
    _no_private_text(Alerting(sb, checks, server), out, err)


def test_each_failure_is_reported_once_however_often_aios_notify_runs(
    user_manager_factory: Callable[..., PrivateManager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service fails twice: two reports (a new invocation is a new failure).  The
    notify unit started again, or aios-notify run by hand, for the same failure: none."""
    with _alerting(user_manager_factory, tmp_path, capsys, ping_in="manager") as alerting:
        sb, checks, server = alerting.sb, alerting.checks, alerting.server
        assert server is not None
        _fail_with_the_checkout_moved(sb)
        _fail_with_the_checkout_moved(sb)
        assert [p.kind for p in checks.pings] == ["fail", "fail"]
        assert len(server.wait_for(2)) == 2
        # The manager starts the notify unit again for the same failure (as a retry would).
        with sb.pm.connect() as mgr:
            mgr.wait_job(mgr.start(INSTANCE), timeout=60)
        code, out, err = _notify_cli({**sb.env, PING_VAR: checks.url()}, capsys, SERVICE)
        assert code == 0 and "already reported this failure: nothing sent again" in out, out + err
        assert _show(sb.pm, INSTANCE)["Result"] == "success"
        assert [p.kind for p in checks.pings] == ["fail", "fail"]
        time.sleep(0.5)  # a notification would have arrived by now
        assert len(server.notifications()) == 2


def test_aios_notify_by_hand_reads_the_ping_url_from_the_checkout_the_unit_pins(
    units_sandbox: UnitsSandbox,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run by hand from elsewhere, with neither --project-root nor AIOS_PROJECT_ROOT: the
    ping URL comes from the .env.local of the checkout the failed unit pins, not from the
    current directory's."""
    sb = units_sandbox
    code, out, err = units_cli(sb, capsys, "install", JOB)
    assert code == 0, out + err
    with ping_server() as checks:
        (sb.project / ".env.local").write_text(f"{PING_VAR}={checks.url()}\n")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / ".env.local").write_text(f"{PING_VAR}={checks.url('wrong-checkout')}\n")
        # aios-run refuses before the lock (a scheduler root others can write): exit 2.
        sb.scheduler_root.mkdir(mode=0o700, exist_ok=True)
        sb.scheduler_root.chmod(0o777)
        try:
            with sb.pm.connect() as mgr:
                mgr.wait_job(mgr.start(SERVICE), timeout=60)
                assert mgr.unit(SERVICE).active_state == "failed"
        finally:
            sb.scheduler_root.chmod(0o700)
        monkeypatch.chdir(elsewhere)
        env = {k: v for k, v in sb.env.items() if k != "AIOS_PROJECT_ROOT"}
        code, out, err = _notify_cli(env, capsys, SERVICE, "--json")
        assert code == 0, out + err
        assert json.loads(out)["ping"] == "sent"
        assert [p.kind for p in checks.of("ok")] == ["fail"] and not checks.of("wrong-checkout")
    with sb.pm.connect() as mgr:
        mgr.reset_failed(SERVICE)
