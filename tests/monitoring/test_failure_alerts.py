"""Failure alerts for failures outside ``aios-run``: the desktop notification against a real
``org.freedesktop.Notifications`` server on a private manager's user bus, then the notify
unit run by a real private ``systemd --user`` through ``OnFailure=``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios_systemd.units.systemd import notify_desktop, session_bus_address
from tests.support.notifications import NotificationServer, notification_server, session_bus
from tests.support.user_manager import PrivateManager

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
