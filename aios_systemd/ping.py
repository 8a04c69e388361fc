"""Healthcheck pings: healthchecks.io's Pinging API, as runitor uses it.

A run that holds its job lock sends ``<url>/start?rid=<uuid>`` and, when it ends,
``<url>/<exit code>?rid=<same uuid>`` (healthchecks.io reads 0 as success, anything else as
a failure, and pairs the two by ``rid`` to time the run).  A job service that failed before
or outside such a run (its checkout moved, its ``aios-run`` gone) is reported by the notify
unit as ``<url>/fail``.  Each ping is a ``POST`` whose
body is at most the run's one summary line: private diagnostics (warnings, hints) stay on
the machine.

The URL is a credential (whoever has it can report for the check): it is never shown, and
every message here names the variable, never the URL or its host.  Only ``http(s)`` URLs
are pinged; a redirect is followed only to the same host (never to another one, never from
https down to http); each ping has a few seconds in all; a ping that fails is a warning
for the caller and changes nothing else.

Imported only when a ping URL is configured: ``urllib`` is no part of ``aios-run``'s start.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from . import __version__
from .outbound import OPENER

TIMEOUT_SECONDS = 5.0  # per ping, every try and redirect included (runitor: 5 s a request)
RETRY_AFTER_SECONDS = 1.0
MAX_REDIRECTS = 3
MAX_BODY_BYTES = 10_000  # healthchecks.io keeps the first 100 kB of a body
USER_AGENT = f"aios-systemd/{__version__}"
# Answers worth one more try (runitor's list): the request timed out, rate limits, a
# server that is restarting.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
TIMED_OUT = "timed-out"
FAIL = "fail"  # healthchecks.io's failure signal, for a failure outside a run


class PingUrlError(ValueError):
    """A ping URL that cannot be used; the message names the variable and the rule."""


def check_url(name: str, raw: str) -> str:
    """The ping URL ``raw`` (set as ``name``) without a trailing slash, or :class:`PingUrlError`."""
    url = raw.strip().rstrip("/")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        raise PingUrlError(f"{name} is not a URL; no ping was sent") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PingUrlError(f"{name} is not an http(s) URL; no ping was sent")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise PingUrlError(f"{name} carries a user, a query or a fragment; set the check's plain ping URL")
    return url


def new_rid() -> str:
    """A random (version 4) UUID: healthchecks.io accepts only a UUID as a run id."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def summary_line(job: str, state: str, duration_ms: int | None, exit_code: int) -> str:
    """The body of the exit-status ping: job, state, duration and exit code, nothing else."""
    return f"{job}: {state} · {(duration_ms or 0) / 1000:.1f}s · exit {exit_code}"


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int]:
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _may_follow(current: str, target: str) -> bool:
    """A redirect to the same host and port, or from http up to https on that host."""
    here, there = urllib.parse.urlsplit(current), urllib.parse.urlsplit(target)
    if there.username is not None or there.password is not None:
        return False
    old, new = _origin(here), _origin(there)
    if new == old:
        return True
    return old[0] == "http" and new[0] == "https" and new[1] == old[1] and there.port in (None, 443)


class Pinger:
    """The pings of one run: one ``rid`` for its start and its end."""

    def __init__(self, name: str, url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.name = name  # the variable: shown in warnings instead of the URL
        self._url = url  # checked by check_url
        self.timeout = timeout
        self.rid = new_rid()

    def __repr__(self) -> str:  # the URL is a credential
        return f"Pinger({self.name})"

    def start(self) -> str | None:
        """Send the start ping; a warning when it failed."""
        return self._send("start", b"")

    def finish(self, exit_code: int, body: str) -> str | None:
        """Send the exit-status ping with ``body``; a warning when it failed."""
        return self._send(str(int(exit_code)), body.encode("utf-8")[:MAX_BODY_BYTES])

    def fail(self, body: str) -> str | None:
        """Send the failure ping (``<url>/fail``) with ``body`` for a failure no run
        reported; without a ``rid``, since no run started.  A warning when it failed."""
        return self._send(FAIL, body.encode("utf-8")[:MAX_BODY_BYTES])

    def _send(self, kind: str, body: bytes) -> str | None:
        deadline = time.monotonic() + self.timeout
        url = f"{self._url}/{kind}" + ("" if kind == FAIL else f"?{urllib.parse.urlencode({'rid': self.rid})}")
        what = {"start": "start", FAIL: "failure"}.get(kind, f"exit-status ({kind})")
        redirects = 0
        retried = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self._warning(what, f"no answer within {self.timeout:g}s")
            status, location, why = _post(url, body, left)
            if status is not None and 200 <= status < 300:
                return None
            if status is not None and 300 <= status < 400:
                target = urllib.parse.urljoin(url, location) if location else None
                if target is None or not _may_follow(url, target):
                    return self._warning(what, f"HTTP {status}: a redirect to another host, not followed")
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    return self._warning(what, f"more than {MAX_REDIRECTS} redirects")
                url = target
                continue
            if not retried and (status is None or status in RETRY_STATUSES):
                retried = True
                if deadline - time.monotonic() > RETRY_AFTER_SECONDS + 0.5:
                    time.sleep(RETRY_AFTER_SECONDS)
                    continue
            if status is not None:
                why = f"HTTP {status}"
            elif why == TIMED_OUT:
                why = f"no answer within {self.timeout:g}s"
            return self._warning(what, why)

    def _warning(self, what: str, why: str) -> str:
        # A failure ping belongs to no run, so there is no run outcome to speak of.
        after = "" if what == "failure" else "; the run's outcome is unchanged"
        return f"{self.name}: the {what} ping failed ({why}){after}"


def _post(url: str, body: bytes, timeout: float) -> tuple[int | None, str | None, str]:
    """``(status, redirect location, why)``; no status when no answer came (then ``why``
    names the kind of failure, never the URL or host that an exception's text carries)."""
    headers = {"Content-Type": "text/plain; charset=utf-8", "User-Agent": USER_AGENT}
    # The scheme is http(s) only: check_url and _may_follow saw to it.  The opener follows
    # no redirect: _send judges each one.
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with OPENER.open(request, timeout=timeout) as resp:
            with contextlib.suppress(OSError, http.client.HTTPException):
                resp.read(1024)  # "OK": read so the connection closes cleanly
            return int(resp.status), None, ""
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if exc.headers else None
        with contextlib.suppress(Exception):
            exc.close()
        return int(exc.code), location, ""
    except TimeoutError:
        return None, None, TIMED_OUT
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return None, None, TIMED_OUT
        return None, None, f"could not connect: {type(exc.reason).__name__}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, None, f"request failed: {type(exc).__name__}"
