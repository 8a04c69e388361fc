"""Aggregate orchestration shared by the scheduler handlers and the direct command.

The Python counterpart of the runbook's ``scripts/lib/aggregate-orchestration.ts``:

* host/local orchestration runs the built-in collectors (host, scheduler, agents, dream)
  and skips every extension collector;
* extension orchestration runs the collectors of the enabled extensions, each on its own;
* :func:`aggregate_host_local` and :func:`aggregate_full` collect and write through the
  generated-data gate (:mod:`aios_systemd.data.writer`).

Every collector is isolated: one that raises, returns a branch the schema refuses or one
that breaks the privacy rules becomes a warning and a degraded run, and is left out of the
write.  A host/local branch left out keeps its previous real value, recognisably stale: the
host-local document's root ``generatedAt`` is when its collection started, so every branch
collected by this run is at least as new as the root and a kept one is older.  With no
previous real value it is absent (unavailable), never an example's placeholder.
``emit`` receives trace events (``name``, fields) for the private log or trace.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aios_systemd import settings
from aios_systemd.data import SCHEMA_VERSION
from aios_systemd.outcomes import write_failure
from aios_systemd.registry import ScopeKind, WriteScope

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.data.collectors import Collected
    from aios_systemd.data.writer import WriteResult
    from aios_systemd.registry import Registry

Emit = Callable[..., None]

ENABLED_EXTENSIONS_VAR = settings.ENABLED_EXTENSIONS.name

# Root branch -> "module:function" taking (ctx, registry) and returning a Collected.
HOST_LOCAL_COLLECTORS: Mapping[str, str] = MappingProxyType(
    {
        "host": "aios_systemd.data.collectors.host:collect",
        "scheduler": "aios_systemd.data.collectors.scheduler:collect",
        "agents": "aios_systemd.data.collectors.agents:collect",
        "dream": "aios_systemd.data.collectors.scheduler:collect_dream",
    }
)

# Extension id -> "module:function" with ``collect(ctx, env, deadline) -> (item, warnings,
# degraded)``; ``env`` is .env.local overlaid by the process environment and ``deadline``
# a time.monotonic() value.
EXTENSION_COLLECTORS: Mapping[str, str] = MappingProxyType(
    {"trend-finder": "aios_systemd.data.collectors.trend_finder:collect"}
)

# A write that kept only part of the current file (the rest named in its warnings).
PARTLY_KEPT_REASON = "data-partly-kept"


class Aggregated:
    """What an aggregate produced and how the write went (filled in as it goes)."""

    __slots__ = ("degraded", "document", "scope", "warnings", "write")

    def __init__(
        self, scope: WriteScope, document: dict[str, Any], warnings: list[str] | None = None, degraded: bool = False
    ) -> None:
        self.scope = scope
        self.document = document
        self.warnings = warnings if warnings is not None else []
        self.degraded = degraded
        self.write: WriteResult | None = None

    @property
    def failure_reason(self) -> str | None:
        if self.write is None or self.write.ok:
            return None
        return write_failure(self.write.outcome).reason

    @property
    def partly_kept(self) -> bool:
        """The write dropped parts of the current file that no longer validate."""
        return self.write is not None and self.write.ok and bool(self.write.dropped)

    def fall_short(self, warning: str) -> None:
        """A collector failed or its output was refused: say so, and the result is degraded."""
        self.warnings.append(warning)
        self.degraded = True

    def freshness(self, write: WriteResult | None = None) -> dict[str, str]:
        """Branch -> ``generatedAt`` of what was written (for run state and status)."""
        write = write or self.write
        if write is None or not write.ok or write.generated_at is None:
            return {}
        out = {"hostLocal": write.generated_at}
        items = self.document.get("extensions", {}).get("items", {})
        for ext_id, item in items.items():
            stamp = item.get("generatedAt") if isinstance(item, Mapping) else None
            out[f"extensions.{ext_id}"] = stamp if isinstance(stamp, str) else write.generated_at
        return out


def _nothing(_name: str, **_fields: object) -> None:
    return None


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    func: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return func


def merged_env(ctx: Context) -> dict[str, str]:
    """``.env.local`` overlaid by the process environment (an explicit export wins)."""
    from aios_systemd import envfile

    return {**envfile.load(ctx.env_local_path), **ctx.env}


def enabled_extensions(env: Mapping[str, str], known: Mapping[str, str] = EXTENSION_COLLECTORS) -> list[str]:
    """The registered extensions named in ``VITE_CLAUDE_OS_ENABLED_EXTENSIONS``, in
    registry order (unknown names are ignored: only reviewed collectors run)."""
    named = set(env.get(ENABLED_EXTENSIONS_VAR, "").replace(",", " ").split())
    return [ext_id for ext_id in known if ext_id in named]


def _check(ctx: Context, name: str, branch: Any) -> str | None:
    """Why ``branch`` cannot go into the artifact (schema or privacy), or ``None``."""
    from pydantic import ValidationError

    from aios_systemd.data import schema

    built_in = name in schema.HOST_LOCAL_MODELS
    where = f"$.{name}" if built_in else f"$.extensions.items.{name}"
    try:
        if built_in:
            schema.HOST_LOCAL_MODELS[name].model_validate(branch)
        else:
            schema.validate_extension_item(name, branch)
    except ValidationError as exc:
        return schema.first_rule(exc, where)
    # A built-in collector's branch is reviewed: its strict fields come from reviewed
    # sources (os-release, /proc, the run state), so only the rules about forms apply.
    violations = ctx.privacy.violations(branch, where, reviewed=built_in)
    if violations:
        return f"privacy: {violations[0].location} {violations[0].rule}"
    return None


def _failure(exc: Exception, started: float) -> dict[str, object]:
    """The private log fields of a collector that raised (the message stays in that log)."""
    return {"status": "failed", "error": type(exc).__name__, "message": str(exc), "durationMs": _ms(started)}


def collect_host_local(
    ctx: Context, registry: Registry, emit: Emit = _nothing, collectors: Mapping[str, str] = HOST_LOCAL_COLLECTORS
) -> Aggregated:
    """Run the host/local collectors; the result's document is a host-local branch."""
    from aios_systemd.isotime import now_iso

    # Before any collector: a branch this run collects is never older than the root.
    out = Aggregated(WriteScope(ScopeKind.HOST_LOCAL), {"schemaVersion": SCHEMA_VERSION, "generatedAt": now_iso()})
    for name, target in collectors.items():
        t0 = time.monotonic()
        try:
            got: Collected = _load(target)(ctx, registry)
        except Exception as exc:  # noqa: BLE001 - one broken collector must not stop the others
            out.fall_short(f"{name} collector failed ({type(exc).__name__})")
            emit("collector", collector=name, **_failure(exc, t0))
            continue
        problem = _check(ctx, name, got.branch)
        if problem is not None:
            out.fall_short(f"{name} collector output refused ({problem})")
            emit("collector", collector=name, status="refused", rule=problem, durationMs=_ms(t0))
            continue
        out.document[name] = got.branch
        out.warnings.extend(got.warnings)
        out.degraded = out.degraded or got.degraded
        emit(
            "collector",
            collector=name,
            status="degraded" if got.degraded else "ok",
            warningCount=len(got.warnings),
            durationMs=_ms(t0),
            **got.extra,
        )
    return out


def collect_extensions(
    ctx: Context, deadline: float, emit: Emit = _nothing, collectors: Mapping[str, str] = EXTENSION_COLLECTORS
) -> Aggregated:
    """Run the enabled extension collectors; the result's document is ``{"items": {...}}``."""
    env = merged_env(ctx)
    out = Aggregated(WriteScope(ScopeKind.FULL), {"items": {}})
    enabled = enabled_extensions(env, collectors)
    emit("extensions", enabled=enabled)
    for ext_id in enabled:
        t0 = time.monotonic()
        try:
            item, warnings, degraded = _load(collectors[ext_id])(ctx, env, deadline)
        except Exception as exc:  # noqa: BLE001 - an extension must not stop the aggregate
            out.fall_short(f"{ext_id} extension collector failed ({type(exc).__name__})")
            emit("extension", extension=ext_id, **_failure(exc, t0))
            continue
        problem = _check(ctx, ext_id, item)
        if problem is not None:
            out.fall_short(f"{ext_id} extension output refused ({problem})")
            emit("extension", extension=ext_id, status="refused", rule=problem, durationMs=_ms(t0))
            continue
        out.document["items"][ext_id] = item
        out.warnings.extend(str(w) for w in warnings)
        out.degraded = out.degraded or bool(degraded)
        emit(
            "extension",
            extension=ext_id,
            status="degraded" if degraded else "ok",
            warningCount=len(warnings),
            durationMs=_ms(t0),
        )
    return out


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


# Told the freshness of what was written, the moment it is written (RunContext.data_written).
Written = Callable[[Mapping[str, str]], None]


def _write(ctx: Context, out: Aggregated, lock_timeout: float, emit: Emit, on_written: Written | None) -> Aggregated:
    from aios_systemd.data.writer import write_live_data_for_scope

    t0 = time.monotonic()
    out.write = write_live_data_for_scope(
        ctx,
        out.scope,
        out.document,
        lock_timeout=lock_timeout,
        on_written=None if on_written is None else (lambda result: on_written(out.freshness(result))),
    )
    emit(
        "write",
        scope=str(out.scope),
        outcome=out.write.outcome,
        rule=out.write.rule,
        bytes=out.write.bytes_written,
        generatedAt=out.write.generated_at,
        durationMs=_ms(t0),
        base=out.write.base,
        droppedCount=len(out.write.dropped),
    )
    if not out.write.ok:
        out.warnings.append(f"generated data was not written: {out.write.rule}")
    out.warnings.extend(dropped_warnings(out.write))
    out.degraded = out.degraded or out.partly_kept
    return out


def dropped_warnings(result: WriteResult) -> list[str]:
    """One warning per part of the current file a write did not keep (never a value)."""
    return [f"generated data: not kept from the previous file: {d}" for d in result.dropped]


def aggregate_host_local(
    ctx: Context,
    registry: Registry,
    *,
    lock_timeout: float = 30.0,
    emit: Emit = _nothing,
    on_written: Written | None = None,
) -> Aggregated:
    """Collect host/local material and write it with the host-local scope."""
    return _write(ctx, collect_host_local(ctx, registry, emit), lock_timeout, emit, on_written)


def aggregate_full(
    ctx: Context,
    registry: Registry,
    *,
    deadline: float,
    lock_timeout: float = 30.0,
    emit: Emit = _nothing,
    on_written: Written | None = None,
) -> Aggregated:
    """Host/local collectors plus every enabled extension collector, one full write."""
    host = collect_host_local(ctx, registry, emit)
    extensions = collect_extensions(ctx, deadline, emit)
    doc = dict(host.document)
    doc["extensions"] = extensions.document
    out = Aggregated(
        WriteScope(ScopeKind.FULL), doc, host.warnings + extensions.warnings, host.degraded or extensions.degraded
    )
    return _write(ctx, out, lock_timeout, emit, on_written)
