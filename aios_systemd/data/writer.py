"""The one entry point that writes the generated data artifact, for a scope.

The Python counterpart of the runbook's ``writeGeneratedLiveDataForScope()``:

* ``host-local`` owns every root field except ``extensions`` and keeps the existing
  extension state.  A host-local field the branch leaves out (its collector failed) keeps
  its previous value, whose own ``generatedAt`` shows how old it is.
* ``extension-item`` owns ``extensions.items[<id>]`` only and keeps everything else.
* ``full`` owns the whole artifact.

Every write happens under the shared generated-data lock (``locks/generated-live-data.lock``
in the scheduler root, separate from the per-job run locks) with a bounded wait.  The merge
base is the current file; when there is none, an empty document.  The examples
(``src/data/live-data.example.json``, the packaged one) are never a merge base: their host
facts and extension items are placeholders, and a branch taken from them would present
them as this machine's data.  A host-local branch that has no current value is absent
(unavailable).  The merged document must pass schema validation and the privacy check
before anything is written; the write itself is an atomic replace, so a crash at any moment
leaves the old or the new valid file and the kernel drops the ``flock`` with its holder.

A current file that does not validate is never dropped silently (see :func:`_base`):

* one a newer release wrote (``schemaVersion`` above ours) is refused (``newer-version``):
  rewriting it as version 1 would downgrade it under its writer;
* one that cannot be used at all (not JSON, not an object, a ``schemaVersion`` no release
  wrote, unreadable, too large, not a regular file) is refused (``unusable``) by the scoped
  writes, which would otherwise replace the parts they do not own with nothing;
* a version-1 file keeps every branch and extension item that still validates; what does
  not (an unknown member, an invalid branch or item) is dropped *loudly*: the result names
  each (location and rule, never a value) and the run reports them as warnings.  Unknown
  members are not carried over: everything this writer publishes has passed the schema,
  and a release that adds a member bumps ``schemaVersion`` (so it is refused, not dropped).

The current file is validated only when this writer did not write it: each write records
the digest of its bytes in the private cache, and a write that finds such a file splices
instead of parsing it (the members it keeps are copied byte for byte around the newly
serialized branch, after their text passes the privacy check), so a large artifact is never
held as Python objects.  See "the write" below.

The file is "generated private app data": mode 0600.  The browser app (Vite) runs as the
same user and reads it at build or serve time, so nothing needs a wider mode.

Expected failures are returned as a :class:`WriteResult` outcome, never raised; its
``rule`` names the failed rule and where, never the offending value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from aios_systemd import fsio, memo
from aios_systemd.data import (
    HOST_LOCAL_BRANCHES,
    LIVE_DATA_LABEL,
    MAX_EXTENSIONS,
    MAX_LIVE_DATA_BYTES,
    SCHEMA_VERSION,
)
from aios_systemd.errors import AiosError
from aios_systemd.isotime import now_iso
from aios_systemd.record import Record
from aios_systemd.registry import JOB_ID, ScopeKind, WriteScope

if TYPE_CHECKING:
    from pathlib import Path

    from aios_systemd.context import Context
    from aios_systemd.privacy import Privacy, Violation

    from . import splice
    from .schema import LiveData

LIVE_DATA_MODE = fsio.PRIVATE_FILE_MODE
EXAMPLE_MODE = 0o644  # the example is committed, shareable data
PACKAGED_EXAMPLE = "live-data.example.json"

WRITTEN = "written"
LOCK_TIMEOUT = "lock-timeout"
INVALID = "invalid"
PRIVACY = "privacy"
IO_ERROR = "io-error"
NEWER_VERSION = "newer-version"  # the current file is a newer release's: never downgraded
UNUSABLE = "unusable"  # the current file cannot be read as an artifact: never replaced blind
# Where a write's base came from: the current file whole, the parts of it that still
# validate, nothing (there was no file), or nothing by design (a full write).
BASE_CURRENT, BASE_SALVAGED, BASE_NEW, BASE_REPLACED = "current", "salvaged", "new", "replaced"
MAX_DROPPED = 10  # named drops per write; more are counted
_RELPATH = "src/data/live-data.json"


class WriteResult(Record):
    outcome: str  # "written" | "lock-timeout" | "invalid" | "privacy" | "io-error" | "newer-version" | "unusable"
    rule: str | None  # which rule failed and where (never the offending value)
    generated_at: str | None  # the branch's generatedAt as written
    bytes_written: int
    # What of the current file the write did not keep, each "<location> <rule>" (never a
    # value); empty when it kept all of it.
    dropped: tuple[str, ...] = ()
    base: str = BASE_CURRENT

    @property
    def ok(self) -> bool:
        return self.outcome == WRITTEN


def _fail(outcome: str, rule: str) -> WriteResult:
    return WriteResult(outcome, rule, None, 0)


# -- reading ---------------------------------------------------------------------------
def packaged_example_bytes() -> bytes:
    return resources.files("aios_systemd.data").joinpath(PACKAGED_EXAMPLE).read_bytes()


def _load_valid(data: bytes | bytearray | None) -> tuple[dict[str, Any], LiveData] | None:
    """The document and its model when ``data`` is a valid artifact, else ``None``."""
    from pydantic import ValidationError

    from .schema import validate_document

    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    try:
        return doc, validate_document(doc)
    except (ValidationError, RecursionError):
        return None


def _read(path: Path, label: str) -> bytes | None:
    try:
        return fsio.read_bytes(path, label, MAX_LIVE_DATA_BYTES)
    except AiosError:
        return None  # unreadable, a symlink, too large: treated as missing


def _readable(ctx: Context) -> tuple[dict[str, Any], LiveData, str] | None:
    """What a reader should use and where it came from: the current file when it is valid,
    else an example (a shape for the browser app; readers that want this machine's data
    check the source)."""
    sources: tuple[tuple[str, Callable[[], bytes | bytearray | None]], ...] = (
        ("live", lambda: _read(ctx.live_data_path, LIVE_DATA_LABEL)),
        ("example", lambda: _read(ctx.live_data_example_path, "the example data file")),
        ("packaged-example", packaged_example_bytes),
    )
    for source, fetch in sources:
        loaded = _load_valid(fetch())
        if loaded is not None:
            return loaded[0], loaded[1], source
    return None


def read_live_data(ctx: Context) -> tuple[LiveData | None, str]:
    """The artifact a reader should use and where it came from: ``"live"``, ``"example"``,
    ``"packaged-example"`` or ``"missing"``.  Lock-free: writes are atomic renames."""
    base = _readable(ctx)
    if base is None:
        return None, "missing"
    return base[1], base[2]


def install_example(ctx: Context, *, force: bool = False) -> bool:
    """Copy the packaged example to the project's ``src/data/live-data.example.json`` when it
    is missing (or ``force``); returns whether it wrote.  The example is shareable (0644)."""
    path = ctx.live_data_example_path
    if not force and (path.exists() or path.is_symlink()):
        return False
    fsio.make_dirs(path.parent, "the generated data directory")
    fsio.atomic_write(path, packaged_example_bytes(), "the example data file", mode=EXAMPLE_MODE)
    return True


# -- merging ---------------------------------------------------------------------------
# What a scoped write keeps and what it sets, said once, over the members of the current
# document in either form: parsed values (the full path) or the byte spans the splicing
# scanner found (a file this writer wrote).  :func:`merge` makes a document of the result,
# :func:`_splice_pieces` the pieces of the new file; a property test holds the two equal.


class _Put(Record):
    """A member this write sets."""

    value: Any


class _Keep(Record):
    """A member of the current document, as it is (a value, or a ``splice.Member``)."""

    ref: Any


class _Open(Record):
    """A member of the current document, an object, some of whose own members change."""

    ref: Any
    members: list[tuple[str, _Node]]


_Node = _Put | _Keep | _Open
# A kept member's own members (it is an object, opened), from its reference.
_MembersOf = Callable[[Any], "list[tuple[str, Any]]"]


def _merged(
    root: list[tuple[str, Any]], scope: WriteScope, stamped: Mapping[str, Any], members_of: _MembersOf
) -> tuple[list[tuple[str, _Node]], int]:
    """The root members a write for ``scope`` leaves, from the current ``root`` members,
    and the number of extension items afterwards (for an extension-item write, else 0).

    * full: the branch is the document.
    * host-local: the branch's members replace theirs in place, new ones follow in the
      branch's order, members the branch leaves out are kept, the version marker is this
      release's, and ``extensions`` stays as it was, last.
    * extension-item: ``extensions.items[<id>]`` is set in its place, or added last."""
    if scope.kind is ScopeKind.FULL:
        return [(k, _Put(v)) for k, v in stamped.items()], 0
    if scope.kind is ScopeKind.HOST_LOCAL:
        new = {k: v for k, v in stamped.items() if k != "extensions"}
        new["schemaVersion"] = SCHEMA_VERSION  # the host-local scope owns the version marker
        members: list[tuple[str, _Node]] = []
        extensions: _Node = _Put({"items": {}})
        for key, ref in root:
            if key == "extensions":
                extensions = _Keep(ref)
            elif key in new:
                members.append((key, _Put(new.pop(key))))
            else:
                members.append((key, _Keep(ref)))
        members.extend((k, _Put(v)) for k, v in new.items())
        members.append(("extensions", extensions))
        return members, 0
    if scope.kind is ScopeKind.EXTENSION_ITEM and scope.extension_id:
        return _set(root, ("extensions", "items", scope.extension_id), dict(stamped), members_of)
    raise ValueError(f"scope {scope} is not a writable scope")


def _set(
    members: list[tuple[str, Any]], path: tuple[str, ...], value: Any, members_of: _MembersOf
) -> tuple[list[tuple[str, _Node]], int]:
    """``members`` with the member at ``path`` set to ``value``, in its place (the objects
    on the way opened) or added last (with the objects on the way), and how many members
    the object that holds it has."""
    key, rest = path[0], path[1:]
    out: list[tuple[str, _Node]] = []
    count = 1  # when the objects on the way are new, the value is their one member
    found = False
    for k, ref in members:
        if k != key:
            out.append((k, _Keep(ref)))
            continue
        found = True
        if rest:
            inner, count = _set(members_of(ref), rest, value, members_of)
            out.append((k, _Open(ref, inner)))
        else:
            out.append((k, _Put(value)))
    if not found:
        for part in reversed(rest):
            value = {part: value}
        out.append((key, _Put(value)))
    return out, count if rest else len(out)


def _value_members(value: Any) -> list[tuple[str, Any]]:
    # A missing or empty object stands for an empty one, as the artifact's defaults say.
    return list(value.items()) if isinstance(value, Mapping) else []


def _document(members: list[tuple[str, _Node]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, node in members:
        if isinstance(node, _Put):
            out[key] = node.value
        elif isinstance(node, _Keep):
            out[key] = node.ref
        else:
            out[key] = _document(node.members)
    return out


def merge(base: Mapping[str, Any], scope: WriteScope, branch: Mapping[str, Any]) -> dict[str, Any]:
    """The document a scoped write produces (pure; no validation, no stamping)."""
    return _document(_merged(list(base.items()), scope, branch, _value_members)[0])


def _too_many(count: int) -> WriteResult | None:
    # The one root constraint a valid item can break by being added.
    if count > MAX_EXTENSIONS:
        return _fail(INVALID, f"schema: $.extensions.items has more than {MAX_EXTENSIONS} extensions")
    return None


def _stamp(scope: WriteScope, branch: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    """The branch with ``generatedAt`` filled where it is missing (callers may pass the time
    their collection finished; otherwise the write time is the freshness)."""
    out = dict(branch)
    out.setdefault("generatedAt", stamp)
    if scope.kind in (ScopeKind.FULL, ScopeKind.HOST_LOCAL):
        for name in HOST_LOCAL_BRANCHES:
            value = out.get(name)
            if isinstance(value, Mapping) and "generatedAt" not in value:
                out[name] = {**value, "generatedAt": stamp}
    if scope.kind is ScopeKind.FULL:
        extensions = out.get("extensions")
        if isinstance(extensions, Mapping) and isinstance(extensions.get("items"), Mapping):
            items = {
                k: ({**v, "generatedAt": v.get("generatedAt", stamp)} if isinstance(v, Mapping) else v)
                for k, v in extensions["items"].items()
            }
            out["extensions"] = {**extensions, "items": items}
    if scope.kind is not ScopeKind.EXTENSION_ITEM:
        out.setdefault("schemaVersion", SCHEMA_VERSION)
    return out


def _validate(scope: WriteScope, branch: Mapping[str, Any]) -> str | None:
    """Schema-check what the write replaces; ``None`` when valid, else the rule.

    The models are compositional, so a valid base plus a valid branch is a valid document:
    the preserved part was validated when it was read as the base."""
    from pydantic import ValidationError

    from . import schema

    try:
        if scope.kind is ScopeKind.FULL:
            schema.LiveData.model_validate(branch)
        elif scope.kind is ScopeKind.HOST_LOCAL:
            if "extensions" in branch:
                return "scope: $.extensions is not owned by the host-local scope"
            # The root model checks the owned fields; extensions default to empty here.
            schema.LiveData.model_validate(branch)
        else:
            assert scope.extension_id is not None
            schema.ExtensionItem.model_validate(branch)
    except ValidationError as exc:
        prefix = f"$.extensions.items.{scope.extension_id}" if scope.kind is ScopeKind.EXTENSION_ITEM else "$"
        return schema.first_rule(exc, prefix)
    except RecursionError:
        return "schema: $ is nested too deeply"
    try:
        if scope.kind is ScopeKind.FULL:
            for ext_id, item in (branch.get("extensions") or {}).get("items", {}).items():
                _validate_item(ext_id, item)
        elif scope.kind is ScopeKind.EXTENSION_ITEM:
            assert scope.extension_id is not None
            _validate_item(scope.extension_id, branch)
    except _ItemInvalid as exc:
        return exc.rule
    return None


class _ItemInvalid(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def _validate_item(ext_id: str, item: Any) -> None:
    from pydantic import ValidationError

    from . import schema

    model = schema.extension_item_model(ext_id)
    if model is None:
        return
    try:
        model.model_validate(item)
    except ValidationError as exc:
        raise _ItemInvalid(schema.first_rule(exc, f"$.extensions.items.{ext_id}")) from None


def _scope_error(scope: WriteScope) -> str | None:
    if scope.kind is ScopeKind.EXTENSION_ITEM:
        if not scope.extension_id or not JOB_ID.fullmatch(scope.extension_id):
            return "scope: the extension id is missing or not a reviewed id shape"
        return None
    if scope.kind in (ScopeKind.HOST_LOCAL, ScopeKind.FULL):
        return None
    return f"scope: {scope.kind} is not a writable scope"


_ESCAPE = re.compile(r'\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt])')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match[str]) -> str:
    code = match.group()[1:]
    return chr(int(code[1:], 16)) if code[0] == "u" else _SIMPLE_ESCAPES[code]


def _text_clean(privacy: Privacy, text: str, reviewed: bool) -> bool:
    """Whether serialized JSON ``text`` passes the privacy rules, checked as text
    (``reviewed``: text of the root members only built-in collectors write; see
    :data:`FREE_TEXT_MEMBER`).

    Checking each of a large artifact's strings on its own dominates a write, so the
    serialized text is checked instead, with its escapes decoded so every key and string
    appears with its real characters.  For a clean document that is exact: JSON's
    structural characters are boundaries for every rule just as the start and end of a
    string are, and no rule's pattern can run across one (paths, e-mail addresses and user
    names stop at quotes and commas), so a string that breaks a rule on its own breaks it
    in the text.  When the text matches (also, rarely, across two strings or on a number),
    the caller walks the document, which alone decides and locates."""
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    return not any(True for _ in privacy.text_rules(text, reviewed=reviewed))


# Extension items carry text from outside sources (dataset titles): every privacy rule
# applies to them.  Every other root member is written by the built-in collectors from
# reviewed sources into strictly typed fields, where a secret's value or the user's name
# can only be a coincidence (the OS id ``debian`` of a machine whose user is ``debian``):
# only the rules about forms (paths, e-mail addresses, credentials) apply there.
FREE_TEXT_MEMBER = "extensions"


def _reviewed(member: str) -> bool:
    return member != FREE_TEXT_MEMBER


def artifact_violations(privacy: Privacy, doc: Mapping[str, Any]) -> list[Violation]:
    """Every privacy violation in a whole artifact, each root member under its own rules;
    ``extensions``, ``items`` and the extension ids are structure, an item's content is not."""
    found: list[Violation] = []
    for key, value in doc.items():
        found += privacy.violations({key: value}, reviewed=_reviewed(str(key)), structure=3)
    return found


def _serialize(doc: Mapping[str, Any]) -> str:
    """The whole file for ``doc`` at once: what the streamed write produces piece by piece."""
    return _ENCODER.encode(doc) + "\n"


def _prepare_lock_dir(ctx: Context) -> None:
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    fsio.ensure_private_dir(ctx.locks_dir, "the scheduler locks directory")


def write_live_data_for_scope(
    ctx: Context,
    scope: WriteScope,
    branch: Mapping[str, Any],
    *,
    lock_timeout: float = 30.0,
    on_written: Callable[[WriteResult], None] | None = None,
) -> WriteResult:
    """Merge ``branch`` into the artifact for ``scope`` and write it, or say why not.

    ``on_written`` is called right after a write lands; the stop signals (SIGTERM, SIGINT,
    SIGHUP) are held back from the start of the locked write until it returns, so a
    process stopped around the write has either written and said so, or not written."""
    from aios_systemd import stops
    from aios_systemd.locks import RunLock

    problem = _scope_error(scope)
    if problem is not None:
        return _fail(INVALID, problem)
    if not isinstance(branch, Mapping):
        return _fail(INVALID, "schema: $ must be an object")

    try:
        _prepare_lock_dir(ctx)
        lock = RunLock(ctx.data_lock_path, "the generated-data lock")
        got = lock.try_acquire(timeout=lock_timeout)
    except AiosError as exc:
        return _fail(IO_ERROR, f"lock: {exc.message}")
    if not got.acquired:
        return _fail(LOCK_TIMEOUT, f"lock: the generated-data lock was held for more than {lock_timeout:g}s")
    try:
        if on_written is None:
            return _write_locked(ctx, scope, branch)
        held = stops.block()
        try:
            result = _write_locked(ctx, scope, branch)
            if result.ok:
                on_written(result)
            return result
        finally:
            stops.unblock(held)
    finally:
        lock.release()


# -- the write -------------------------------------------------------------------------
# A scoped write into a large artifact must not hold the artifact as Python objects (about
# five times its size).  Every write records the digest of the bytes it wrote in the
# private cache; when the current file is one of those, it is known valid, so the write
# splices: it finds the byte spans of the members it keeps (``splice``), privacy-checks
# them as text, and copies them from the open file around the newly serialized branch.
# Any other file (hand-edited, written by something else, an example) takes the full
# path: parse, validate, merge, serialize, check.  Both end in the same streamed atomic
# replace, and both record what they wrote, so the full path runs once per foreign file.
MEMO_NAMESPACE = "live-data"
CHUNK = 1 << 20  # bytes of text checked, encoded or copied at a time
# Compact output: json's C encoder is only used without indentation, and the file is read
# by a program, not by people.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)  # NaN is not JSON


class _Value(Record):
    """A new member's value, serialized only once the old file's bytes are dropped."""

    value: Any


class _Zone(Record):
    """Where a root member begins: text up to the next zone is checked under the rules
    for ``reviewed`` text or not (see :data:`FREE_TEXT_MEMBER`)."""

    reviewed: bool


# What a write emits, in order: literal text, a byte range of the current file, a new
# value, and the zone of the root member that follows.
_Piece = str | tuple[int, int] | _Value | _Zone


class _BaseChanged(Exception):
    """The current file's kept bytes changed under the write (not by a writer holding the lock)."""


def _memo(ctx: Context) -> memo.Memo:
    return memo.Memo(ctx.cache_dir, MEMO_NAMESPACE)


def _memo_key(digest: str) -> str:
    # Validity is decided by the schema and what this module writes: an edit to either
    # (in a checkout, under the same version) must not trust files written before it.
    schema = os.path.join(os.path.dirname(__file__), "schema.py")
    return memo.key_of("valid-artifact", digest, memo.source_identity(__file__, schema))


def _known_valid(ctx: Context, data: bytes | bytearray) -> bool:
    """Whether this writer wrote exactly these bytes (so they passed validation)."""
    entry = _memo(ctx).get(_memo_key(hashlib.sha256(data).hexdigest()))
    return isinstance(entry, dict) and entry.get("bytes") == len(data)


def _write_locked(ctx: Context, scope: WriteScope, branch: Mapping[str, Any]) -> WriteResult:
    stamp = now_iso()
    stamped = _stamp(scope, branch, stamp)
    rule = _validate(scope, stamped)
    if rule is not None:
        return _fail(INVALID, rule)
    # A write killed mid-way leaves its temp file, a full private copy: the next write
    # (holding the lock, so no live writer of ours is mid-way) removes it.
    fsio.sweep_stale_temps(ctx.live_data_path.parent, ctx.live_data_path.name)
    try:
        fd = fsio.open_regular(ctx.live_data_path, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES)
    except AiosError as exc:  # a symlink, not a regular file, too large, unreadable
        return _unusable(exc)
    try:
        live: bytearray | None = None
        if fd is not None:
            try:
                live = fsio.read_fd(fd, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES)
            except AiosError as exc:
                return _unusable(exc)
        if live is not None and _known_valid(ctx, live):
            if scope.kind is ScopeKind.FULL:
                live = None  # a file this writer wrote is version 1: nothing to check
                return _write_merged(ctx, scope, stamped, ({}, (), BASE_REPLACED))
            planned = _plan(ctx, scope, stamped, live)
            if isinstance(planned, WriteResult):
                return planned
            if planned is not None:
                pieces, kept_digest = planned
                live = None  # the kept bytes are copied from the open file from here on
                assert fd is not None
                with contextlib.suppress(_BaseChanged):
                    done = _write_pieces(ctx, stamped, pieces, fd, kept_digest)
                    if done is not None:
                        return done
                try:  # the full path decides, on the file as it is now
                    again = fsio.read_bytes(ctx.live_data_path, LIVE_DATA_LABEL, MAX_LIVE_DATA_BYTES)
                except AiosError as exc:
                    return _unusable(exc)
                live = None if again is None else bytearray(again)
        if live is None:
            found: _Base | WriteResult = (
                {"schemaVersion": SCHEMA_VERSION, "generatedAt": stamped["generatedAt"]},
                (),
                BASE_NEW,
            )
        else:
            found = _base(scope, stamped, live)
        live = None
    finally:
        if fd is not None:
            os.close(fd)
    if isinstance(found, WriteResult):
        return found
    return _write_merged(ctx, scope, stamped, found)


def _unusable(exc: AiosError) -> WriteResult:
    return _fail(UNUSABLE, f"base: {exc.message}")


def _version_ok(version: object) -> bool | None:
    """``True`` for our version, ``None`` for a newer one, ``False`` for any other value."""
    if not isinstance(version, int) or isinstance(version, bool):
        return False
    if version > SCHEMA_VERSION:
        return None
    return version == SCHEMA_VERSION


def _strict_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the browser app's JSON.parse refuses the whole file.
    raise ValueError(f"{name} is not JSON")


_Base = tuple[dict[str, Any], tuple[str, ...], str]


def _base(scope: WriteScope, stamped: Mapping[str, Any], live: bytes | bytearray) -> _Base | WriteResult:
    """The merge base from the current file's bytes (parsed and validated as objects), what
    of the file it does not keep, and which kind of base it is; or the refusal."""
    try:
        doc = json.loads(live, parse_constant=_strict_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        doc = None
    version = _version_ok(doc.get("schemaVersion", SCHEMA_VERSION)) if isinstance(doc, dict) else False
    if version is None:
        return _fail(
            NEWER_VERSION,
            f"base: {_RELPATH} was written by a newer aios-systemd (schemaVersion above {SCHEMA_VERSION})",
        )
    if scope.kind is ScopeKind.FULL:
        return {}, (), BASE_REPLACED  # the full scope owns all of it
    if not isinstance(doc, dict):
        what = "is not valid JSON" if doc is None else "is not a JSON object"
        return _fail(UNUSABLE, f"base: {_RELPATH} {what}")
    if not version:
        return _fail(UNUSABLE, f"base: {_RELPATH} has a schemaVersion no release wrote")
    kept, dropped = _salvage(doc, scope, stamped)
    return kept, dropped, BASE_SALVAGED if dropped else BASE_CURRENT


def _salvage(
    doc: Mapping[str, Any], scope: WriteScope, stamped: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The parts of a version-1 document that still validate, in their order, and what was
    left out (``"<location> <rule>"``).  What this write replaces is not judged.

    The models are compositional (see :mod:`.schema`), so valid parts make a valid base."""
    from pydantic import ValidationError

    from . import schema

    dropped: list[str] = []

    def valid(prefix: str, check: Callable[..., object], *args: Any) -> bool:
        try:
            check(*args)
        except ValidationError as exc:
            dropped.append(schema.first_rule(exc, prefix).removeprefix("schema: "))
            return False
        except RecursionError:
            dropped.append(f"{prefix} is nested too deeply")
            return False
        return True

    owns_root = scope.kind is ScopeKind.HOST_LOCAL
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "schemaVersion" or (owns_root and key in stamped):
            kept[key] = value  # replaced by this write (schemaVersion is ours: checked)
        elif key == "generatedAt":
            if valid("$", schema.LiveData.model_validate, {"generatedAt": value}):
                kept[key] = value
        elif key in schema.HOST_LOCAL_MODELS:
            model = schema.HOST_LOCAL_MODELS[key]
            if value is None or valid(f"$.{key}", model.model_validate, value):
                kept[key] = value
        elif key == "extensions":
            kept[key] = _salvage_items(value, scope, valid, dropped)
        else:
            dropped.append(f"{schema.location('$', key)} is not a known field")
    kept["schemaVersion"] = SCHEMA_VERSION
    kept.setdefault("generatedAt", stamped["generatedAt"])  # the root needs one
    if len(dropped) > MAX_DROPPED:
        dropped[MAX_DROPPED - 1 :] = [f"and {len(dropped) - MAX_DROPPED + 1} more"]
    return kept, tuple(dropped)


def _salvage_items(value: object, scope: WriteScope, valid: Callable[..., bool], dropped: list[str]) -> dict[str, Any]:
    """``extensions`` with the items that still validate (at most the schema's number)."""
    from . import schema

    if not isinstance(value, dict):
        dropped.append("$.extensions must be an object")
        return {"items": {}}
    dropped.extend(f"{schema.location('$.extensions', k)} is not a known field" for k in value if k != "items")
    items = value.get("items", {})
    if not isinstance(items, dict):
        dropped.append("$.extensions.items must be an object")
        return {"items": {}}
    kept: dict[str, Any] = {}
    for ext_id, item in items.items():
        where = schema.location("$.extensions.items", ext_id)
        if scope.kind is ScopeKind.EXTENSION_ITEM and ext_id == scope.extension_id:
            kept[ext_id] = item  # replaced by this write, in its place
        elif len(kept) >= MAX_EXTENSIONS:
            dropped.append(f"{where} is past the {MAX_EXTENSIONS} extensions allowed")
        elif valid("$.extensions", schema.Extensions.model_validate, {"items": {ext_id: item}}) and valid(
            where, schema.validate_extension_item, ext_id, item
        ):
            kept[ext_id] = item
    return {"items": kept}


def _write_merged(ctx: Context, scope: WriteScope, stamped: Mapping[str, Any], found: _Base) -> WriteResult:
    """The full path: the whole document merged as objects from a validated base."""
    base, dropped, kind = found
    members, count = _merged(list(base.items()), scope, stamped, _value_members)
    refused = _too_many(count)
    if refused is not None:
        return refused
    merged = _document(members)
    pieces = [*_root([(k, _new(k, v)) for k, v in merged.items()]), "\n"]
    done = _write_pieces(ctx, stamped, pieces, None, b"", merged=merged)
    assert done is not None  # without kept ranges nothing falls back
    return done._replace(dropped=dropped, base=kind) if done.ok else done


def _write_pieces(
    ctx: Context,
    stamped: Mapping[str, Any],
    pieces: list[_Piece],
    fd: int | None,
    kept_digest: bytes,
    *,
    merged: Mapping[str, Any] | None = None,
) -> WriteResult | None:
    """Serialize the new values, check them, and stream the result into place.

    With kept ranges (``fd``), a privacy rule matching the new text returns ``None``: the
    full path then walks the whole merged document, which alone decides and locates."""
    try:
        parts = _render(pieces)
    except UnicodeEncodeError:
        return _fail(INVALID, "schema: $ contains text that is not valid Unicode")
    except (ValueError, TypeError, RecursionError):
        return _fail(INVALID, "schema: $ cannot be written as JSON")
    new_text = [p for p in parts if not isinstance(p, tuple)]
    if not _pieces_clean(ctx.privacy, new_text):
        if merged is None:
            return None
        violations = artifact_violations(ctx.privacy, merged)
        if violations:
            first = violations[0]
            more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
            return _fail(PRIVACY, f"privacy: {first.location} {first.rule}{more}")
    del new_text
    digest = hashlib.sha256()
    try:
        fsio.make_dirs(ctx.live_data_path.parent, "the generated data directory")
        written = fsio.atomic_write_chunks(
            ctx.live_data_path,
            _chunks(parts, fd, kept_digest, digest),
            LIVE_DATA_LABEL,
            mode=LIVE_DATA_MODE,
        )
    except UnicodeEncodeError:  # a lone surrogate: found while encoding, before any rename
        return _fail(INVALID, "schema: $ contains text that is not valid Unicode")
    except AiosError as exc:
        return _fail(IO_ERROR, f"write: {exc.message}")
    except OSError as exc:
        return _fail(IO_ERROR, f"write: {exc.strerror or 'I/O error'}")
    _memo(ctx).put(_memo_key(digest.hexdigest()), {"bytes": written})
    return WriteResult(WRITTEN, None, str(stamped.get("generatedAt")), written)


def _render(pieces: list[_Piece]) -> list[str | tuple[int, int] | _Zone]:
    """The pieces with each new value serialized (the C encoder's own chunks, never joined:
    joining them would hold the text twice)."""
    out: list[str | tuple[int, int] | _Zone] = []
    for piece in pieces:
        if isinstance(piece, _Value):
            out.extend(_ENCODER.iterencode(piece.value, _one_shot=True))
        else:
            out.append(piece)
    return out


def _chunks(
    parts: list[str | tuple[int, int] | _Zone], fd: int | None, kept_digest: bytes, digest: hashlib._Hash
) -> Iterator[bytes]:
    """The file's bytes, a chunk at a time: new text encoded, kept ranges read from ``fd``.

    Raises :class:`_BaseChanged` (before anything is renamed into place) when the kept
    bytes read now are not the ones checked."""
    kept = hashlib.sha256()
    for part in parts:
        if isinstance(part, _Zone):
            continue
        if isinstance(part, str):
            for at in range(0, len(part), CHUNK):
                data = part[at : at + CHUNK].encode("utf-8")
                digest.update(data)
                yield data
            continue
        assert fd is not None
        at, end = part
        while at < end:
            data = os.pread(fd, min(CHUNK, end - at), at)
            if not data:
                raise _BaseChanged
            digest.update(data)
            kept.update(data)
            yield data
            at += len(data)
    if fd is not None and kept.digest() != kept_digest:
        raise _BaseChanged


# -- splicing ----------------------------------------------------------------------------
def _plan(
    ctx: Context, scope: WriteScope, stamped: Mapping[str, Any], live: bytearray
) -> tuple[list[_Piece], bytes] | WriteResult | None:
    """The pieces of the merged file and the digest of the kept bytes, from a known-valid
    current file; ``None`` when the full path must decide (an unexpected shape, or a
    privacy rule matching the kept text)."""
    from . import splice

    try:
        pieces, count = _splice_pieces(live, scope, stamped)
    except splice.SpliceError:
        return None
    refused = _too_many(count)
    if refused is not None:
        return refused
    kept = _kept_ranges(pieces)
    if not _ranges_clean(ctx.privacy, live, kept):
        return None
    digest = hashlib.sha256()
    with memoryview(live) as view:
        for start, end, _ in kept:
            digest.update(view[start:end])
    return pieces, digest.digest()


def _splice_pieces(live: bytearray, scope: WriteScope, stamped: Mapping[str, Any]) -> tuple[list[_Piece], int]:
    """:func:`merge` of ``stamped`` into the document ``live`` as pieces of the new file
    (every kept member's bytes copied, in place), and the number of extension items
    afterwards (0 for host-local).  Raises :class:`splice.SpliceError` when ``live`` is
    not the shape expected."""
    from . import splice

    opened = ("extensions", "items") if scope.kind is ScopeKind.EXTENSION_ITEM else ()
    root = [(m.key, m) for m in splice.root_members(live, opened)]
    members, count = _merged(root, scope, stamped, lambda m: [(i.key, i) for i in m.inner or ()])
    return [*_root([(key, _member_pieces(key, node)) for key, node in members]), "\n"], count


def _member_pieces(key: str, node: _Node) -> list[_Piece]:
    if isinstance(node, _Put):
        return _new(key, node.value)
    m: splice.Member = node.ref
    if isinstance(node, _Keep):
        return [(m.start, m.end)]
    return [(m.start, m.value_start), *_object([_member_pieces(k, n) for k, n in node.members])]


def _kept_ranges(pieces: list[_Piece]) -> list[tuple[int, int, bool]]:
    """The byte ranges a write keeps, each with whether it lies in a reviewed member."""
    out: list[tuple[int, int, bool]] = []
    reviewed = False  # strictest until a zone says otherwise
    for piece in pieces:
        if isinstance(piece, _Zone):
            reviewed = piece.reviewed
        elif isinstance(piece, tuple):
            out.append((piece[0], piece[1], reviewed))
    return out


def _root(members: list[tuple[str, list[_Piece]]]) -> list[_Piece]:
    """The root object from its members, each preceded by its zone."""
    return _object([[_Zone(_reviewed(key)), *member] for key, member in members])


def _object(members: list[list[_Piece]]) -> list[_Piece]:
    out: list[_Piece] = ["{"]
    for i, member in enumerate(members):
        if i:
            out.append(",")
        out.extend(member)
    out.append("}")
    return out


def _new(key: str, value: Any) -> list[_Piece]:
    return [json.dumps(key, ensure_ascii=False) + ":", _Value(value)]


# -- the privacy check of text, a chunk at a time ----------------------------------------
def _delimiter(text: str | bytes | bytearray, lo: int, hi: int, *, last: bool) -> int:
    """The index of a string delimiter (a ``"`` not escaped) in ``text[lo:hi]``, the last or
    the first one; -1 when there is none."""
    quote, backslash = ('"', "\\") if isinstance(text, str) else (b'"', b"\\")
    while lo < hi:
        at = text.rfind(quote, lo, hi) if last else text.find(quote, lo, hi)  # type: ignore[arg-type]
        if at == -1:
            return -1
        escapes = at
        while escapes > 0 and text[escapes - 1 : escapes] == backslash:
            escapes -= 1
        if (at - escapes) % 2 == 0:
            return at
        if last:
            hi = at
        else:
            lo = at + 1
    return -1


def _spans(text: str | bytes | bytearray, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """``text[lo:hi]`` in spans of about :data:`CHUNK`, each cut just before a string
    delimiter.  Every key and string then lies whole in one span, between its quotes,
    and a span's ends are boundaries for every rule just as quotes are, so checking the
    spans one by one finds what checking the whole text finds (see
    :func:`_text_clean`)."""
    while hi - lo > CHUNK:
        cut = _delimiter(text, lo + 1, lo + CHUNK, last=True)
        if cut == -1:
            cut = _delimiter(text, lo + CHUNK, hi, last=False)
            if cut == -1:
                break
        yield lo, cut
        lo = cut
    yield lo, hi


def _ranges_clean(privacy: Privacy, data: bytearray, ranges: list[tuple[int, int, bool]]) -> bool:
    """Whether kept byte ranges of the current file pass the text check (each under its
    member's rules): the privacy rules may have changed since they were written (a new
    secret in the environment)."""
    with memoryview(data) as view:
        for start, end, reviewed in ranges:
            for lo, hi in _spans(data, start, end):
                try:
                    text = str(view[lo:hi], "utf-8")
                except UnicodeDecodeError:
                    return False
                if not _text_clean(privacy, text, reviewed):
                    return False
    return True


def _pieces_clean(privacy: Privacy, pieces: list[str | _Zone]) -> bool:
    """Whether the text ``pieces`` make, joined, passes the text check (never joined
    whole), each root member's text under its zone's rules."""
    carry = ""
    reviewed = False  # strictest until a zone says otherwise
    for piece in pieces:
        if isinstance(piece, _Zone):
            # A zone starts between members, where no string can run across.
            if not _text_clean_spans(privacy, carry, len(carry), reviewed):
                return False
            carry, reviewed = "", piece.reviewed
            continue
        text = carry + piece if carry else piece
        cut = _delimiter(text, 1, len(text), last=True)
        if cut == -1:
            carry = text
            continue
        if not _text_clean_spans(privacy, text, cut, reviewed):
            return False
        carry = text[cut:]
    return _text_clean_spans(privacy, carry, len(carry), reviewed)


def _text_clean_spans(privacy: Privacy, text: str, end: int, reviewed: bool) -> bool:
    return all(_text_clean(privacy, text[lo:hi], reviewed) for lo, hi in _spans(text, 0, end))
