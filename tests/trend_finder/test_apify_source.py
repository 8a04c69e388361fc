"""The Apify dataset source and the bounded collection, against a real loopback server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aios_systemd.context import Context
from aios_systemd.data.collectors import trend_finder as tf
from tests.trend_finder.conftest import TOKEN
from tests.trend_finder.server import FakeApify


def _ctx(tmp_path: Path, env: dict[str, str]) -> Context:
    return Context.from_environ(
        {"HOME": str(tmp_path / "home"), "USER": "canaryuser", **env}, project_root=tmp_path / "project", cwd=tmp_path
    )


def _env(api: FakeApify, datasets: str, budget: str = "3") -> dict[str, str]:
    return {
        tf.BASE_URL_VAR: api.base_url,
        tf.TOKEN_VAR: TOKEN,
        tf.DATASETS_VAR: datasets,
        tf.BUDGET_VAR: budget,
    }


def _collect(tmp_path: Path, env: dict[str, str], deadline: float = 60):
    ctx = _ctx(tmp_path, env)
    return tf.collect(ctx, env, time.monotonic() + deadline)


def test_ok_source_is_summarized_not_copied(tmp_path: Path, api: FakeApify) -> None:
    item, warnings, degraded = _collect(tmp_path, _env(api, "okA"))
    assert warnings == [] and not degraded
    assert item["status"] == "ok" and item["itemCount"] == 7 and item["okSourceCount"] == 1
    row = item["sources"][0]
    assert row["id"] == "apify-dataset-1" and row["status"] == "ok" and row["httpStatus"] == 200
    assert row["itemCount"] == 7 and row["totalCount"] == 107
    assert row["titles"] == ["Trend number 0", "Trend number 1", "Trend number 2"]
    text = json.dumps(item)
    assert "example.org" not in text and "xxxxx" not in text  # no raw payload fields
    assert "okA" not in text  # the dataset id stays out of the artifact
    tf.validate_item(item)


def test_token_goes_in_the_header_only(tmp_path: Path, api: FakeApify) -> None:
    _collect(tmp_path, _env(api, "okA"))
    [seen] = api.requests
    assert seen.authorization == f"Bearer {TOKEN}"
    assert TOKEN not in seen.path
    assert seen.path.startswith("/v2/datasets/okA/items?")


def test_slow_source_past_budget_is_a_degraded_row_and_the_rest_survive(tmp_path: Path, api: FakeApify) -> None:
    api.slow_seconds = 8
    started = time.monotonic()
    item, warnings, degraded = _collect(tmp_path, _env(api, "okA slowB", budget="1"))
    elapsed = time.monotonic() - started
    assert elapsed < 5, "the whole collection is bounded by the budget"
    assert degraded
    ok, slow = item["sources"]
    assert ok["status"] == "ok" and ok["itemCount"] == 7
    assert slow["status"] == "degraded" and slow["reason"] == "budget-exceeded"
    assert warnings == ["Trend Finder source apify-dataset-2: did not fit in the collection budget"]
    assert item["status"] == "degraded" and item["itemCount"] == 7


def test_a_dribbling_body_cannot_outlast_the_budget(tmp_path: Path, api: FakeApify) -> None:
    api.slow_seconds = 8
    started = time.monotonic()
    item, _, degraded = _collect(tmp_path, _env(api, "dribbleA", budget="1"))
    assert time.monotonic() - started < 5
    assert degraded and item["sources"][0]["reason"] == "budget-exceeded"


def test_caller_deadline_caps_the_budget(tmp_path: Path, api: FakeApify) -> None:
    api.slow_seconds = 8
    started = time.monotonic()
    item, _, _ = _collect(tmp_path, _env(api, "slowA", budget="60"), deadline=1)
    assert time.monotonic() - started < 5
    assert item["sources"][0]["reason"] == "budget-exceeded"


@pytest.mark.parametrize(
    ("dataset", "reason", "http_status", "warning"),
    [
        ("err500", "http-error", 500, "request failed (HTTP 500)"),
        ("err401", "http-error", 401, "token rejected (HTTP 401)"),
        ("missing", "http-error", 404, "dataset not found (HTTP 404)"),
        ("badjson", "bad-json", 200, "response was not valid JSON"),
        ("shape", "bad-shape", 200, "response was not a list of dataset items"),
        ("huge", "too-large", 200, "response larger than 8388608 bytes"),
        ("redirect", "redirected", 302, "the API answered with a redirect; check the base URL"),
    ],
)
def test_source_failures_are_degraded_rows(
    tmp_path: Path, api: FakeApify, dataset: str, reason: str, http_status: int, warning: str
) -> None:
    item, warnings, degraded = _collect(tmp_path, _env(api, f"okA,{dataset}"))
    assert degraded
    row = item["sources"][1]
    assert (row["status"], row["reason"], row["httpStatus"]) == ("degraded", reason, http_status)
    assert warnings == [f"Trend Finder source apify-dataset-2: {warning}"]
    assert item["sources"][0]["status"] == "ok"
    assert TOKEN not in json.dumps([item, warnings])
    tf.validate_item(item)


def test_redirect_is_never_followed(tmp_path: Path, api: FakeApify) -> None:
    _collect(tmp_path, _env(api, "redirect"))
    assert [s.path.split("?")[0] for s in api.requests] == ["/v2/datasets/redirect/items"]


def test_unreachable_server_names_no_url(tmp_path: Path) -> None:
    env = {tf.BASE_URL_VAR: "http://127.0.0.1:9", tf.TOKEN_VAR: TOKEN, tf.DATASETS_VAR: "abc"}
    item, warnings, degraded = _collect(tmp_path, env)
    assert degraded and item["sources"][0]["reason"] == "unreachable"
    assert "127.0.0.1" not in warnings[0] and TOKEN not in warnings[0]


def test_no_sources_configured_is_a_warning_and_an_empty_item(tmp_path: Path) -> None:
    item, warnings, degraded = _collect(tmp_path, {})
    assert not degraded
    assert item["status"] == "unconfigured" and item["sources"] == [] and item["itemCount"] == 0
    assert warnings == ["no Trend Finder sources configured (set FINDTREND_APIFY_DATASET_IDS and APIFY_TOKEN)"]


def test_missing_token_degrades_each_source_without_a_request(tmp_path: Path, api: FakeApify) -> None:
    env = _env(api, "okA")
    del env[tf.TOKEN_VAR]
    item, warnings, degraded = _collect(tmp_path, env)
    assert degraded and item["sources"][0]["reason"] == "no-token"
    assert api.requests == []
    assert "APIFY_TOKEN" in warnings[0]


def test_plain_http_to_another_host_is_refused_before_any_request(tmp_path: Path) -> None:
    env = {tf.BASE_URL_VAR: "http://api.example.invalid", tf.TOKEN_VAR: TOKEN, tf.DATASETS_VAR: "abc"}
    item, warnings, degraded = _collect(tmp_path, env)
    assert degraded and item["sources"] == []
    assert warnings == ["FINDTREND_APIFY_BASE_URL must use https unless it points at this machine"]


def test_invalid_dataset_id_is_not_requested_nor_echoed(tmp_path: Path, api: FakeApify) -> None:
    item, warnings, _ = _collect(tmp_path, _env(api, "../../etc"))
    assert api.requests == []
    assert item["sources"][0]["reason"] == "invalid-id"
    assert "etc" not in warnings[0]


def test_titles_are_truncated_and_private_facts_removed(tmp_path: Path, api: FakeApify) -> None:
    home = str(tmp_path / "home")
    api.items = [
        {"title": "Contact someone@example.com now"},
        {"name": f"see {home}/notes.txt"},
        {"headline": "A" * 500},
        {"title": "never reached"},
    ]
    item, _, _ = _collect(tmp_path, _env(api, "okA"))
    titles = item["sources"][0]["titles"]
    assert len(titles) == 3
    assert "someone@example.com" not in json.dumps(titles) and home not in json.dumps(titles)
    assert len(titles[2]) <= tf.MAX_TITLE_CHARS
    ctx = _ctx(tmp_path, {})
    assert ctx.privacy.violations(item) == []


def test_budget_variable_is_bounded() -> None:
    assert tf.budget_seconds({}) == 60
    assert tf.budget_seconds({tf.BUDGET_VAR: "nonsense"}) == 60
    assert tf.budget_seconds({tf.BUDGET_VAR: "0"}) == 1
    assert tf.budget_seconds({tf.BUDGET_VAR: "nan"}) == 60
    assert tf.budget_seconds({tf.BUDGET_VAR: "1e9"}) == tf.MAX_BUDGET_SECS


@pytest.mark.parametrize("value", ["trend-finder", "a, trend-finder", "x trend-finder,y", " trend-finder "])
def test_enablement_list(value: str) -> None:
    assert tf.extension_enabled({tf.ENABLED_VAR: value})


@pytest.mark.parametrize("value", ["", "trend-finders", "trend", "other"])
def test_enablement_list_negative(value: str) -> None:
    assert not tf.extension_enabled({tf.ENABLED_VAR: value})


def test_source_repr_hides_the_token(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {})
    src = tf.ApifyDatasetSource(
        id="apify-dataset-1", dataset_id="abc", token=TOKEN, base="https://x", privacy=ctx.privacy
    )
    assert TOKEN not in repr(src) and TOKEN not in str(src)
