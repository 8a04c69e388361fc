"""The strict local scheduler config (``data/ai-os.scheduler.json``).

It is not a command surface: it may only select reviewed job ids, reviewed cadence ids,
booleans (a timer, failure alerts) and strict ``HH:MM`` Dream times.  Each job entry is validated on its own: a bad
entry falls back to the registry defaults for that job and yields warnings that name the
key and the rule, never the raw value.  Nothing in the file can make a command crash.
"""

from __future__ import annotations

import enum
import json
import stat
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from . import fsio, memo
from ._typing import TYPE_CHECKING
from .record import Record
from .registry import HHMM, Cadence, CadenceKind, Job, Registry, calendars_for

if TYPE_CHECKING:
    from typing import Any

    from pydantic import ValidationError

MAX_CONFIG_BYTES = 64 * 1024
MAX_DREAM_TIMES = 12
SCHEMA_VERSION = 1
CONFIG_LABEL = "the local scheduler config"
_SAFE_KEY = frozenset({"schemaVersion", "jobs", "timerEnabled", "cadence", "times", "notify"})


class Source(enum.StrEnum):
    REGISTRY = "registry-default"
    CONFIG = "local-config"


class ConfigWarning(Record):
    key: str  # a reviewed key path such as "jobs.dream.times[1]"; unknown keys are "<unknown key>"
    rule: str

    def __str__(self) -> str:
        return f"{self.key}: {self.rule}"


class JobSettings(Record):
    """What the local config selects for one job, overlaid on the registry defaults."""

    job: Job
    cadence: Cadence
    cadence_source: Source
    times: tuple[str, ...]
    timer_enabled: bool | None  # None: the config does not say
    notify: bool = False  # failure alerts: the service gets OnFailure= (the notify unit)

    @property
    def calendars(self) -> tuple[str, ...]:
        return calendars_for(self.job, self.cadence, self.times)

    @property
    def timer_intent(self) -> bool:
        return self.job.enabled_by_default if self.timer_enabled is None else self.timer_enabled

    @property
    def timer_intent_source(self) -> Source:
        return Source.REGISTRY if self.timer_enabled is None else Source.CONFIG


class LocalConfig(Record):
    present: bool
    jobs: Mapping[str, JobSettings]
    warnings: tuple[ConfigWarning, ...]

    def settings(self, job_id: str) -> JobSettings:
        return self.jobs[job_id]

    def entry_problems(self, job_id: str) -> tuple[ConfigWarning, ...]:
        """Why ``job_id`` fell back to its registry defaults: its own entry's warnings, or
        the whole file's (unreadable, not JSON, not an object)."""
        own = f"jobs.{job_id}"
        return tuple(w for w in self.warnings if w.key in ("$", own) or w.key.startswith((own + ".", own + "[")))


def _defaults(job: Job, registry: Registry) -> JobSettings:
    return JobSettings(job, registry.cadence(job.default_cadence), Source.REGISTRY, job.default_times, None)


@cache
def _models() -> Any:
    """The pydantic models, built on first use: pydantic costs a noticeable share of a
    command's start-up, and most invocations find a cached result instead."""
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field, StringConstraints

    class _JobEntry(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

        timerEnabled: bool | None = None
        cadence: str | None = None
        times: list[Annotated[str, StringConstraints(pattern="^(?:" + HHMM.pattern + ")$")]] | None = Field(
            default=None, min_length=1, max_length=MAX_DREAM_TIMES
        )
        notify: bool = False

    class _Document(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

        schemaVersion: Literal[1] = 1
        jobs: dict[str, object] = Field(default_factory=dict)  # each entry is validated on its own

    class Models:
        JobEntry = _JobEntry
        Document = _Document

    return Models


def _key_label(key: object, allowed: frozenset[str]) -> str:
    return key if isinstance(key, str) and key in allowed else "<unknown key>"


# pydantic error types mapped to operator copy; pydantic's own messages are never shown
# because some of them quote the input.
_RULES = {
    "extra_forbidden": "is not a reviewed key",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "string_pattern_mismatch": "must be a strict HH:MM time",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "too_short": "must not be empty",
    "too_long": f"must hold at most {MAX_DREAM_TIMES} entries",
    "literal_error": f"must be {SCHEMA_VERSION}",
    "int_type": "must be a whole number",
}


def _validation_error() -> type[ValidationError]:
    from pydantic import ValidationError

    return ValidationError


def _warnings_from(exc: ValidationError, prefix: str) -> list[ConfigWarning]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        path = prefix
        for item in err["loc"]:
            if isinstance(item, int):
                path += f"[{item}]"
            else:
                path += ("." if path else "") + _key_label(item, _SAFE_KEY)
        out.append(ConfigWarning(path or "$", _RULES.get(err["type"], "is not valid")))
    return out


def _entry(job: Job, raw: object, registry: Registry, warn: list[ConfigWarning]) -> JobSettings:
    base = _defaults(job, registry)
    where = f"jobs.{job.id}"
    try:
        entry = _models().JobEntry.model_validate(raw, strict=True)
    except _validation_error() as exc:
        # A half-valid entry is not applied: the job keeps every registry default.
        warn.extend(_warnings_from(exc, where))
        return base
    errors: list[ConfigWarning] = []
    cadence, source, times = base.cadence, Source.REGISTRY, base.times
    if entry.cadence is not None:
        if entry.cadence in job.cadences:
            cadence, source = registry.cadence(entry.cadence), Source.CONFIG
        else:
            errors.append(
                ConfigWarning(
                    f"{where}.cadence", "must be a reviewed cadence id for this job: " + ", ".join(job.cadences)
                )
            )
    if entry.times is not None:
        if registry.cadence(job.default_cadence).kind is not CadenceKind.TIMES:
            errors.append(ConfigWarning(f"{where}.times", "is only allowed for Dream"))
        elif len(set(entry.times)) != len(entry.times):
            errors.append(ConfigWarning(f"{where}.times", "must not repeat a time"))
        else:
            times, source = tuple(sorted(entry.times)), Source.CONFIG
    if errors:
        warn.extend(errors)
        return base
    return JobSettings(job, cadence, source, times, entry.timerEnabled, entry.notify)


def parse(data: bytes | None, registry: Registry) -> LocalConfig:
    """Validate raw config bytes (``None``: no file) into settings for every job."""
    defaults = {job.id: _defaults(job, registry) for job in registry}
    if data is None:
        return LocalConfig(False, defaults, ())
    try:
        doc: Any = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return LocalConfig(True, defaults, (ConfigWarning("$", "is not UTF-8 text"),))
    except json.JSONDecodeError as exc:
        return LocalConfig(True, defaults, (ConfigWarning("$", f"is not valid JSON (line {exc.lineno})"),))
    except RecursionError:
        return LocalConfig(True, defaults, (ConfigWarning("$", "is nested too deeply"),))
    except ValueError:
        # Not a JSONDecodeError: int() refuses a number of more than 4300 digits.
        return LocalConfig(True, defaults, (ConfigWarning("$", "is not valid JSON (a number is too long)"),))
    if not isinstance(doc, dict):
        return LocalConfig(True, defaults, (ConfigWarning("$", "must be a JSON object"),))
    warn: list[ConfigWarning] = []
    try:
        top = _models().Document.model_validate(doc, strict=True)
        jobs_raw: dict[Any, Any] = top.jobs
    except _validation_error() as exc:
        warn.extend(_warnings_from(exc, ""))
        # The jobs that are themselves well-formed still apply.
        jobs_raw = doc["jobs"] if isinstance(doc.get("jobs"), dict) else {}
    settings = dict(defaults)
    for job_id, raw in jobs_raw.items():
        if not isinstance(job_id, str) or job_id not in registry.jobs:
            warn.append(ConfigWarning("jobs.<unknown job>", "is not a reviewed job id: " + ", ".join(registry.ids())))
            continue
        settings[job_id] = _entry(registry.jobs[job_id], raw, registry, warn)
    return LocalConfig(True, settings, tuple(warn))


def load(path: Path, registry: Registry, cache_dir: Path | None = None) -> LocalConfig:
    """Read and validate the config file; an unreadable file is a warning, never a crash.

    With ``cache_dir``, the validated result for these exact bytes (and this registry) is
    kept, so the next command needs neither the validation nor pydantic.
    """
    try:
        data = fsio.read_bytes(path, CONFIG_LABEL, MAX_CONFIG_BYTES, trusted=True)
    except Exception as exc:  # noqa: BLE001 - any read failure falls back to defaults
        # Another user's file, or one others can write, among them: registry defaults apply.
        rule = fsio.ignored_warning(exc, CONFIG_LABEL)
        return LocalConfig(True, parse(None, registry).jobs, (ConfigWarning("$", rule),))
    if data is None:
        return parse(None, registry)
    cache = memo.Memo(cache_dir, "config")
    key = memo.key_of(
        data, repr(tuple(registry)), repr(tuple(registry.cadences.values())), memo.source_identity(__file__)
    )
    cached = _from_cache(cache.get(key), registry)
    if cached is not None:
        return cached
    result = parse(data, registry)
    cache.put(key, _to_cache(result))
    return result


def _to_cache(cfg: LocalConfig) -> dict[str, Any]:
    return {
        "jobs": {
            j: [s.cadence.id, str(s.cadence_source), list(s.times), s.timer_enabled, s.notify]
            for j, s in cfg.jobs.items()
        },
        "warnings": [[w.key, w.rule] for w in cfg.warnings],
    }


def _from_cache(doc: Any, registry: Registry) -> LocalConfig | None:
    """A cached result, re-checked against the registry (the cache is advisory)."""
    try:
        jobs: dict[str, JobSettings] = {}
        for job in registry:
            cadence_id, source, times, timer, notify = doc["jobs"][job.id]
            if cadence_id not in job.cadences or timer not in (True, False, None) or not isinstance(notify, bool):
                return None
            if not all(isinstance(t, str) and HHMM.fullmatch(t) for t in times):
                return None
            jobs[job.id] = JobSettings(job, registry.cadence(cadence_id), Source(source), tuple(times), timer, notify)
        warnings = tuple(ConfigWarning(str(k), str(r)) for k, r in doc["warnings"])
    except (KeyError, TypeError, ValueError):
        return None
    return LocalConfig(True, jobs, warnings)


def with_notify(path: Path, job_ids: Sequence[str], registry: Registry) -> bytes | None:
    """The config file at ``path`` (none: a new one) with ``notify: true`` in the entries of
    ``job_ids``, every other key and entry kept; ``None`` when each has it already.

    Refused, rather than rewritten, when the file does not validate as a whole: rewriting
    it would change or drop what the operator wrote."""
    from .context import CONFIG_EXAMPLE_RELPATH, CONFIG_RELPATH
    from .errors import AiosError

    data = fsio.read_bytes(path, CONFIG_LABEL, MAX_CONFIG_BYTES, trusted=True)
    current = parse(data, registry)
    if current.warnings:
        raise AiosError(
            f"{CONFIG_LABEL} is invalid, so notify cannot be written into it: " + "; ".join(map(str, current.warnings)),
            f"fix {CONFIG_RELPATH} (see {CONFIG_EXAMPLE_RELPATH}), then rerun",
        )
    if all(current.settings(job_id).notify for job_id in job_ids):
        return None
    # Valid, so the document is an object and each job entry one too.
    doc: dict[str, Any] = json.loads(data) if data is not None else {"schemaVersion": SCHEMA_VERSION}
    jobs = doc.setdefault("jobs", {})
    for job_id in job_ids:
        jobs.setdefault(job_id, {})["notify"] = True
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def write(path: Path, data: bytes) -> None:
    """Replace the config file atomically, keeping its mode (0644 for a new one)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    fsio.make_dirs(path.parent, "the project's data directory")
    fsio.atomic_write(path, data, CONFIG_LABEL, mode)


def example_document(registry: Registry) -> dict[str, object]:
    """The shipped example config: every job with its registry defaults spelled out."""
    jobs: dict[str, object] = {}
    for job in registry:
        entry: dict[str, object] = {"timerEnabled": job.enabled_by_default, "cadence": job.default_cadence}
        if job.default_times:
            entry["times"] = list(job.default_times)
        entry["notify"] = False
        jobs[job.id] = entry
    return {"schemaVersion": SCHEMA_VERSION, "jobs": jobs}
