"""The generated browser data artifact (``src/data/live-data.json``), version 1.

camelCase JSON, strict types, ``extra="forbid"`` on every branch we own, bounded sizes, and
timestamps kept as ISO-8601 text (a round trip never rewrites them).  The models are
compositional on purpose: no validator looks across branches, so a valid document with one
branch replaced by a valid branch is a valid document.  The writer relies on that to avoid
re-validating the branches a scoped write preserves.

Extension items are owned by their extension: the root model only requires their
``generatedAt`` and JSON-typed content; an extension that ships a stricter model registers
it in :data:`EXTENSION_ITEM_MODELS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from aios_systemd.data import HOST_LOCAL_BRANCHES, MAX_EXTENSIONS, SCHEMA_VERSION
from aios_systemd.registry import JOB_ID_PATTERN

ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$"
Timestamp = Annotated[str, StringConstraints(pattern=ISO_PATTERN)]
Day = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
# Short operator-facing text (OS names, kernel releases, titles): no control characters.
Label = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
JobId = Annotated[str, StringConstraints(pattern=f"^{JOB_ID_PATTERN}$")]
ExtensionId = JobId
Count = Annotated[int, Field(ge=0, le=1 << 62)]
Seconds = Annotated[float, Field(ge=0)]

MAX_JOBS = 64


class Strict(BaseModel):
    """Base of every branch we own: camelCase on the wire, nothing unknown accepted."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


# -- host ------------------------------------------------------------------------------
class OsInfo(Strict):
    name: Label | None = None  # os-release NAME, e.g. "Debian GNU/Linux"
    version: Label | None = None  # os-release VERSION_ID
    id: Slug | None = None  # os-release ID


class LoadAverage(Strict):
    one: Seconds
    five: Seconds
    fifteen: Seconds


class Memory(Strict):
    total_bytes: Count
    available_bytes: Count
    swap_total_bytes: Count | None = None
    swap_free_bytes: Count | None = None


class Disk(Strict):
    """The filesystem holding the project (its mount point is never recorded)."""

    total_bytes: Count
    used_bytes: Count
    free_bytes: Count


HostFact = Literal["os", "kernel", "arch", "cpuCount", "uptime", "load", "memory", "disk"]


class Host(Strict):
    generated_at: Timestamp
    os: OsInfo | None = None
    kernel: Label | None = None
    arch: Label | None = None
    cpu_count: Count | None = None
    uptime_seconds: Seconds | None = None
    load: LoadAverage | None = None
    memory: Memory | None = None
    disk: Disk | None = None
    unavailable: list[HostFact] = Field(default_factory=list, max_length=16)


# -- scheduler ---------------------------------------------------------------------------
StateLabel = Literal[
    "first-run",
    "running",
    "success",
    "warning-only",
    "degraded",
    "failed",
    "timeout",
    "blocked",
    "skipped",
    "stale-lock",
    "unreadable-state",
]
UnitWord = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Calendar = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9*:/,. -]+$")]


class Cadence(Strict):
    id: Slug
    calendars: list[Calendar] = Field(default_factory=list, max_length=16)


class TimerFacts(Strict):
    """What the systemd user manager reports for the job's timer (labels and times only)."""

    installed: bool
    active_state: UnitWord | None = None
    unit_file_state: UnitWord | None = None
    next_elapse_at: Timestamp | None = None
    last_trigger_at: Timestamp | None = None
    drift: UnitWord | None = None  # the job's worst drift finding, "in-sync" when none


class SchedulerJob(Strict):
    """``state`` is the job's label now (``running`` while a run is in flight, which is how
    the aggregate job sees itself; ``stale-lock`` for a run that died without finishing,
    which the job's next run recovers); ``lastFinishedState``, ``finishedAt`` and
    ``warningCount`` describe its latest finished run."""

    state: StateLabel
    last_finished_state: StateLabel | None = None
    finished_at: Timestamp | None = None
    warning_count: Count = 0
    cadence: Cadence
    timer_intent: bool
    timer: TimerFacts | None = None
    timer_unavailable: Slug | None = None  # why ``timer`` is null: a short reason code


class Scheduler(Strict):
    generated_at: Timestamp
    jobs: dict[JobId, SchedulerJob] = Field(default_factory=dict, max_length=MAX_JOBS)
    config_warning_count: Count = 0


# -- agents ----------------------------------------------------------------------------
class DayCount(Strict):
    day: Day
    sessions: Count


ToolStatus = Literal["ok", "absent", "unreadable"]


class AgentTool(Strict):
    """Session-file metadata for one tool: counts and times, never names, paths or contents."""

    status: ToolStatus
    session_files: Count = 0
    projects: Count | None = None
    last_activity_at: Timestamp | None = None
    truncated: bool = False  # the bounded walk stopped before seeing every file
    recent_days: list[DayCount] = Field(default_factory=list, max_length=31)


class Agents(Strict):
    generated_at: Timestamp
    claude_code: AgentTool
    codex: AgentTool


# -- dream -----------------------------------------------------------------------------
class Dream(Strict):
    """Dream's only trace in the artifact: when it last completed (from its run state)."""

    generated_at: Timestamp
    last_run_at: Timestamp | None = None


# -- extensions ------------------------------------------------------------------------
class ExtensionItem(BaseModel):
    """An extension's own branch.  Only ``generatedAt`` is common; the rest belongs to the
    extension (and is still privacy-checked by the writer like everything else)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True, serialize_by_alias=True)

    generatedAt: Timestamp  # the wire name, as extensions spell it


class Extensions(Strict):
    items: dict[ExtensionId, ExtensionItem] = Field(default_factory=dict, max_length=MAX_EXTENSIONS)


# -- root ------------------------------------------------------------------------------
class LiveData(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: Timestamp
    host: Host | None = None
    scheduler: Scheduler | None = None
    agents: Agents | None = None
    dream: Dream | None = None
    extensions: Extensions = Field(default_factory=Extensions)


# Each host-local root branch's model, by name (in data.HOST_LOCAL_BRANCHES' order).
HOST_LOCAL_MODELS: Mapping[str, type[Strict]] = MappingProxyType(
    dict(zip(HOST_LOCAL_BRANCHES, (Host, Scheduler, Agents, Dream), strict=True))
)

# -- extension items with a stricter model ------------------------------------------
# Trend Finder (data/collectors/trend_finder.py): source summaries, never payloads.
MAX_SOURCES = 16
MAX_TITLES = 3
SourceStatus = Literal["ok", "degraded"]
ItemStatus = Literal["ok", "degraded", "unconfigured"]


class SourceRow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    kind: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    status: SourceStatus
    itemCount: int = Field(ge=0)
    totalCount: int | None = Field(default=None, ge=0)
    titles: list[str] = Field(default_factory=list, max_length=MAX_TITLES)
    fetchedAt: Timestamp | None = None
    durationMs: int = Field(ge=0)
    httpStatus: int | None = None
    reason: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,32}$")


class TrendFinderItem(BaseModel):
    """The item stored at ``extensions.items["trend-finder"]``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schemaVersion: Literal[1] = 1
    generatedAt: Timestamp
    status: ItemStatus
    budgetSeconds: float = Field(ge=0)
    sourceCount: int = Field(ge=0)
    okSourceCount: int = Field(ge=0)
    itemCount: int = Field(ge=0)
    sources: list[SourceRow] = Field(default_factory=list, max_length=MAX_SOURCES)


# The stricter model an extension's item must also pass, by extension id.
EXTENSION_ITEM_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType({"trend-finder": TrendFinderItem})


def extension_item_model(extension_id: str) -> type[BaseModel] | None:
    """The stricter model for an extension's item, if it has one."""
    return EXTENSION_ITEM_MODELS.get(extension_id)


# -- error reporting ----------------------------------------------------------------------
# pydantic error types mapped to our own copy: pydantic's messages can quote the input.
_RULES = {
    "extra_forbidden": "is not a known field",
    "missing": "is required",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "string_pattern_mismatch": "has the wrong shape",
    "string_too_long": "is too long",
    "string_too_short": "must not be empty",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "greater_than_equal": "must not be negative",
    "less_than_equal": "is too large",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "too_long": "has too many entries",
    "literal_error": "is not an allowed value",
    "none_required": "must be null",
    "json_invalid": "is not valid JSON",
}


def _loc_part(item: object) -> str:
    if isinstance(item, int):
        return f"[{item}]"
    text = str(item)
    # Keys may be data (job or extension ids, an extension's own keys): show only tame ones.
    ok = len(text) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in text) and text != ""
    return "." + (text if ok else "<key>")


def location(prefix: str, *parts: object) -> str:
    """``prefix`` followed by ``parts`` as a JSON path, untame keys shown as ``<key>``."""
    return prefix + "".join(_loc_part(p) for p in parts)


def first_rule(exc: ValidationError, prefix: str = "$") -> str:
    """``"schema: <location> <rule>"`` for the first error, never quoting the input."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    if not errors:
        return "schema: invalid"
    err = errors[0]
    loc = location(prefix, *err["loc"])
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"schema: {loc} {_RULES.get(err['type'], 'is not valid')}{more}"


def validate_document(doc: Any) -> LiveData:
    """Validate a whole artifact, including registered extension item models."""
    model = LiveData.model_validate(doc)
    for ext_id in model.extensions.items:
        validate_extension_item(ext_id, doc["extensions"]["items"][ext_id])
    return model


def validate_extension_item(extension_id: str, item: Any) -> None:
    ExtensionItem.model_validate(item)
    strict = extension_item_model(extension_id)
    if strict is not None:
        strict.model_validate(item)


def to_json(model: BaseModel) -> dict[str, Any]:
    """A model back as a wire dict (camelCase, JSON types)."""
    return model.model_dump(mode="json", by_alias=True)
