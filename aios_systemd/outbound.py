"""Outbound HTTP: the one ``urllib`` opener the toolkit's requests go through.

It follows no redirect: a 3xx comes back as an answer (``HTTPError``) for the caller to
judge.  urllib would otherwise follow one to any host, copying headers onto it, and turn a
``POST`` into a ``GET`` that drops the body.  The Apify source refuses every redirect (its
token must reach no other host); the healthcheck pings follow one on the same host only.
"""

from __future__ import annotations

import urllib.request
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)
