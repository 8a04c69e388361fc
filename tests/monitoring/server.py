"""A real HTTP server on loopback that plays healthchecks.io's ping endpoint, recording
every ping; what it answers depends on the check's name, the first part of the path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.support.serving import QuietHandler, serving

UUID = "0f3c1a2b-1111-4222-8333-444455556666"  # the part of a ping URL that names the check


@dataclass
class Ping:
    method: str
    check: str  # the first path segment
    kind: str  # "start", an exit code, or what followed the check
    rid: str | None
    body: bytes
    headers: dict[str, str]


@dataclass
class Checks:
    """The server: ``url(name)`` is the ping URL of a check whose name picks the answer."""

    base: str
    port: int
    pings: list[Ping] = field(default_factory=list)
    slow_seconds: float = 3.0
    failures_left: dict[str, int] = field(default_factory=dict)
    redirect_to: str | None = None

    def url(self, name: str = "ok") -> str:
        return f"{self.base}/{name}-{UUID}"

    def of(self, name: str) -> list[Ping]:
        return [p for p in self.pings if p.check == f"{name}-{UUID}"]


def _behaviour(check: str) -> str:
    return check.split("-", 1)[0]


@contextmanager
def ping_server(host: str = "127.0.0.1") -> Iterator[Checks]:
    state: dict[str, Checks] = {}

    class Handler(QuietHandler):
        def _answer(self, code: int, body: bytes = b"OK", headers: dict[str, str] | None = None) -> None:
            self.reply(code, body, headers)

        def _record(self) -> tuple[Checks, Ping]:
            checks = state["checks"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            if segments and segments[0] == "moved":
                segments = segments[1:]
            rid = parse_qs(parts.query).get("rid", [None])[0]
            ping = Ping(
                self.command,
                segments[0],
                "/".join(segments[1:]),
                rid,
                body,
                {k.lower(): v for k, v in self.headers.items()},
            )
            checks.pings.append(ping)
            return checks, ping

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            checks, ping = self._record()
            behaviour = _behaviour(ping.check)
            moved = self.path.startswith("/moved/")
            if behaviour == "slow" and ping.kind != "start":
                time.sleep(checks.slow_seconds)
                self._answer(200)
            elif behaviour == "missing":
                self._answer(404, b"not found")
            elif behaviour == "flaky" and checks.failures_left.get(ping.check, 1) > 0:
                checks.failures_left[ping.check] = checks.failures_left.get(ping.check, 1) - 1
                self._answer(503, b"try later")
            elif behaviour == "elsewhere":
                self._answer(302, b"", {"Location": f"{checks.redirect_to}{self.path}"})
            elif behaviour == "moved" and not moved:
                self._answer(308, b"", {"Location": f"/moved{self.path}"})
            else:
                self._answer(200)

    with serving(Handler, host) as server:
        port = server.server_address[1]
        checks = Checks(f"http://{host}:{port}", port)
        state["checks"] = checks
        yield checks
