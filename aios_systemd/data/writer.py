"""The one entry point that writes the generated data artifact, for a scope.

The Python counterpart of the runbook's ``writeGeneratedLiveDataForScope()``:

* ``host-local`` owns every root field except ``extensions`` and keeps the existing
  extension state.  A host-local field the branch leaves out (its collector failed) keeps
  its previous value, whose own ``generatedAt`` shows how old it is.
* ``extension-item`` owns ``extensions.items[<id>]`` only and keeps everything else.
* ``full`` owns the whole artifact.

Every write happens under the shared generated-data lock (``locks/generated-live-data.lock``
in the scheduler root, separate from the per-job run locks) with a bounded wait.  The merge
base is the current file; when it is missing or invalid, the project's
``src/data/live-data.example.json``; when that is missing or invalid too, the example shipped
in this package.  The merged document must pass schema validation and the privacy check
before anything is written; the write itself is an atomic replace, so a crash at any moment
leaves the old or the new valid file and the kernel drops the ``flock`` with its holder.

The file is "generated private app data": mode 0600.  The browser app (Vite) runs as the
same user and reads it at build or serve time, so nothing needs a wider mode.

Expected failures are returned as a :class:`WriteResult` outcome, never raised; its
``rule`` names the failed rule and where, never the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from aios_systemd import fsio
from aios_systemd.errors import AiosError
from aios_systemd.registry import JOB_ID, ScopeKind, WriteScope

if TYPE_CHECKING:
    from pathlib import Path

    from aios_systemd.context import Context
    from aios_systemd.privacy import Privacy, Violation

    from .schema import LiveData

LIVE_DATA_MODE = fsio.PRIVATE_FILE_MODE
EXAMPLE_MODE = 0o644  # the example is committed, shareable data
MAX_LIVE_DATA_BYTES = 256 << 20
PACKAGED_EXAMPLE = "live-data.example.json"
MAX_EXTENSIONS = 32  # schema.MAX_EXTENSIONS, without importing pydantic at module load
HOST_LOCAL_BRANCH_NAMES = ("host", "scheduler", "agents", "dream")

WRITTEN = "written"
LOCK_TIMEOUT = "lock-timeout"
INVALID = "invalid"
PRIVACY = "privacy"
IO_ERROR = "io-error"


@dataclass(frozen=True)
class WriteResult:
    outcome: str  # "written" | "lock-timeout" | "invalid" | "privacy" | "io-error"
    rule: str | None  # which rule failed and where (never the offending value)
    generated_at: str | None  # the branch's generatedAt as written
    bytes_written: int

    @property
    def ok(self) -> bool:
        return self.outcome == WRITTEN


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fail(outcome: str, rule: str) -> WriteResult:
    return WriteResult(outcome, rule, None, 0)


# -- reading ---------------------------------------------------------------------------
def packaged_example_bytes() -> bytes:
    return resources.files("aios_systemd.data").joinpath(PACKAGED_EXAMPLE).read_bytes()


def _load_valid(data: bytes | None) -> tuple[dict[str, Any], LiveData] | None:
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


def _base(ctx: Context) -> tuple[dict[str, Any], LiveData, str] | None:
    sources: tuple[tuple[str, Callable[[], bytes | None]], ...] = (
        ("live", lambda: _read(ctx.live_data_path, "the generated data file")),
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
    base = _base(ctx)
    if base is None:
        return None, "missing"
    return base[1], base[2]


def install_example(ctx: Context, *, force: bool = False) -> bool:
    """Copy the packaged example to the project's ``src/data/live-data.example.json`` when it
    is missing (or ``force``); returns whether it wrote.  The example is shareable (0644)."""
    path = ctx.live_data_example_path
    if not force and (path.exists() or path.is_symlink()):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fsio.atomic_write(path, packaged_example_bytes(), "the example data file", mode=EXAMPLE_MODE)
    return True


# -- merging ---------------------------------------------------------------------------
def merge(base: Mapping[str, Any], scope: WriteScope, branch: Mapping[str, Any]) -> dict[str, Any]:
    """The document a scoped write produces (pure; no validation, no stamping)."""
    if scope.kind is ScopeKind.FULL:
        return dict(branch)
    if scope.kind is ScopeKind.HOST_LOCAL:
        out = {k: v for k, v in base.items() if k != "extensions"}
        out.update({k: v for k, v in branch.items() if k != "extensions"})
        out["extensions"] = base.get("extensions", {"items": {}})
        return out
    if scope.kind is ScopeKind.EXTENSION_ITEM and scope.extension_id:
        out = dict(base)
        extensions = dict(out.get("extensions") or {})
        items = dict(extensions.get("items") or {})
        items[scope.extension_id] = dict(branch)
        extensions["items"] = items
        out["extensions"] = extensions
        return out
    raise ValueError(f"scope {scope} is not a writable scope")


def _stamp(scope: WriteScope, branch: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    """The branch with ``generatedAt`` filled where it is missing (callers may pass the time
    their collection finished; otherwise the write time is the freshness)."""
    out = dict(branch)
    out.setdefault("generatedAt", stamp)
    if scope.kind in (ScopeKind.FULL, ScopeKind.HOST_LOCAL):
        for name in HOST_LOCAL_BRANCH_NAMES:
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
        out.setdefault("schemaVersion", 1)
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


def privacy_violations(privacy: Privacy, doc: Mapping[str, Any], text: str) -> list[Violation]:
    """``privacy.violations(doc)``, fast for the common clean document.

    ``text`` is ``doc`` serialized as JSON.  Checking each of a large artifact's strings on
    its own dominates a write, so the serialized text is checked once instead, with its
    escapes decoded so every key and string appears with its real characters.  For a clean
    document that is exact: JSON's structural characters are boundaries for every rule
    just as the start and end of a string are, and no rule's pattern can run across one
    (paths, e-mail addresses and user names stop at quotes and commas), so a string that
    breaks a rule on its own breaks it in the text.  When the text matches (also, rarely,
    across two strings or on a number), the full walk runs and alone decides and locates."""
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    if not any(True for _ in privacy.text_rules(text)):
        return []
    return privacy.violations(doc)


def _serialize(doc: Mapping[str, Any]) -> str:
    # Compact output: json's C encoder is only used without indentation, and the file is
    # read by a program, not by people.
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _prepare_lock_dir(ctx: Context) -> None:
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    fsio.ensure_private_dir(ctx.locks_dir, "the scheduler locks directory")


def write_live_data_for_scope(
    ctx: Context,
    scope: WriteScope,
    branch: Mapping[str, Any],
    *,
    lock_timeout: float = 30.0,
) -> WriteResult:
    """Merge ``branch`` into the artifact for ``scope`` and write it, or say why not."""
    from aios_systemd.runner.locks import RunLock

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
        return _write_locked(ctx, scope, branch)
    finally:
        lock.release()


def _write_locked(ctx: Context, scope: WriteScope, branch: Mapping[str, Any]) -> WriteResult:
    stamp = now_iso()
    stamped = _stamp(scope, branch, stamp)
    rule = _validate(scope, stamped)
    if rule is not None:
        return _fail(INVALID, rule)

    if scope.kind is ScopeKind.FULL:
        base: Mapping[str, Any] = {}
    else:
        found = _base(ctx)
        if found is None:
            return _fail(INVALID, "base: no valid current file, project example or packaged example")
        base = found[0]
    merged = merge(base, scope, stamped)
    if scope.kind is ScopeKind.EXTENSION_ITEM and len(merged["extensions"]["items"]) > MAX_EXTENSIONS:
        # The one root constraint a valid item can break by being added.
        return _fail(INVALID, f"schema: $.extensions.items has more than {MAX_EXTENSIONS} extensions")
    if scope.kind is ScopeKind.HOST_LOCAL:
        # The host-local scope owns the version marker: a write always yields this version.
        merged["schemaVersion"] = 1

    try:
        text = _serialize(merged)
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return _fail(INVALID, "schema: $ contains text that is not valid Unicode")
    except (ValueError, RecursionError):
        return _fail(INVALID, "schema: $ cannot be written as JSON")
    violations = privacy_violations(ctx.privacy, merged, text)
    if violations:
        first = violations[0]
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        return _fail(PRIVACY, f"privacy: {first.location} {first.rule}{more}")
    try:
        ctx.live_data_path.parent.mkdir(parents=True, exist_ok=True)
        fsio.atomic_write(ctx.live_data_path, data, "the generated data file", mode=LIVE_DATA_MODE)
    except AiosError as exc:
        return _fail(IO_ERROR, f"write: {exc.message}")
    except OSError as exc:
        return _fail(IO_ERROR, f"write: {exc.strerror or 'I/O error'}")
    return WriteResult(WRITTEN, None, str(stamped.get("generatedAt")), len(data))
