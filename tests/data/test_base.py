"""The merge base of a scoped write: never an example's placeholders, never a silent drop.

A current file that does not validate keeps every part that still does (the rest named in
the result and the run's warnings), one a newer release wrote is refused, one that cannot be
read at all is refused; the examples are never a base.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios_systemd.data import orchestration, schema
from aios_systemd.data.collectors import Collected
from aios_systemd.data.writer import read_live_data, write_live_data_for_scope
from aios_systemd.outcomes import hint_for
from aios_systemd.registry import REGISTRY, ScopeKind, WriteScope
from tests.data.support import TS, example, host_branch, item, make_ctx

HOST = WriteScope(ScopeKind.HOST_LOCAL)
FULL = WriteScope(ScopeKind.FULL)
AIOS_RUN = Path(sys.executable).with_name("aios-run")
AIOS_AGGREGATE = Path(sys.executable).with_name("aios-aggregate")


def ext(ext_id: str = "demo-ext") -> WriteScope:
    return WriteScope(ScopeKind.EXTENSION_ITEM, ext_id)


def _seeded(tmp: Path, doc: dict[str, Any] | str) -> Any:
    ctx = make_ctx(tmp)
    ctx.live_data_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.live_data_path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return ctx


def _with_items() -> dict[str, Any]:
    doc = example()
    doc["host"]["kernel"] = "6.1.0-real"
    doc["extensions"]["items"] = {"trend-finder-like": item(1), "other": item(2)}
    return doc


# -- an unknown key or a newer release's file ------------------------------------------------
@pytest.mark.parametrize("where", ["root", "extensions", "host"])
def test_one_unknown_key_drops_only_its_part_and_says_so(tmp_path: Path, where: str) -> None:
    doc = _with_items()
    {"root": doc, "extensions": doc["extensions"], "host": doc["host"]}[where]["futureThing"] = {"n": 1}
    ctx = _seeded(tmp_path, doc)
    branch = host_branch()
    del branch["host"]  # the host collector did not deliver: its previous value is kept if it can be
    result = write_live_data_for_scope(ctx, HOST, branch)
    assert result.outcome == "written" and result.base == "salvaged", result
    after = json.loads(ctx.live_data_path.read_bytes())
    schema.validate_document(after)
    assert after["extensions"]["items"] == doc["extensions"]["items"]  # every item kept
    expected = {"root": "$.futureThing", "extensions": "$.extensions.futureThing", "host": "$.host"}[where]
    assert len(result.dropped) == 1 and result.dropped[0].startswith(expected), result.dropped
    if where == "host":
        assert "host" not in after  # invalid and not replaced: unavailable, never a placeholder
    else:
        assert after["host"]["kernel"] == "6.1.0-real"


@pytest.mark.parametrize("scope", [HOST, ext(), FULL])
@pytest.mark.parametrize("version", [2, 10**50])
def test_a_newer_release_file_is_refused_and_kept_byte_for_byte(
    tmp_path: Path, scope: WriteScope, version: int
) -> None:
    doc = _with_items()
    doc["schemaVersion"] = version
    ctx = _seeded(tmp_path, doc)
    before = ctx.live_data_path.read_bytes()
    branch = {ScopeKind.HOST_LOCAL: host_branch(), ScopeKind.FULL: example()}.get(scope.kind, item(3))
    result = write_live_data_for_scope(ctx, scope, branch)
    assert result.outcome == "newer-version"
    assert result.rule is not None and "newer aios-systemd" in result.rule and str(version) not in result.rule
    assert ctx.live_data_path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"schemaVersion": 1, "generatedAt": NaN}', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"schemaVersion": 0}', "schemaVersion no release wrote"),
        ('{"schemaVersion": true}', "schemaVersion no release wrote"),
        ('{"schemaVersion": "1"}', "schemaVersion no release wrote"),
        ('{"schemaVersion": 1.0}', "schemaVersion no release wrote"),
        (b"\xff\xfe{}".decode("latin-1"), "not valid JSON"),
    ],
)
def test_a_file_that_cannot_be_read_as_an_artifact_is_refused_by_scoped_writes(
    tmp_path: Path, text: str, rule: str
) -> None:
    ctx = _seeded(tmp_path, text)
    before = ctx.live_data_path.read_bytes()
    for scope, branch in ((HOST, host_branch()), (ext(), item(1))):
        result = write_live_data_for_scope(ctx, scope, branch)
        assert result.outcome == "unusable" and rule in (result.rule or ""), result
        assert ctx.live_data_path.read_bytes() == before
    # The full scope owns all of it: it replaces such a file (a newer release's excepted).
    assert write_live_data_for_scope(ctx, FULL, example()).outcome == "written"


def test_nan_is_never_written(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    result = write_live_data_for_scope(ctx, ext(), item(1) | {"ratio": float("nan")})
    assert result.outcome == "invalid" and "cannot be written as JSON" in (result.rule or "")
    assert not ctx.live_data_path.exists()


def test_a_file_too_large_is_refused_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aios_systemd.data import writer

    ctx = _seeded(tmp_path, _with_items())
    before = ctx.live_data_path.read_bytes()
    monkeypatch.setattr(writer, "MAX_LIVE_DATA_BYTES", len(before) - 1)
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.outcome == "unusable" and "larger than" in (result.rule or "")
    assert ctx.live_data_path.read_bytes() == before


def test_too_many_items_keeps_the_first_ones_and_names_the_rest(tmp_path: Path) -> None:
    doc = _with_items()
    doc["extensions"]["items"] = {f"ext-{i:02d}": item(i) for i in range(40)}
    ctx = _seeded(tmp_path, doc)
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.outcome == "written"
    after = json.loads(ctx.live_data_path.read_bytes())
    assert list(after["extensions"]["items"]) == [f"ext-{i:02d}" for i in range(32)]
    assert len(result.dropped) == 8 and all("past the 32 extensions" in d for d in result.dropped)


def test_named_drops_are_bounded(tmp_path: Path) -> None:
    doc = _with_items()
    for i in range(50):
        doc[f"unknown{i}"] = i
    ctx = _seeded(tmp_path, doc)
    result = write_live_data_for_scope(ctx, ext(), item(9))
    assert result.outcome == "written"
    assert len(result.dropped) == 10 and result.dropped[-1] == "and 41 more"


def test_an_untame_unknown_key_is_not_echoed(tmp_path: Path) -> None:
    doc = _with_items()
    doc["/home/someone/secret path"] = 1
    ctx = _seeded(tmp_path, doc)
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.dropped == ("$.<key> is not a known field",)


# -- property: whatever is added, what validates is kept and the rest is named ------------------
_KEY = st.sampled_from(["futureThing", "x", "hostname", "items2", "generatedAtX"])
_JUNK = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2))
_PLACES = st.sampled_from(["root", "extensions", "host", "scheduler", "agents", "dream", "item", "item-stamp"])


@st.composite
def _edited(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    doc = _with_items()
    doc["extensions"]["items"]["third"] = item(3)
    places = draw(st.lists(_PLACES, max_size=4))
    for place in places:
        key, junk = draw(_KEY), draw(_JUNK)
        if place == "root":
            doc[f"root-{key}"] = junk
        elif place == "extensions":
            doc["extensions"][key] = junk
        elif place == "item":
            target = draw(st.sampled_from(sorted(doc["extensions"]["items"])))
            doc["extensions"]["items"][target][key] = junk  # items own their keys: allowed
        elif place == "item-stamp":
            target = draw(st.sampled_from(sorted(doc["extensions"]["items"])))
            doc["extensions"]["items"][target]["generatedAt"] = "not a time"
        else:
            doc[place][key] = junk
    return doc, places


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edited=_edited(), scope_pick=st.sampled_from(["host", "item"]))
def test_salvage_never_drops_silently(
    tmp_path: Path, edited: tuple[dict[str, Any], list[str]], scope_pick: str
) -> None:
    doc, places = edited
    ctx = _seeded(tmp_path, doc)
    if scope_pick == "host":
        scope, branch = HOST, {"schemaVersion": 1, "generatedAt": TS, "dream": host_branch()["dream"]}
    else:
        scope, branch = ext("new-one"), item(5)
    result = write_live_data_for_scope(ctx, scope, copy.deepcopy(branch))
    assert result.outcome == "written", result
    after = json.loads(ctx.live_data_path.read_bytes())
    schema.validate_document(after)
    named = "\n".join(result.dropped)
    # Every part of the old file is in the new one unchanged, replaced by this write, or named.
    for key, value in doc.items():
        if key in ("schemaVersion",) or (scope is HOST and key in branch):
            continue
        if key == "extensions":
            for ext_id, old in value["items"].items():
                if after["extensions"]["items"].get(ext_id) != old:
                    assert f"$.extensions.items.{ext_id}" in named
            for other in set(value) - {"items"}:
                assert f"$.extensions.{other}" in named
        elif after.get(key) != value:
            assert f"$.{key}" in named, (key, named)
    replaced = set(branch) if scope is HOST else set()
    assert bool(result.dropped) == any(p != "item" and p not in replaced for p in places)


# -- host-local branches never from an example; a kept one is recognisably stale -------------
def broken(_ctx: Any, _registry: Any) -> Collected:
    raise OSError("the host facts could not be read")


def _host_local(ctx: Any, *, host_ok: bool) -> orchestration.Aggregated:
    collectors = dict(orchestration.HOST_LOCAL_COLLECTORS)
    if not host_ok:
        collectors["host"] = f"{__name__}:broken"
    out = orchestration.collect_host_local(ctx, REGISTRY, collectors=collectors)
    result = write_live_data_for_scope(ctx, out.scope, out.document)
    assert result.outcome == "written", result
    return out


def test_a_failed_collector_on_a_new_file_leaves_its_branch_unavailable(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.live_data_example_path.parent.mkdir(parents=True)
    ctx.live_data_example_path.write_text(json.dumps(_with_items()))  # placeholders, not this machine's
    out = _host_local(ctx, host_ok=False)
    assert any("host collector failed" in w for w in out.warnings)
    model, source = read_live_data(ctx)
    assert source == "live" and model is not None
    assert model.host is None and model.extensions.items == {}
    assert "example-amd64" not in ctx.live_data_path.read_text()


def test_a_failed_collector_keeps_the_previous_real_branch_marked_by_its_age(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    _host_local(ctx, host_ok=True)
    first = json.loads(ctx.live_data_path.read_bytes())
    _host_local(ctx, host_ok=False)
    doc = json.loads(ctx.live_data_path.read_bytes())
    assert doc["host"] == first["host"]  # the previous real data
    assert doc["host"]["generatedAt"] < doc["generatedAt"]  # ... recognisably stale
    for fresh in ("scheduler", "agents", "dream"):
        assert doc[fresh]["generatedAt"] >= doc["generatedAt"]


# -- through the real commands ----------------------------------------------------------------
def _run(argv: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "INVOCATION_ID", "JOURNAL_STREAM"))}
    env.update({"HOME": str(tmp / "home"), "AIOS_SCHEDULER_ROOT": str(tmp / "sched")})
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_agent_aggregate_says_what_it_did_not_keep(tmp_path: Path) -> None:
    doc = _with_items()
    doc["futureThing"] = {"from": "a newer minor release"}
    ctx = _seeded(tmp_path, doc)
    done = _run([str(AIOS_RUN), "agent-aggregate", "--project-root", str(ctx.project_root), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["state"] == "degraded" and record["reason"] == "data-partly-kept"
    assert "generated data: not kept from the previous file: $.futureThing is not a known field" in record["warnings"]
    assert record["hint"] == hint_for("data-partly-kept", "agent-aggregate")
    after = json.loads(ctx.live_data_path.read_bytes())
    assert after["extensions"]["items"] == doc["extensions"]["items"]


def test_agent_aggregate_refuses_a_newer_file_with_a_hint(tmp_path: Path) -> None:
    doc = _with_items()
    doc["schemaVersion"] = 2
    ctx = _seeded(tmp_path, doc)
    before = ctx.live_data_path.read_bytes()
    done = _run([str(AIOS_RUN), "agent-aggregate", "--project-root", str(ctx.project_root)], tmp_path)
    assert done.returncode == 1
    assert "failed" in done.stdout and "reason data-newer-version" in done.stdout
    assert "error: agent-aggregate: failed, exit 1 (reason data-newer-version)" in done.stderr
    assert "hint: nothing was written" in done.stderr and "newer aios-systemd; upgrade" in done.stderr
    assert ctx.live_data_path.read_bytes() == before
    done = _run([str(AIOS_AGGREGATE), "--project-root", str(ctx.project_root)], tmp_path)
    assert done.returncode == 1
    assert "error: generated data was not written" in done.stderr and "hint: " in done.stderr
    assert "newer aios-systemd; upgrade" in done.stderr
    assert ctx.live_data_path.read_bytes() == before


# -- a killed write's temp file ------------------------------------------------------------------
def test_the_next_write_sweeps_a_killed_writes_temp_file(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data = ctx.live_data_path.parent
    killed = data / f".live-data.json.{dead.pid}.tmp"  # what a SIGKILL mid-write leaves
    killed.write_bytes(ctx.live_data_path.read_bytes())
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = data / f".live-data.json.{other.pid}.tmp"  # a writer still at work (another root)
        foreign = data / f".app-state.json.{dead.pid}.tmp"  # not ours: src/data is the app's too
        alive.write_text("{}")
        foreign.write_text("{}")
        assert write_live_data_for_scope(ctx, ext(), item(1)).outcome == "written"
        assert not killed.exists() and alive.exists() and foreign.exists()
    finally:
        other.kill()
        other.wait()
