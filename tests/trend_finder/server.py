"""A real HTTP server on loopback that plays an Apify dataset API, one behaviour per
dataset id, recording what each request carried."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.serving import QuietHandler, serving


@dataclass
class Seen:
    path: str
    authorization: str | None


@dataclass
class FakeApify:
    base_url: str
    requests: list[Seen] = field(default_factory=list)
    slow_seconds: float = 5.0
    items: list[object] = field(default_factory=list)


def _items(n: int) -> list[object]:
    return [{"title": f"Trend number {i}", "url": f"https://example.org/{i}", "raw": "x" * 50} for i in range(n)]


@contextmanager
def fake_apify(items: int = 7) -> Iterator[FakeApify]:
    state: dict[str, FakeApify] = {}

    class Handler(QuietHandler):
        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.reply(code, body, {"Content-Type": "application/json", **(headers or {})})

        def do_GET(self) -> None:
            api = state["api"]
            api.requests.append(Seen(self.path, self.headers.get("Authorization")))
            parts = self.path.split("?")[0].split("/")
            dataset = parts[3] if len(parts) > 4 else ""
            if dataset.startswith("ok"):
                body = json.dumps(api.items).encode()
                self._send(200, body, {"X-Apify-Pagination-Total": str(len(api.items) + 100)})
            elif dataset.startswith("slow"):
                time.sleep(api.slow_seconds)
                self._send(200, b"[]")
            elif dataset.startswith("dribble"):
                # Headers at once, then one byte a while: only a deadline-aware reader stops.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(b"[")
                    for _ in range(int(api.slow_seconds * 10)):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                    self.wfile.write(b"]")
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif dataset.startswith("err500"):
                self._send(500, b'{"error": {"type": "internal"}}')
            elif dataset.startswith("err401"):
                self._send(401, b'{"error": {"type": "token-not-valid"}}')
            elif dataset.startswith("badjson"):
                self._send(200, b'[{"title": "unterminated')
            elif dataset.startswith("shape"):
                self._send(200, b'{"unexpected": true}')
            elif dataset.startswith("huge"):
                # No Content-Length: the reader must stop by counting.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                chunk = b"[" + b'"' + b"a" * (1 << 20) + b'",'
                try:
                    for _ in range(12):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif dataset.startswith("bigheader"):
                self._send(200, b"x" * 10, {"Content-Length-Ignored": "1"})
            elif dataset.startswith("redirect"):
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.2:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, b'{"error": {"type": "record-not-found"}}')

    with serving(Handler) as server:
        api = FakeApify(f"http://127.0.0.1:{server.server_address[1]}", items=_items(items))
        state["api"] = api
        yield api
