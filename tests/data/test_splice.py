"""The splicing write: spans found without parsing, the same document as the dict merge,
the digest memo that decides which path a write takes, privacy of the kept bytes, and the
streamed atomic replace."""

from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios_systemd import fsio
from aios_systemd.data import schema, splice, writer
from aios_systemd.data.writer import write_live_data_for_scope
from aios_systemd.registry import ScopeKind, WriteScope
from tests.data.support import PRIVACY_PIECES, TS, canary_privacy, child_env, example, host_branch, item, make_ctx

ROOT = Path(__file__).resolve().parents[2]
HOST = WriteScope(ScopeKind.HOST_LOCAL)
FULL = WriteScope(ScopeKind.FULL)


def ext(ext_id: str = "demo-ext") -> WriteScope:
    return WriteScope(ScopeKind.EXTENSION_ITEM, ext_id)


# -- JSON with the awkward parts: escapes, brackets and quotes in strings, unicode, depth --
_chars = st.sampled_from(list('ab Z09,:{}[]"\\\n\t\x00é€\u2028😀-_.'))
_text = st.lists(_chars, max_size=12).map("".join)
_number = st.integers(-(10**15), 10**15) | st.floats(allow_nan=False, allow_infinity=False)
_leaf = _text | _number | st.booleans() | st.none()
_json = st.recursive(
    _leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=30
)


def _deep(depth: int) -> Any:
    value: Any = ["bottom", {"k]": "}{"}]
    for i in range(depth):
        value = {"level": i, "v": value} if i % 2 else [i, value, "]["]
    return value


_content = st.dictionaries(
    _text.filter(lambda k: k != "generatedAt"), _json | st.builds(_deep, st.integers(0, 12)), max_size=4
)
_ext_id = st.from_regex(r"[a-h][a-h0-9-]{0,6}[a-h0-9]", fullmatch=True)
_items = st.dictionaries(_ext_id, st.builds(lambda c: {"generatedAt": TS, **c}, _content), max_size=5)


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid artifacts in random key order, some root fields missing or null."""
    doc = example()
    doc["host"]["kernel"] = draw(st.sampled_from(["6.1.0", "k é 😀", 'q"uote\\d']))
    for name in draw(st.sets(st.sampled_from(["host", "scheduler", "agents", "dream"]))):
        doc[name] = None
    for name in draw(st.sets(st.sampled_from(["host", "scheduler", "agents", "dream", "schemaVersion"]))):
        doc.pop(name)
    extensions = draw(st.sampled_from(["items", "empty", "absent"]))
    if extensions == "absent":
        doc.pop("extensions")
    else:
        doc["extensions"] = {"items": draw(_items)} if extensions == "items" else {}
    keys = draw(st.permutations(list(doc)))
    return {k: doc[k] for k in keys}


def _spliced(base_text: bytes, scope: WriteScope, stamped: dict[str, Any]) -> tuple[bytes, int]:
    """What the splicing write would put in the file (pieces resolved against the base)."""
    pieces, count = writer._splice_pieces(bytearray(base_text), scope, stamped)
    parts = writer._render(pieces)
    return (
        b"".join(
            p.encode() if isinstance(p, str) else base_text[p[0] : p[1]] for p in parts if isinstance(p, str | tuple)
        ),
        count,
    )


def _merged(base: dict[str, Any], scope: WriteScope, stamped: dict[str, Any]) -> dict[str, Any]:
    """What the dict merge (the full path) writes."""
    merged = writer.merge(copy.deepcopy(base), scope, stamped)
    if scope.kind is ScopeKind.HOST_LOCAL:
        merged["schemaVersion"] = 1
    return merged


def _ordered(text: bytes | str) -> str:
    """The document with its key order, compared as canonical text (dict equality ignores order)."""
    return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


# -- the scanner -----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    doc=st.dictionaries(_text, _json | st.builds(_deep, st.integers(0, 12))),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_members_are_the_spans_of_each_value(doc: dict[str, Any], indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    found = splice.root_members(text)
    assert [m.key for m in found] == list(doc)
    for m in found:
        assert json.loads(text[m.value_start : m.end]) == doc[m.key]
        assert json.loads(b"{" + text[m.start : m.end] + b"}") == {m.key: doc[m.key]}


def test_opening_a_path_finds_the_inner_members() -> None:
    text = b' {"a": [1, {"b": "]"}], "extensions" : {"x": 1, "items": {"one": {"k": [[[]]]}, "two": "t"}}} \n'
    root = splice.root_members(text, ("extensions", "items"))
    assert [m.key for m in root] == ["a", "extensions"] and root[0].inner is None
    ext = root[1].inner
    assert ext is not None and [m.key for m in ext] == ["x", "items"] and ext[0].inner is None
    items = ext[1].inner
    assert items is not None and [(m.key, text[m.value_start : m.end]) for m in items] == [
        ("one", b'{"k": [[[]]]}'),
        ("two", b'"t"'),
    ]


def test_deep_nesting_is_skipped_bracket_by_bracket() -> None:
    value = _deep(60)
    text = json.dumps({"deep": value, "after": 1}).encode()
    found = splice.root_members(text)
    assert json.loads(text[found[0].value_start : found[0].end]) == value
    assert [m.key for m in found] == ["deep", "after"]


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"[]",
        b'{"a":1',
        b'{"a":1}x',
        b'{"a" 1}',
        b'{"a":1,"a":2}',
        b'{"a":[1}',
        b'{"a":"x}',
        b'{"a":NaN}',
        b"{1:2}",
        b'{"a":{"b":1}',
    ],
)
def test_what_the_scanner_does_not_expect_raises(text: bytes) -> None:
    with pytest.raises(splice.SpliceError):
        splice.root_members(text, ("a",))


# -- the splice is the dict merge ------------------------------------------------------------
EQUIVALENCE = settings(max_examples=150, deadline=None)


@EQUIVALENCE
@given(
    base=_documents(), branch=_documents(), leave_out=st.sets(st.sampled_from(["host", "scheduler", "agents", "dream"]))
)
def test_host_local_splice_is_the_dict_merge(base: dict[str, Any], branch: dict[str, Any], leave_out: set[str]) -> None:
    stamped = {k: v for k, v in branch.items() if k not in leave_out and k != "extensions"}
    stamped.setdefault("generatedAt", TS)
    stamped.setdefault("schemaVersion", 1)
    expected = writer._serialize(_merged(base, HOST, stamped)).encode()
    # The writer's own compact output: byte for byte what the full path writes.
    out, _ = _spliced(writer._serialize(base).encode(), HOST, stamped)
    assert out == expected
    # Any other layout (a file it did not write): the same document, key order included.
    out, _ = _spliced(json.dumps(base, indent=2).encode(), HOST, stamped)
    assert _ordered(out) == _ordered(expected)


@EQUIVALENCE
@given(base=_documents(), target=_ext_id, content=_content)
def test_extension_item_splice_is_the_dict_merge(base: dict[str, Any], target: str, content: dict[str, Any]) -> None:
    stamped = {"generatedAt": TS, **content}
    merged = _merged(base, ext(target), stamped)
    expected = writer._serialize(merged).encode()
    out, count = _spliced(writer._serialize(base).encode(), ext(target), stamped)
    assert out == expected
    assert count == len(merged["extensions"]["items"])
    out, _ = _spliced(json.dumps(base, indent=1, ensure_ascii=True).encode(), ext(target), stamped)
    assert _ordered(out) == _ordered(expected)


# -- the digest memo decides the path ------------------------------------------------------
class _Spy:
    """Counts full-path writes (the base parsed and validated as objects)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = writer._base

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    s = _Spy()
    monkeypatch.setattr(writer, "_base", s)
    return s


def _memo_entries(ctx: Any) -> list[Path]:
    return sorted(ctx.cache_dir.glob(f"{writer.MEMO_NAMESPACE}-*.json"))


def test_a_file_this_writer_wrote_is_spliced_not_parsed(tmp_path: Path, spy: _Spy) -> None:
    ctx = make_ctx(tmp_path)
    doc = example()
    doc["extensions"]["items"] = {"demo-ext": item(1), "other": item(2) | {"note": 'a "quoted" ] {x}'}}
    assert write_live_data_for_scope(ctx, FULL, doc).outcome == "written"
    assert spy.calls == 0 and len(_memo_entries(ctx)) == 1
    entry = json.loads(_memo_entries(ctx)[0].read_bytes())
    assert entry == {"bytes": ctx.live_data_path.stat().st_size}  # a size, never content

    before = json.loads(ctx.live_data_path.read_bytes())
    result = write_live_data_for_scope(ctx, HOST, host_branch(kernel="6.1.9-splice"))
    assert result.outcome == "written" and spy.calls == 0
    expected = _merged(before, HOST, writer._stamp(HOST, host_branch(kernel="6.1.9-splice"), TS))
    assert ctx.live_data_path.read_bytes() == writer._serialize(expected).encode()
    assert result.bytes_written == ctx.live_data_path.stat().st_size

    result = write_live_data_for_scope(ctx, ext("demo-ext"), item(5))
    assert result.outcome == "written" and spy.calls == 0
    after = json.loads(ctx.live_data_path.read_bytes())
    assert after["extensions"]["items"] == {"demo-ext": item(5), "other": doc["extensions"]["items"]["other"]}
    assert list(after) == list(expected)
    schema.validate_document(after)
    assert stat.S_IMODE(ctx.live_data_path.stat().st_mode) == 0o600


WRITES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@WRITES
@given(base=_documents(), branch=_documents(), target=_ext_id, content=_content)
def test_spliced_writes_are_what_the_full_path_writes(
    tmp_path: Path, spy: _Spy, base: dict[str, Any], branch: dict[str, Any], target: str, content: dict[str, Any]
) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, FULL, base).outcome == "written"
    spy.calls = 0
    host = {k: v for k, v in branch.items() if k != "extensions"}
    for scope, value in ((HOST, host), (ext(target), {"generatedAt": TS, **content})):
        before = json.loads(ctx.live_data_path.read_bytes())
        result = write_live_data_for_scope(ctx, scope, value)
        assert result.outcome == "written", result.rule
        expected = writer._serialize(_merged(before, scope, writer._stamp(scope, value, TS)))
        assert ctx.live_data_path.read_bytes() == expected.encode()
    assert spy.calls == 0


def test_an_edited_schema_distrusts_files_written_before_it(
    tmp_path: Path, spy: _Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editable install keeps its version while its code changes: what an older schema
    # accepted is validated again, not spliced.
    code = tmp_path / "code"
    code.mkdir()
    (code / "writer.py").write_text("# stands in for the writer's source\n")
    (code / "schema.py").write_text("# stands in for the schema's source\n")
    monkeypatch.setattr(writer, "__file__", str(code / "writer.py"))
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, FULL, example()).outcome == "written"
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    assert spy.calls == 0
    (code / "schema.py").write_text("# the schema was edited\n")
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    assert spy.calls == 1
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    assert spy.calls == 1  # its own output is known again


def test_a_hand_edited_file_is_validated_in_full_once(tmp_path: Path, spy: _Spy) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    spy.calls = 0
    doc = json.loads(ctx.live_data_path.read_bytes())
    doc["extensions"]["items"]["by-hand"] = item(3)
    ctx.live_data_path.write_text(json.dumps(doc, indent=2))  # valid, but not bytes this writer wrote
    assert write_live_data_for_scope(ctx, HOST, host_branch(kernel="6.1.1")).outcome == "written"
    assert spy.calls == 1
    assert json.loads(ctx.live_data_path.read_bytes())["extensions"]["items"]["by-hand"] == item(3)
    # The write recorded its own output: the next one splices.
    assert write_live_data_for_scope(ctx, HOST, host_branch(kernel="6.1.2")).outcome == "written"
    assert spy.calls == 1


@pytest.mark.parametrize(
    ("edit", "outcome", "dropped"),
    [
        (lambda d: d.update(schemaVersion=2), "newer-version", None),
        (lambda d: d["extensions"]["items"].update({"Bad Id": item()}), "written", "$.extensions.items.<key>"),
        (lambda d: d["extensions"]["items"]["demo-ext"].pop("generatedAt"), "written", "demo-ext.generatedAt"),
        (lambda d: d["host"].update(hostname="canary"), "written", None),  # the write replaces host
    ],
)
def test_an_invalid_hand_edit_keeps_what_still_validates(
    tmp_path: Path, spy: _Spy, edit: Any, outcome: str, dropped: str | None
) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    assert write_live_data_for_scope(ctx, ext(), item(1)).outcome == "written"
    assert write_live_data_for_scope(ctx, ext("other"), item(2)).outcome == "written"
    doc = json.loads(ctx.live_data_path.read_bytes())
    edit(doc)
    ctx.live_data_path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    before = ctx.live_data_path.read_bytes()
    spy.calls = 0
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.outcome == outcome and spy.calls == 1
    if outcome != "written":
        assert ctx.live_data_path.read_bytes() == before
        return
    after = json.loads(ctx.live_data_path.read_bytes())
    schema.validate_document(after)
    assert after["extensions"]["items"]["other"] == item(2)  # never dropped with the invalid one
    if dropped is None:
        assert result.dropped == () and result.base == "current"
    else:
        assert len(result.dropped) == 1 and dropped in result.dropped[0] and result.base == "salvaged"
        assert "canary" not in result.dropped[0]


def test_an_edit_that_keeps_the_recorded_bytes_elsewhere_is_still_a_miss(tmp_path: Path, spy: _Spy) -> None:
    """The memo is keyed by the digest of the whole file: one changed byte is a miss."""
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, ext(), item(1) | {"n": 12345}).outcome == "written"
    data = ctx.live_data_path.read_bytes()
    ctx.live_data_path.write_bytes(data.replace(b'"n":12345', b'"n":54321'))
    spy.calls = 0
    assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"
    assert spy.calls == 1


# -- privacy of the kept bytes ---------------------------------------------------------------
SECRET = "canary-secret-K9"


def test_kept_bytes_are_checked_against_todays_privacy_rules(tmp_path: Path, spy: _Spy) -> None:
    """Written while the value was no secret; the environment now says it is one."""
    before_ctx = make_ctx(tmp_path)
    planted = item(1) | {"title": f"note {SECRET} here"}
    assert write_live_data_for_scope(before_ctx, ext("notes"), planted).outcome == "written"
    data = before_ctx.live_data_path.read_bytes()
    ctx = make_ctx(tmp_path, {"AIOS_TEST_API_TOKEN": SECRET})
    spy.calls = 0
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.outcome == "privacy"
    assert result.rule == "privacy: $.extensions.items.notes.title contains a secret value"
    assert SECRET not in (result.rule or "")
    assert spy.calls == 1  # the splice saw the kept text match and let the full walk decide
    assert ctx.live_data_path.read_bytes() == data
    # Another item's write keeps the planted one too: refused as well.
    assert write_live_data_for_scope(ctx, ext("demo-ext"), item(2)).outcome == "privacy"
    for entry in _memo_entries(ctx):
        assert SECRET.encode() not in entry.read_bytes()


def test_a_secret_planted_by_hand_is_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"AIOS_TEST_API_TOKEN": SECRET})
    assert write_live_data_for_scope(ctx, ext("demo-ext"), item(1)).outcome == "written"
    doc = json.loads(ctx.live_data_path.read_bytes())
    doc["extensions"]["items"]["demo-ext"]["titles"].append(f"pasted {SECRET}")
    ctx.live_data_path.write_text(json.dumps(doc))
    data = ctx.live_data_path.read_bytes()
    result = write_live_data_for_scope(ctx, HOST, host_branch())
    assert result.outcome == "privacy"
    assert result.rule is not None and "$.extensions.items.demo-ext.titles[1] contains a secret value" in result.rule
    assert SECRET not in result.rule
    assert ctx.live_data_path.read_bytes() == data


def test_a_new_branch_breaking_a_rule_is_located_by_the_full_walk(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"AIOS_TEST_API_TOKEN": SECRET})
    assert write_live_data_for_scope(ctx, ext("demo-ext"), item(1)).outcome == "written"
    data = ctx.live_data_path.read_bytes()
    result = write_live_data_for_scope(ctx, ext("demo-ext"), item(2) | {"deep": [{"x": f"a{SECRET}"}]})
    assert result.rule == "privacy: $.extensions.items.demo-ext.deep[0].x contains a secret value"
    assert ctx.live_data_path.read_bytes() == data


_pieces = st.sampled_from([*PRIVACY_PIECES, "[", "}"])
_ptext = st.lists(_pieces, max_size=8).map("".join)
_pjson = st.recursive(
    st.one_of(_ptext, st.integers(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ptext, inner, max_size=3),
    max_leaves=16,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(_ptext, _pjson, max_size=5), chunk=st.integers(1, 40), cuts=st.lists(st.integers(0, 400)))
def test_the_chunked_text_check_misses_nothing_the_walk_finds(doc: dict[str, Any], chunk: int, cuts: list[int]) -> None:
    privacy = canary_privacy()
    text = writer._serialize(doc)
    whole_clean = writer._text_clean(privacy, text, False)
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    data = bytearray(text.encode())
    with mock.patch.object(writer, "CHUNK", chunk):
        pieces_clean = writer._pieces_clean(privacy, pieces)
        ranges_clean = writer._ranges_clean(privacy, data, [(0, len(data), False)])
    walk = privacy.violations(doc)
    for clean in (pieces_clean, ranges_clean):
        assert not (walk and clean), walk  # whatever the walk finds, the chunks find
        assert clean or not whole_clean  # chunks never match where the whole text does not


# -- the streamed replace --------------------------------------------------------------------
def test_kept_bytes_changed_under_the_write_take_the_full_path(
    tmp_path: Path, spy: _Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign writer (not holding the lock) rewrote the file in place after it was read:
    the copy no longer matches what was checked, so nothing of it is renamed into place."""
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, ext("other"), item(7)).outcome == "written"
    real_pread = os.pread

    def tampered(fd: int, n: int, offset: int) -> bytes:
        return real_pread(fd, n, offset).replace(b'"count":7', b'"count":8')

    monkeypatch.setattr(writer.os, "pread", tampered)
    spy.calls = 0
    assert write_live_data_for_scope(ctx, HOST, host_branch(kernel="6.1.4")).outcome == "written"
    assert spy.calls == 1
    doc = json.loads(ctx.live_data_path.read_bytes())
    assert doc["extensions"]["items"]["other"]["count"] == 7 and doc["host"]["kernel"] == "6.1.4"
    assert not [p for p in ctx.live_data_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_streamed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, ext(), item(1) | {"pad": ["x" * 1000] * 3000}).outcome == "written"
    before = ctx.live_data_path.read_bytes()
    real_write = os.write
    calls = {"n": 0}

    def failing(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(fsio.os, "write", failing)
    result = write_live_data_for_scope(ctx, HOST, host_branch(kernel="6.1.5"))
    assert result.outcome == "io-error" and "No space left" in (result.rule or "")
    assert ctx.live_data_path.read_bytes() == before
    assert not [p for p in ctx.live_data_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_file_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    old = os.umask(0)
    try:
        assert write_live_data_for_scope(ctx, FULL, example()).outcome == "written"
        ctx.live_data_path.chmod(0o644)
        assert write_live_data_for_scope(ctx, HOST, host_branch()).outcome == "written"  # spliced
        assert stat.S_IMODE(ctx.live_data_path.stat().st_mode) == 0o600
        os.umask(0o077)
        assert write_live_data_for_scope(ctx, ext(), item()).outcome == "written"
        assert stat.S_IMODE(ctx.live_data_path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_large_write_killed_mid_stream_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    """SIGKILL while multi-megabyte writes stream (both paths, the splice mostly): the file
    is always a complete valid document, and the temporary file left is one the runner's
    sweep recognises and removes."""
    ctx = make_ctx(tmp_path)
    assert write_live_data_for_scope(ctx, ext(), item(0)).outcome == "written"
    landed = 0
    for i, mode in enumerate(["item", "host", "item", "host", "item", "full"]):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.data.writer_child", str(tmp_path / "project"), mode, "50", "40000"],
            cwd=ROOT,
            env=child_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        landed += bool(child.stdout.readline().strip())  # one large write landed
        time.sleep(0.05 * (i % 3))
        child.send_signal(signal.SIGKILL)
        child.communicate()
        doc = json.loads(ctx.live_data_path.read_bytes())
        schema.validate_document(doc)
        for leftover in ctx.live_data_path.parent.glob(".*.tmp"):
            assert fsio._TEMP.fullmatch(leftover.name)
        fsio.sweep_stale_temps(ctx.live_data_path.parent)
        assert not list(ctx.live_data_path.parent.glob(".*.tmp"))
        assert stat.S_IMODE(ctx.live_data_path.stat().st_mode) == 0o600
    assert landed


# -- the fsio pieces the streamed write stands on ----------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 4096, (1 << 20) + 3])
def test_read_fd_reads_the_whole_file_from_its_start(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    fd = fsio.open_regular(path, "a file", size + 10)
    assert fd is not None
    try:
        os.lseek(fd, size // 2, os.SEEK_SET)  # the descriptor's offset does not matter
        assert bytes(fsio.read_fd(fd, "a file", size + 10)) == data
        with open(path, "ab") as fh:  # grown after it was opened
            fh.write(b"more")
        assert bytes(fsio.read_fd(fd, "a file", size + 10)) == data + b"more"
        with pytest.raises(fsio.StorageError):
            fsio.read_fd(fd, "a file", size + 3)
    finally:
        os.close(fd)
    assert fsio.open_regular(tmp_path / "missing", "a file", 10) is None


def test_atomic_write_chunks_leaves_the_old_file_when_the_chunks_fail(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    fsio.atomic_write(path, b"old", "a file")

    def chunks() -> Any:
        yield b"new, half"
        raise RuntimeError("the producer failed")

    with pytest.raises(RuntimeError):
        fsio.atomic_write_chunks(path, chunks(), "a file")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]
    assert fsio.atomic_write_chunks(path, iter([b"ne", bytearray(b"w"), memoryview(b"!")]), "a file") == 4
    assert path.read_bytes() == b"new!" and stat.S_IMODE(path.stat().st_mode) == 0o600
