"""A small ``org.freedesktop.Notifications`` server: the real peer of the desktop
notification tests.

It runs in a process of its own (jeepney, a test-only dependency): pystemd's binding holds
the interpreter lock while it waits for a reply, so a server thread in the test process
could never answer.  It owns the name on the bus it is given, answers ``Notify`` with an id
(or, ``silent``, never answers), and records every call as a JSON line.

:func:`session_bus` is the private manager's user bus, ``$XDG_RUNTIME_DIR/bus``: the
socket-activated dbus-daemon of Debian's ``dbus-user-session``, or, where that is not
installed, a ``dbus-daemon --session`` this module starts at the same place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SERVER = r"""
import json, sys
from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

address, record, mode = sys.argv[1:4]
conn = open_dbus_connection(address)
if conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications")).body != (1,):
    sys.exit("org.freedesktop.Notifications is owned already")
print("ready", flush=True)
count = 0
while True:
    msg = conn.receive()
    if msg.header.message_type != MessageType.method_call:
        continue
    fields = msg.header.fields
    member = fields.get(HeaderFields.member)
    with open(record, "a") as out:
        out.write(json.dumps({"member": member, "interface": fields.get(HeaderFields.interface),
                              "path": fields.get(HeaderFields.path), "signature": fields.get(HeaderFields.signature),
                              "body": msg.body}) + "\n")
    if mode == "silent":
        continue
    if member == "Notify":
        count += 1
        conn.send(new_method_return(msg, "u", (count,)))
    elif member == "GetServerInformation":
        conn.send(new_method_return(msg, "ssss", ("aios-test", "aios-systemd", "1", "1.2")))
    else:
        conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
"""


@dataclass
class NotificationServer:
    record: Path
    process: subprocess.Popen[str]

    def calls(self) -> list[dict]:  # type: ignore[type-arg]
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def notifications(self) -> list[dict]:  # type: ignore[type-arg]
        """Each ``Notify`` as ``{app, summary, body, urgency, ...}``."""
        out = []
        for call in self.calls():
            if call["member"] != "Notify":
                continue
            app, replaces, icon, summary, body, actions, hints, expire = call["body"]
            out.append(
                {
                    "app": app,
                    "replaces": replaces,
                    "icon": icon,
                    "summary": summary,
                    "body": body,
                    "actions": actions,
                    "urgency": hints.get("urgency", [None, None])[1],
                    "expire": expire,
                    "signature": call["signature"],
                }
            )
        return out

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        while len(self.notifications()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.notifications()


def session_bus(runtime_dir: Path, stack: contextlib.ExitStack) -> str:
    """The address of the user bus at ``runtime_dir/bus``; a dbus-daemon is started there
    (and stopped by ``stack``) when no socket-activated one listens."""
    socket = runtime_dir / "bus"
    if not socket.exists():
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon is missing: install dbus-user-session (scripts/setup.sh does)")
        process = subprocess.Popen(
            [daemon, "--session", f"--address=unix:path={socket}", "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(_stop, process)
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return f"unix:path={socket}"


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def notification_server(address: str, directory: Path, *, silent: bool = False) -> Iterator[NotificationServer]:
    """A notification server on the bus at ``address`` until the block ends."""
    record = directory / "notifications.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, address, str(record), "silent" if silent else "answer"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            _stop(process)
            why = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"the notification server did not start: {why}")
        yield NotificationServer(record, process)
    finally:
        _stop(process)
