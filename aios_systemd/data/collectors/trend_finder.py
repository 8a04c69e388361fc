"""The Trend Finder extension collector: bounded source summaries, never raw payloads.

Sources sit behind :class:`Source` (``fetch(deadline) -> SourceSummary``).  The one source
shipped is the Apify dataset source: ``GET {base}/v2/datasets/{id}/items`` over urllib
with the token in an ``Authorization`` header (never in the URL), redirects refused so the
token never reaches another host, the body bounded and parsed defensively.

The whole collection shares one budget, ``FINDTREND_APIFY_COLLECTION_BUDGET_SECS``
(default 60, never past the caller's deadline).  Sources are fetched concurrently on
daemon threads; a source still running when the budget ends becomes a degraded row with a
warning, and the caller still writes what the others returned.

Environment (process environment first, then the project's ``.env.local``):

* ``VITE_CLAUDE_OS_ENABLED_EXTENSIONS``: comma/space list; must contain ``trend-finder``.
* ``APIFY_TOKEN``: the Apify API token.
* ``FINDTREND_APIFY_DATASET_IDS``: comma/space list of dataset ids (``id`` or
  ``username~dataset-name``).  Rows are labelled ``apify-dataset-1``, ``-2``... in that
  order: ids never enter the generated artifact (``.env.local`` values count as secrets).
* ``FINDTREND_APIFY_COLLECTION_BUDGET_SECS``: whole-collection budget in seconds.
* ``FINDTREND_APIFY_BASE_URL``: API base (default ``https://api.apify.com``); plain
  ``http`` is accepted for loopback hosts only, so the token never crosses a network in clear.
* ``FINDTREND_APIFY_ITEM_LIMIT``: items requested per dataset (default 200, 1..1000).

No source configured while the extension is enabled is not an error: the item is written
with ``status: "unconfigured"`` and one warning, so the run ends ``warning-only``.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aios_systemd import settings
from aios_systemd.context import Context
from aios_systemd.data.orchestration import ENABLED_EXTENSIONS_VAR, enabled_extensions
from aios_systemd.data.orchestration import merged_env as merged_env  # re-exported for the handler
from aios_systemd.data.schema import MAX_SOURCES, MAX_TITLES
from aios_systemd.isotime import now_iso
from aios_systemd.outbound import OPENER
from aios_systemd.privacy import Privacy
from aios_systemd.record import Record

if TYPE_CHECKING:
    from aios_systemd.data.schema import ItemStatus, SourceStatus, TrendFinderItem

EXTENSION_ID = "trend-finder"
ENABLED_VAR = ENABLED_EXTENSIONS_VAR
TOKEN_VAR = settings.APIFY_TOKEN.name
DATASETS_VAR = settings.FINDTREND_DATASETS.name
BUDGET_VAR = settings.FINDTREND_BUDGET.name
BASE_URL_VAR = settings.FINDTREND_BASE_URL.name
LIMIT_VAR = settings.FINDTREND_LIMIT.name

DEFAULT_BASE_URL = "https://api.apify.com"
DEFAULT_BUDGET_SECS = 60.0
MAX_BUDGET_SECS = 15 * 60.0  # the job's own timeout; a larger value is a typo
DEFAULT_ITEM_LIMIT = 200
MAX_ITEM_LIMIT = 1000
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_TITLE_CHARS = 120
TITLE_KEYS = ("title", "name", "headline", "text", "caption", "description")
_READ_CHUNK = 64 * 1024
_DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,99}")
_SPLIT = re.compile(r"[\s,]+")
_WS = re.compile(r"\s+")


# -- configuration ----------------------------------------------------------------------


def split_list(value: str | None) -> list[str]:
    return [p for p in _SPLIT.split(value or "") if p]


def extension_enabled(env: Mapping[str, str]) -> bool:
    """The same rule the full aggregate applies (one parser for the enablement list)."""
    return EXTENSION_ID in enabled_extensions(env)


def _bounded_float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    try:
        value = float(env.get(name, ""))
    except ValueError:
        return default
    return min(max(value, low), high) if value == value else default  # NaN → default


def budget_seconds(env: Mapping[str, str]) -> float:
    return _bounded_float(env, BUDGET_VAR, DEFAULT_BUDGET_SECS, 1.0, MAX_BUDGET_SECS)


class ConfigProblem(Exception):
    """A configuration value that cannot be used; the message is safe (it names the
    variable and the rule, never the value)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(env: Mapping[str, str]) -> str:
    raw = (env.get(BASE_URL_VAR) or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urllib.parse.urlsplit(raw)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password or parts.query:
        raise ConfigProblem(f"{BASE_URL_VAR} is not a plain http(s) base URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigProblem(f"{BASE_URL_VAR} must use https unless it points at this machine")
    return raw


# -- summaries ---------------------------------------------------------------------------


class SourceSummary(Record):
    """One source's row: metadata only.  ``reason`` is a short code; ``warning`` is the
    operator-safe sentence for a degraded row (it names the row label, never an id)."""

    id: str
    kind: str
    status: SourceStatus
    item_count: int = 0
    total_count: int | None = None
    titles: tuple[str, ...] = ()
    fetched_at: str | None = None
    duration_ms: int = 0
    http_status: int | None = None
    reason: str | None = None
    warning: str | None = None

    def to_item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "itemCount": self.item_count,
            "totalCount": self.total_count,
            "titles": list(self.titles),
            "fetchedAt": self.fetched_at,
            "durationMs": self.duration_ms,
            "httpStatus": self.http_status,
            "reason": self.reason,
        }


class Source(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def fetch(self, deadline: float) -> SourceSummary:
        """Summarize the source, returning by ``deadline`` (a ``time.monotonic()`` value)
        as best it can; never raises for a source problem, and never returns raw data."""
        ...


def degraded(
    source: Source,
    reason: str,
    warning: str,
    started: float,
    http_status: int | None = None,
) -> SourceSummary:
    return SourceSummary(
        id=source.id,
        kind=source.kind,
        status="degraded",
        fetched_at=now_iso("seconds"),
        duration_ms=int((time.monotonic() - started) * 1000),
        http_status=http_status,
        reason=reason,
        warning=f"Trend Finder source {source.id}: {warning}",
    )


def safe_titles(items: list[Any], privacy: Privacy) -> tuple[str, ...]:
    """A few short titles, redacted, and dropped if anything private survives redaction."""
    out: list[str] = []
    for item in items:
        if len(out) >= MAX_TITLES:
            break
        if not isinstance(item, dict):
            continue
        raw = next((item[k] for k in TITLE_KEYS if isinstance(item.get(k), str) and item[k].strip()), None)
        if raw is None:
            continue
        # Redact the whole title, then cut it: a token cut first would no longer match
        # and its first characters would be kept.
        text = privacy.redact(_WS.sub(" ", raw).strip())
        if len(text) > MAX_TITLE_CHARS:
            text = text[: MAX_TITLE_CHARS - 1].rstrip() + "…"
        if text and not any(True for _ in privacy.text_rules(text)):
            out.append(text)
    return tuple(out)


# -- Apify --------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class _OutOfTime(Exception):
    pass


def _read_bounded(resp: http.client.HTTPResponse, deadline: float, max_bytes: int) -> bytes:
    length = resp.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise _TooLarge
    buf = bytearray()
    while True:
        if time.monotonic() >= deadline:
            raise _OutOfTime
        # read1 returns after one socket read, so a dribbling server cannot hold us past
        # the deadline by more than one socket timeout.
        chunk = resp.read1(_READ_CHUNK)
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > max_bytes:
            raise _TooLarge


def _items_of(doc: Any) -> list[Any] | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for holder in (doc, doc.get("data")):
            if isinstance(holder, dict) and isinstance(holder.get("items"), list):
                return list(holder["items"])
    return None


class ApifyDatasetSource(Record):
    """One Apify dataset, summarized from its newest ``limit`` items."""

    id: str
    dataset_id: str
    token: str
    base: str
    privacy: Privacy
    limit: int = DEFAULT_ITEM_LIMIT
    max_bytes: int = MAX_RESPONSE_BYTES
    kind: str = "apify-dataset"

    def __repr__(self) -> str:  # the record's repr would carry the token
        return f"ApifyDatasetSource(id={self.id!r})"

    def _request(self) -> urllib.request.Request:
        query = urllib.parse.urlencode({"format": "json", "clean": "true", "desc": "true", "limit": self.limit})
        url = f"{self.base}/v2/datasets/{urllib.parse.quote(self.dataset_id, safe='~')}/items?{query}"
        # The scheme is http(s) only: base_url() refused anything else.
        req = urllib.request.Request(url, method="GET", headers={"Accept": "application/json"})  # noqa: S310
        # Unredirected: urllib would otherwise copy it onto a redirected request.
        req.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return req

    def fetch(self, deadline: float) -> SourceSummary:
        started = time.monotonic()
        if not _DATASET_ID.fullmatch(self.dataset_id):
            return degraded(self, "invalid-id", "dataset id is not a valid Apify dataset id", started)
        if not self.token:
            return degraded(self, "no-token", f"no Apify token configured (set {TOKEN_VAR})", started)
        left = deadline - started
        if left <= 0:
            return degraded(self, "budget-exceeded", "did not fit in the collection budget", started)
        status: int | None = None
        try:
            # No redirect is followed: the dataset endpoint answers directly, a redirect
            # means a wrong base URL, and following it could hand the token to another host.
            with OPENER.open(self._request(), timeout=left) as resp:
                status = int(resp.status)
                total_header = resp.getheader("X-Apify-Pagination-Total")
                body = _read_bounded(resp, deadline, self.max_bytes)
        except urllib.error.HTTPError as exc:
            code = int(exc.code)
            with contextlib.suppress(Exception):
                exc.close()
            if 300 <= code < 400:
                return degraded(
                    self, "redirected", "the API answered with a redirect; check the base URL", started, code
                )
            what = (
                "token rejected"
                if code in (401, 403)
                else "dataset not found"
                if code == 404
                else ("rate limited" if code == 429 else "request failed")
            )
            return degraded(self, "http-error", f"{what} (HTTP {code})", started, code)
        except _TooLarge:
            return degraded(self, "too-large", f"response larger than {self.max_bytes} bytes", started, status)
        except (_OutOfTime, TimeoutError):
            return degraded(self, "budget-exceeded", "did not fit in the collection budget", started, status)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None)
            if isinstance(reason, TimeoutError):
                return degraded(self, "budget-exceeded", "did not fit in the collection budget", started)
            # The exception text can carry the URL; only its type is safe to show.
            return degraded(self, "unreachable", f"request failed ({type(exc).__name__})", started, status)
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return degraded(self, "bad-json", "response was not valid JSON", started, status)
        items = _items_of(doc)
        if items is None:
            return degraded(self, "bad-shape", "response was not a list of dataset items", started, status)
        total: int | None = None
        if total_header and total_header.strip().isdigit():
            total = int(total_header.strip())
        return SourceSummary(
            id=self.id,
            kind=self.kind,
            status="ok",
            item_count=len(items),
            total_count=total,
            titles=safe_titles(items, self.privacy),
            fetched_at=now_iso("seconds"),
            duration_ms=int((time.monotonic() - started) * 1000),
            http_status=status,
        )


def configured_sources(env: Mapping[str, str], privacy: Privacy) -> tuple[list[Source], list[str]]:
    """The sources ``env`` configures and warnings about ones it could not build."""
    ids = split_list(env.get(DATASETS_VAR))
    warnings: list[str] = []
    if not ids:
        return [], warnings
    if len(ids) > MAX_SOURCES:
        warnings.append(f"only the first {MAX_SOURCES} Trend Finder datasets are collected")
        ids = ids[:MAX_SOURCES]
    try:
        base = base_url(env)
    except ConfigProblem as exc:
        return [], [*warnings, str(exc)]
    limit = int(_bounded_float(env, LIMIT_VAR, DEFAULT_ITEM_LIMIT, 1, MAX_ITEM_LIMIT))
    token = env.get(TOKEN_VAR, "").strip()
    sources: list[Source] = [
        ApifyDatasetSource(id=f"apify-dataset-{i}", dataset_id=ds, token=token, base=base, privacy=privacy, limit=limit)
        for i, ds in enumerate(ids, start=1)
    ]
    return sources, warnings


# -- the item ----------------------------------------------------------------------------


def validate_item(item: Mapping[str, Any]) -> TrendFinderItem:
    """Raise ``ValueError`` naming the failing location (never the value) for a bad item."""
    from pydantic import ValidationError

    from aios_systemd.data.schema import TrendFinderItem

    try:
        return TrendFinderItem.model_validate(dict(item))
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "type": "invalid"}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise ValueError(f"Trend Finder item invalid at {loc or '$'} ({first.get('type')})") from None


def _run_all(sources: list[Source], deadline: float) -> list[SourceSummary]:
    """Fetch concurrently; a source not back by ``deadline`` is reported degraded."""
    results: dict[int, SourceSummary] = {}
    lock = threading.Lock()

    def work(index: int, source: Source) -> None:
        started = time.monotonic()
        try:
            summary = source.fetch(deadline)
        except Exception as exc:  # noqa: BLE001 - a broken source is a degraded row, not a crash
            summary = degraded(source, "source-error", f"source failed ({type(exc).__name__})", started)
        with lock:
            results.setdefault(index, summary)

    started = time.monotonic()
    # Daemon threads: one stuck past the budget must not keep the process alive, and its
    # late result is discarded (setdefault keeps the degraded row recorded below).
    threads = [
        threading.Thread(target=work, args=(i, s), daemon=True, name=f"trend-finder-{s.id}")
        for i, s in enumerate(sources)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 0.05)
    with lock:
        for i, s in enumerate(sources):
            if i not in results:
                results[i] = degraded(s, "budget-exceeded", "did not fit in the collection budget", started)
        return [results[i] for i in range(len(sources))]


def build_item(summaries: list[SourceSummary], budget: float, generated_at: str) -> dict[str, Any]:
    ok = [s for s in summaries if s.status == "ok"]
    status: ItemStatus = "unconfigured" if not summaries else "ok" if len(ok) == len(summaries) else "degraded"
    item = {
        "schemaVersion": 1,
        "generatedAt": generated_at,
        "status": status,
        "budgetSeconds": round(budget, 3),
        "sourceCount": len(summaries),
        "okSourceCount": len(ok),
        "itemCount": sum(s.item_count for s in ok),
        "sources": [s.to_item() for s in summaries],
    }
    validate_item(item)
    return item


def collect_from(
    sources: list[Source],
    budget: float,
    deadline: float,
) -> tuple[dict[str, Any], list[str], bool, list[SourceSummary]]:
    """Run ``sources`` within ``min(now + budget, deadline)`` and build the item."""
    stop = min(time.monotonic() + budget, deadline)
    summaries = _run_all(sources, stop) if sources else []
    warnings = [s.warning for s in summaries if s.warning]
    item = build_item(summaries, budget, now_iso())
    return item, warnings, any(s.status == "degraded" for s in summaries), summaries


def collect(ctx: Context, env: Mapping[str, str], deadline: float) -> tuple[dict[str, Any], list[str], bool]:
    """The orchestration entry point: the item for ``extensions.items["trend-finder"]``,
    sanitized warnings, and whether the collection was degraded.

    ``env`` is the merged view of the process environment and ``.env.local`` (see
    :func:`merged_env`); ``deadline`` is a ``time.monotonic()`` value.  Does not check
    enablement: callers decide with :func:`extension_enabled`.
    """
    item, warnings, is_degraded, _ = collect_summaries(ctx, env, deadline)
    return item, warnings, is_degraded


def collect_summaries(
    ctx: Context,
    env: Mapping[str, str],
    deadline: float,
) -> tuple[dict[str, Any], list[str], bool, list[SourceSummary]]:
    sources, warnings = configured_sources(env, ctx.privacy)
    budget = budget_seconds(env)
    item, more, is_degraded, summaries = collect_from(sources, budget, deadline)
    warnings += more
    if not sources:
        if not warnings:
            warnings.append(f"no Trend Finder sources configured (set {DATASETS_VAR} and {TOKEN_VAR})")
        else:
            is_degraded = True  # sources were asked for but could not be built
    return item, [ctx.privacy.redact(w) for w in warnings], is_degraded, summaries
