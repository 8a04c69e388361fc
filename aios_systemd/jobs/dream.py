"""Dream: a private digest of this machine's host/local material, material first.

The flow (:func:`execute`):

1. **Gate.**  Nothing happens unless ``AI_OS_DREAM_ENABLED=true`` (environment or
   ``.env.local``, case-insensitive); the handler reports ``skipped`` / ``dream-disabled``.
2. **Material.**  The generated artifact is read (never written).  Its root ``generatedAt``
   is the host/local freshness: every host-local or full write stamps it, extension writes
   keep it.  Material is *fresh* when it comes from the live file (not an example) and is at
   most ``AI_OS_DREAM_MATERIAL_MAX_AGE_MINUTES`` old (default 360 = 6 hours, clamped to
   15..2880).  Fresh material is used as is.  Stale or missing material is refreshed by
   running the ``agent-aggregate`` *job* (its own lock and state, so a timer run in
   progress is respected); when that job is blocked by a live run, Dream waits up to
   :data:`BLOCKED_WAIT_SECONDS` for fresh material to appear.  Trend Finder is never run:
   the material leaves ``extensions`` out entirely.
3. **Provider.**  ``AI_OS_DREAM_PROVIDER`` picks one of a reviewed set: ``offline``
   (default; a deterministic Markdown digest of host health, job outcomes and agent
   activity trends), ``claude`` or ``codex``.  External providers run a fixed argv (see
   :data:`PROVIDERS`) through the process wrapper with the digest and the material JSON on
   stdin; there is no free-form command.  The program is looked up on the caller's PATH
   and the usual per-user install places and runs with those on its PATH (its own
   directory first), so a ``#!/usr/bin/env node`` provider finds its node; it gets only its
   own auth variables, and it has ``AI_OS_DREAM_PROVIDER_TIMEOUT_SECS`` (default 600,
   30..1500).  A provider that is missing, lacks its interpreter, fails, times out or
   answers nothing yields the offline digest and a degraded run whose warning says which.
4. **Output.**  Private only: ``<scheduler-root>/dream/<run-id>.md`` (directory 0700, file
   0600, atomic), redacted, with the newest ``AI_OS_DREAM_KEEP`` files kept (default 14,
   1..365).  The artifact gets nothing from here: the host-local collector projects
   ``dream.lastRunAt`` from Dream's own run state.

The handler (:func:`run`) binds this to the runner: the host/local refresh runs the
installed ``aios-run agent-aggregate`` as a separate job (its own lock and state) through the
process wrapper, so a timer run in progress blocks it (exit 75) instead of racing it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aios_systemd import fsio, proc, settings
from aios_systemd.data.orchestration import merged_env as merged_env  # re-exported for the handler
from aios_systemd.errors import ExitCode
from aios_systemd.isotime import iso
from aios_systemd.record import Record
from aios_systemd.runner.api import HandlerOutcome, HandlerResult, RunContext
from aios_systemd.runs import RUN_ID_PATTERN, TRIGGER_ENV, TRIGGERS

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.data.schema import LiveData
    from aios_systemd.registry import Registry

ENABLED_VAR = settings.DREAM_ENABLED.name
MAX_AGE_VAR = settings.DREAM_MAX_AGE.name
PROVIDER_VAR = settings.DREAM_PROVIDER.name
KEEP_VAR = settings.DREAM_KEEP.name
PROVIDER_TIMEOUT_VAR = settings.DREAM_PROVIDER_TIMEOUT.name

DEFAULT_MAX_AGE_MINUTES = 6 * 60
MIN_MAX_AGE_MINUTES = 15
MAX_MAX_AGE_MINUTES = 48 * 60
DEFAULT_KEEP = 14
MAX_KEEP = 365
DEFAULT_PROVIDER_TIMEOUT = 10 * 60.0
MAX_PROVIDER_TIMEOUT = 25 * 60.0
FUTURE_SKEW = timedelta(minutes=5)  # a material clock slightly ahead of ours is still fresh
BLOCKED_WAIT_SECONDS = 120.0
POLL_SECONDS = 2.0
REFRESH_TIMEOUT = 11 * 60.0  # agent-aggregate's own 10-minute job timeout, plus start-up
MAX_DREAM_BYTES = 256 * 1024
DREAM_DIR = "dream"
_DREAM_FILE = re.compile(RUN_ID_PATTERN + r"\.md")  # named by the run

OFFLINE = "offline"
PROMPT = (
    "You are given a digest and JSON telemetry of one developer machine running the AI OS "
    "scheduler (host health, scheduled job outcomes, local coding-agent activity counts). "
    "Write a short private 'dream' in Markdown: what stands out, what changed, what deserves "
    "attention next. Use only the provided material; do not run commands or read files."
)


class ProviderSpec(Record):
    """A reviewed external provider: a fixed argv; the material always goes on stdin."""

    id: str
    program: str
    args: tuple[str, ...]
    # Variables the provider needs for its own auth/config; the clean environment drops
    # everything else.
    env_passthrough: tuple[str, ...] = ()


PROVIDERS: Mapping[str, ProviderSpec] = {
    "claude": ProviderSpec(
        "claude", "claude", ("-p", PROMPT, "--output-format", "text"), ("ANTHROPIC_API_KEY", "CLAUDE_CONFIG_DIR")
    ),
    "codex": ProviderSpec(
        "codex",
        "codex",
        ("exec", "--sandbox", "read-only", "--skip-git-repo-check", PROMPT),
        ("OPENAI_API_KEY", "CODEX_HOME"),
    ),
}
PROVIDER_IDS = (OFFLINE, *PROVIDERS)


# -- settings --------------------------------------------------------------------------------


def dream_enabled(env: Mapping[str, str]) -> bool:
    return env.get(ENABLED_VAR, "").strip().lower() == "true"


def _bounded_int(env: Mapping[str, str], name: str, default: int, low: int, high: int, warnings: list[str]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        warnings.append(f"{name} is not a whole number; using {default}")
        return default
    if not low <= value <= high:
        warnings.append(f"{name} is outside {low}..{high}; clamped")
    return min(max(value, low), high)


class DreamSettings(Record):
    max_age: timedelta = timedelta(minutes=DEFAULT_MAX_AGE_MINUTES)
    provider: str = OFFLINE
    keep: int = DEFAULT_KEEP
    provider_timeout: float = DEFAULT_PROVIDER_TIMEOUT
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DreamSettings:
        warnings: list[str] = []
        minutes = _bounded_int(
            env, MAX_AGE_VAR, DEFAULT_MAX_AGE_MINUTES, MIN_MAX_AGE_MINUTES, MAX_MAX_AGE_MINUTES, warnings
        )
        keep = _bounded_int(env, KEEP_VAR, DEFAULT_KEEP, 1, MAX_KEEP, warnings)
        timeout = _bounded_int(
            env, PROVIDER_TIMEOUT_VAR, int(DEFAULT_PROVIDER_TIMEOUT), 30, int(MAX_PROVIDER_TIMEOUT), warnings
        )
        provider = env.get(PROVIDER_VAR, "").strip().lower() or OFFLINE
        if provider not in PROVIDER_IDS:
            # Named by the rule, not echoed: the value could be anything, a command included.
            warnings.append(f"{PROVIDER_VAR} is not one of {', '.join(PROVIDER_IDS)}; using offline")
            provider = OFFLINE
        return cls(timedelta(minutes=minutes), provider, keep, float(timeout), tuple(warnings))


# -- material --------------------------------------------------------------------------------


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Material(Record):
    data: LiveData | None
    source: str  # "live", "example", "packaged-example" or "missing"
    generated_at: datetime | None
    fresh: bool
    refreshed: bool = False  # agent-aggregate (ours or a concurrent run) produced it


def read_material(ctx: Context, max_age: timedelta, now: datetime) -> Material:
    from aios_systemd.data.writer import read_live_data

    data, source = read_live_data(ctx)
    if data is None or source != "live":
        # An example is a shape for the browser app, not this machine's material.
        return Material(data if source == "live" else None, source, None, False)
    at = parse_iso(data.generated_at)
    fresh = at is not None and now - max_age <= at <= now + FUTURE_SKEW
    return Material(data, source, at, fresh)


# The refresh: run agent-aggregate as a job; returns its exit code, None when it timed out.
Refresher = Callable[[float], int | None]


class MaterialOutcome(Record):
    material: Material
    warnings: tuple[str, ...] = ()
    refresh_exit: int | None = None
    refresh_attempted: bool = False
    waited_seconds: float = 0.0


def prepare_material(
    ctx: Context,
    settings: DreamSettings,
    *,
    refresh: Refresher,
    deadline: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    blocked_wait: float = BLOCKED_WAIT_SECONDS,
) -> MaterialOutcome:
    """Fresh host/local material, refreshing it through ``refresh`` only when needed."""
    first = read_material(ctx, settings.max_age, clock())
    if first.fresh:
        return MaterialOutcome(first)
    budget = min(REFRESH_TIMEOUT, deadline - time.monotonic())
    if budget <= 1:
        return MaterialOutcome(first, ("no time left to refresh host/local material",))
    code = refresh(budget)
    waited = 0.0
    if code == ExitCode.BLOCKED:
        # A timer's agent-aggregate run holds the job lock: its result is what we want.
        wait_until = min(time.monotonic() + blocked_wait, deadline - 1)
        started = time.monotonic()
        while time.monotonic() < wait_until:
            sleep(min(POLL_SECONDS, max(0.0, wait_until - time.monotonic())))
            again = read_material(ctx, settings.max_age, clock())
            if again.fresh:
                return MaterialOutcome(
                    Material(again.data, again.source, again.generated_at, True, True),
                    (),
                    code,
                    True,
                    time.monotonic() - started,
                )
        waited = time.monotonic() - started
        warning = "host/local refresh was blocked by a running agent-aggregate that did not finish in time"
    elif code is None:
        warning = "host/local refresh through agent-aggregate timed out"
    else:
        after = read_material(ctx, settings.max_age, clock())
        if after.fresh:
            extra = () if code == 0 else (f"agent-aggregate finished with exit {code}; its material is fresh",)
            return MaterialOutcome(
                Material(after.data, after.source, after.generated_at, True, True), extra, code, True
            )
        warning = (
            "agent-aggregate ran but the host/local material is still not fresh"
            if code == 0
            else f"host/local refresh through agent-aggregate failed (exit {code})"
        )
    latest = read_material(ctx, settings.max_age, clock())
    return MaterialOutcome(latest, (warning,), code, True, waited)


def material_document(material: Material) -> dict[str, Any]:
    """What a provider sees: host, scheduler, agents and Dream's own stamp, never
    ``extensions`` (Dream is not coupled to Trend Finder or any other extension)."""
    if material.data is None:
        return {}
    from aios_systemd.data.schema import to_json

    doc = to_json(material.data)
    return {k: v for k, v in doc.items() if k != "extensions"}


# -- the offline digest ----------------------------------------------------------------------


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


def _host_lines(doc: Mapping[str, Any]) -> list[str]:
    host = doc.get("host")
    if not isinstance(host, Mapping):
        return ["- no host facts in the material"]
    lines: list[str] = []
    os_info = host.get("os") or {}
    if os_info.get("name") or host.get("kernel"):
        name = " ".join(str(x) for x in (os_info.get("name"), os_info.get("version")) if x)
        lines.append(
            f"- system: {name or 'unknown'}, kernel {host.get('kernel') or 'unknown'}"
            f"{', ' + str(host['arch']) if host.get('arch') else ''}"
        )
    if host.get("uptimeSeconds") is not None:
        lines.append(f"- uptime: {_duration(float(host['uptimeSeconds']))}")
    load, cpus = host.get("load"), host.get("cpuCount")
    if isinstance(load, Mapping):
        per_cpu = f" ({float(load['one']) / cpus:.2f} per CPU)" if isinstance(cpus, int) and cpus else ""
        busy = " - busy" if isinstance(cpus, int) and cpus and float(load["five"]) > cpus else ""
        lines.append(f"- load: {load['one']:.2f} / {load['five']:.2f} / {load['fifteen']:.2f}{per_cpu}{busy}")
    mem = host.get("memory")
    if isinstance(mem, Mapping) and mem.get("totalBytes"):
        total, avail = int(mem["totalBytes"]), int(mem["availableBytes"])
        low = " - low" if avail < total * 0.1 else ""
        lines.append(f"- memory: {_gib(avail)} available of {_gib(total)} ({_pct(avail, total)}){low}")
    disk = host.get("disk")
    if isinstance(disk, Mapping) and disk.get("totalBytes"):
        total, used = int(disk["totalBytes"]), int(disk["usedBytes"])
        full = " - nearly full" if used > total * 0.9 else ""
        lines.append(f"- project disk: {_pct(used, total)} used, {_gib(int(disk['freeBytes']))} free{full}")
    missing = host.get("unavailable") or []
    if missing:
        lines.append(f"- not available: {', '.join(str(m) for m in missing)}")
    return lines or ["- no host facts in the material"]


_ATTENTION = frozenset({"failed", "timeout", "blocked", "stale-lock", "unreadable-state", "degraded"})


def job_outcomes(ctx: Context, registry: Registry, *, exclude: str = "dream") -> dict[str, dict[str, Any]]:
    """Each job's latest outcome from the runner's own state files (labels, times and
    counts only).  The artifact's projection was taken while agent-aggregate itself was
    running, so it would show that job, and this one, as ``running``."""
    from aios_systemd import state

    out: dict[str, dict[str, Any]] = {}
    for job in registry:
        if job.id == exclude:
            continue
        read = state.read(ctx, job.id)
        record = read.record
        out[job.id] = {
            "state": str(read.state),
            "finishedAt": record.finished_at if record else None,
            "warningCount": record.warning_count if record else 0,
        }
    return out


def _job_lines(doc: Mapping[str, Any], outcomes: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    sched = doc.get("scheduler")
    jobs = outcomes or (sched.get("jobs") if isinstance(sched, Mapping) else None)
    if not isinstance(jobs, Mapping) or not jobs:
        return ["- no scheduler projection in the material"]
    lines = []
    for job_id in sorted(jobs):
        job = jobs[job_id]
        if not isinstance(job, Mapping):
            continue
        flag = " - needs attention" if job.get("state") in _ATTENTION else ""
        when = f", finished {job['finishedAt']}" if job.get("finishedAt") else ""
        warns = f", {job['warningCount']} warning(s)" if job.get("warningCount") else ""
        lines.append(f"- {job_id}: {job.get('state')}{when}{warns}{flag}")
    return lines


def _trend(days: Sequence[Mapping[str, Any]], as_of: datetime) -> str | None:
    by_day = {str(d.get("day")): int(d.get("sessions") or 0) for d in days if isinstance(d, Mapping)}
    if not by_day:
        return None
    today = as_of.date()
    recent = sum(by_day.get(str(today - timedelta(days=i)), 0) for i in range(7))
    before = sum(by_day.get(str(today - timedelta(days=i)), 0) for i in range(7, 14))
    direction = "up" if recent > before else "down" if recent < before else "flat"
    return f"{recent} session(s) in the last 7 days vs {before} the 7 before ({direction})"


def _agent_lines(doc: Mapping[str, Any], as_of: datetime) -> list[str]:
    agents = doc.get("agents")
    if not isinstance(agents, Mapping):
        return ["- no agent activity in the material"]
    lines = []
    for key, label in (("claudeCode", "Claude Code"), ("codex", "Codex")):
        tool = agents.get(key)
        if not isinstance(tool, Mapping):
            continue
        if tool.get("status") != "ok":
            lines.append(f"- {label}: {tool.get('status')}")
            continue
        parts = [f"{tool.get('sessionFiles', 0)} session file(s)"]
        if tool.get("projects") is not None:
            parts.append(f"{tool['projects']} project(s)")
        if tool.get("lastActivityAt"):
            parts.append(f"last active {tool['lastActivityAt']}")
        trend = _trend(tool.get("recentDays") or [], as_of)
        if trend:
            parts.append(trend)
        lines.append(f"- {label}: " + ", ".join(parts))
    return lines or ["- no agent activity in the material"]


def offline_digest(material: Material, outcomes: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A deterministic Markdown digest: the same material and job outcomes always give the
    same text.  ``outcomes`` (from :func:`job_outcomes`) wins over the artifact's projection."""
    doc = material_document(material)
    as_of = material.generated_at or datetime(1970, 1, 1, tzinfo=UTC)
    stamp = iso(as_of) if material.generated_at else "unknown"
    freshness = "fresh" if material.fresh else "stale"
    out = [
        "# Dream digest",
        "",
        f"Material generated at {stamp} ({freshness}{', refreshed for this dream' if material.refreshed else ''}).",
        "",
        "## Host health",
        *_host_lines(doc),
        "",
        "## Job outcomes",
        *_job_lines(doc, outcomes),
        "",
        "## Activity trends",
        *_agent_lines(doc, as_of),
        "",
    ]
    return "\n".join(out)


# -- providers -------------------------------------------------------------------------------


class CommandRunner(Protocol):
    """:meth:`aios_systemd.runner.api.RunContext.run_command`'s shape."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = ...,
        extra_env: Mapping[str, str] | None = ...,
        check: bool = ...,
        stdin: bytes | None = ...,
    ) -> proc.ProcResult: ...


def provider_search_path(ctx: Context) -> str:
    """Where provider programs are looked for: the caller's PATH, then the usual per-user
    install places (the clean child environment's PATH has neither)."""
    extra = [
        str(ctx.home / ".local" / "bin"),
        str(ctx.home / ".claude" / "local"),
        str(ctx.home / ".npm-global" / "bin"),
    ]
    return os.pathsep.join([p for p in ctx.env.get("PATH", "").split(os.pathsep) if p.startswith("/")] + extra)


def resolver_for(ctx: Context) -> Callable[[str], str | None]:
    search = provider_search_path(ctx)
    return lambda program: shutil.which(program, path=search)


def run_path(program: str, search_path: str) -> str:
    """The PATH a provider runs with: its own directory, where it was looked for, then the
    clean child PATH.  An npm-installed provider (``#!/usr/bin/env node``) needs the node
    it was installed with, which the clean PATH alone does not have."""
    entries = [os.path.dirname(program), *search_path.split(os.pathsep), *proc.CLEAN_PATH.split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(e for e in entries if e.startswith("/")))


MAX_SHEBANG = 256
_PROGRAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def missing_interpreter(program: str, path: str) -> str | None:
    """The name of the interpreter ``program``'s ``#!`` line names when it cannot be found
    (on ``path`` for ``#!/usr/bin/env NAME``), else ``None`` (found, or no ``#!`` line)."""
    try:
        with open(program, "rb") as fh:
            head = fh.read(MAX_SHEBANG)
    except OSError:
        return None  # not a file we can read: running it says what is wrong
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return None
    interpreter = words[0]
    if os.path.basename(interpreter) == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not names or shutil.which(names[0], path=path):
            return None
        interpreter = names[0]
    elif os.path.isfile(interpreter) and os.access(interpreter, os.X_OK):
        return None
    name = os.path.basename(interpreter)
    return name if _PROGRAM_NAME.fullmatch(name) else "its interpreter"


# Exit codes with a known meaning (as a shell reports them) and what a provider's means.
_EXIT_MEANINGS = {126: "a program it runs is not executable", 127: "a program it runs was not found"}


class ProviderResult(Record):
    text: str
    provider: str  # the provider that produced ``text``
    warnings: tuple[str, ...] = ()
    fell_back: bool = False
    exit_code: int | None = None


def run_provider(
    provider_id: str,
    digest: str,
    material_json: str,
    *,
    env: Mapping[str, str],
    run_command: CommandRunner,
    resolve: Callable[[str], str | None],
    timeout: float,
    search_path: str = "",
) -> ProviderResult:
    """The dream text from ``provider_id``; the offline digest when it is ``offline`` or
    when the external provider is missing, fails, times out or says nothing (the warning
    says which).  ``search_path`` is where the provider was looked for (see :func:`run_path`)."""
    spec = PROVIDERS.get(provider_id)
    if spec is None:
        return ProviderResult(digest, OFFLINE)

    def fallback(why: str, code: int | None = None) -> ProviderResult:
        return ProviderResult(
            digest, OFFLINE, (f"Dream provider {spec.id} {why}; wrote the offline digest",), True, code
        )

    program = resolve(spec.program)
    if program is None:
        return fallback("is not installed")
    path = run_path(program, search_path)
    interpreter = missing_interpreter(program, path)
    if interpreter is not None:
        return fallback(
            f"needs {interpreter}, which is not on the PATH it runs with (its own directory, this run's PATH, "
            "the system's); put it there, e.g. give timer runs your PATH: systemctl --user import-environment PATH"
        )
    stdin = f"{digest}\n\n## Material (JSON)\n\n```json\n{material_json}\n```\n".encode()
    extra = {**{k: env[k] for k in spec.env_passthrough if env.get(k)}, "PATH": path}
    try:
        result = run_command([program, *spec.args], timeout=timeout, extra_env=extra, check=False, stdin=stdin)
    except proc.ProcessTimeoutError:
        return fallback(f"did not answer within {timeout:.0f}s")
    except Exception as exc:  # noqa: BLE001 - a provider that cannot start is a fallback, not a failed dream
        return fallback(f"could not run ({type(exc).__name__})")
    if result.returncode < 0:
        return fallback(f"was killed by signal {-result.returncode}", result.returncode)
    if result.returncode != 0:
        meaning = _EXIT_MEANINGS.get(result.returncode)
        return fallback(
            f"exited with code {result.returncode}" + (f" ({meaning})" if meaning else ""), result.returncode
        )
    text = result.stdout[:MAX_DREAM_BYTES].decode("utf-8", "replace").strip()
    if not text:
        return fallback("returned nothing", 0)
    return ProviderResult(text + "\n", spec.id, exit_code=0)


# -- private output --------------------------------------------------------------------------


def dream_dir(ctx: Context) -> Path:
    return ctx.scheduler_root / DREAM_DIR


def write_dream(ctx: Context, run_id: str, text: str, keep: int) -> tuple[Path, int]:
    """Write the dream privately and prune to the newest ``keep``; returns its path (for
    private use only) and how many old dreams were removed."""
    if not _DREAM_FILE.fullmatch(f"{run_id}.md"):
        raise ValueError("run id does not have the runner's shape")
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    directory = fsio.ensure_private_dir(dream_dir(ctx), "the Dream output directory")
    path = directory / f"{run_id}.md"
    # Cut on a character boundary: a byte cut could split a multi-byte character.
    data = text.encode("utf-8")[:MAX_DREAM_BYTES].decode("utf-8", "ignore").encode("utf-8")
    fsio.atomic_write(path, data, "a Dream output file")
    return path, prune(directory, keep)


def prune(directory: Path, keep: int) -> int:
    """Remove all but the newest ``keep`` dreams (run ids sort by start time); other files
    in the directory are never touched."""
    names = sorted(
        e.name for e in os.scandir(directory) if e.is_file(follow_symlinks=False) and _DREAM_FILE.fullmatch(e.name)
    )
    removed = 0
    for name in names[: max(0, len(names) - keep)]:
        try:
            (directory / name).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


# -- the whole run ---------------------------------------------------------------------------


class DreamRun(Record):
    status: str  # "written" | "disabled" | "no-material"
    degraded: bool = False
    warnings: tuple[str, ...] = ()
    provider: str | None = None
    material_generated_at: str | None = None
    material_refreshed: bool = False
    refresh_exit: int | None = None
    generated_at: str | None = None
    output: Path | None = None  # private: never shown
    pruned: int = 0

    def __repr__(self) -> str:  # without the private output path
        return repr(self._replace(output=None))


def execute(
    ctx: Context,
    env: Mapping[str, str],
    run_id: str,
    *,
    refresh: Refresher,
    run_command: CommandRunner,
    deadline: float,
    registry: Registry | None = None,
    resolve: Callable[[str], str | None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    blocked_wait: float = BLOCKED_WAIT_SECONDS,
) -> DreamRun:
    """One Dream run, everything injectable so tests need no runner."""
    if not dream_enabled(env):
        return DreamRun("disabled")
    settings = DreamSettings.from_env(env)
    warnings = list(settings.warnings)
    prepared = prepare_material(
        ctx, settings, refresh=refresh, deadline=deadline, clock=clock, sleep=sleep, blocked_wait=blocked_wait
    )
    warnings += prepared.warnings
    material = prepared.material
    if material.data is None:
        warnings.append("no host/local material is available; run aios-run agent-aggregate")
        return DreamRun("no-material", True, _safe(ctx, warnings), refresh_exit=prepared.refresh_exit)

    from aios_systemd.registry import REGISTRY

    outcomes = job_outcomes(ctx, registry or REGISTRY)
    digest = offline_digest(material, outcomes)
    provider_doc = {**material_document(material), "jobOutcomes": outcomes}
    timeout = min(settings.provider_timeout, max(1.0, deadline - time.monotonic() - 5))
    result = run_provider(
        settings.provider,
        digest,
        json.dumps(provider_doc, indent=1, sort_keys=True),
        env=env,
        run_command=run_command,
        resolve=resolve or resolver_for(ctx),
        timeout=timeout,
        search_path=provider_search_path(ctx),
    )
    warnings += result.warnings
    generated_at = iso(clock())
    header = f"<!-- dream {run_id} · provider {result.provider} · generated {generated_at} -->\n"
    # Private, but a provider may echo anything it was given or found: redact anyway.
    text = ctx.privacy.redact(header + result.text)
    _, pruned = write_dream(ctx, run_id, text, settings.keep)
    return DreamRun(
        "written",
        degraded=result.fell_back or not material.fresh,
        warnings=_safe(ctx, warnings),
        provider=result.provider,
        material_generated_at=iso(material.generated_at) if material.generated_at else None,
        material_refreshed=material.refreshed,
        refresh_exit=prepared.refresh_exit,
        generated_at=generated_at,
        output=dream_dir(ctx) / f"{run_id}.md",
        pruned=pruned,
    )


def _safe(ctx: Context, warnings: list[str]) -> tuple[str, ...]:
    return tuple(ctx.privacy.redact(w) for w in warnings)


# -- the runner's binding -------------------------------------------------------------------

REFRESH_JOB = "agent-aggregate"
RUNNER_MISSING = 127  # as a shell reports a command it cannot find


def aios_run_path() -> Path:
    """The ``aios-run`` installed beside this interpreter (the same build as this runner)."""
    return Path(sys.executable).parent / "aios-run"


def refresher(rc: RunContext) -> Refresher:
    argv = [str(aios_run_path()), REFRESH_JOB, "--project-root", str(rc.ctx.project_root), "--json"]
    # The clean child environment drops AIOS_SCHEDULER_ROOT: without it the refresh would
    # lock, record and write under a different scheduler root than this run.
    extra = {"AIOS_SCHEDULER_ROOT": str(rc.ctx.scheduler_root)}
    if rc.trigger in TRIGGERS:
        extra[TRIGGER_ENV] = rc.trigger

    def refresh(timeout: float) -> int | None:
        if not Path(argv[0]).is_file():
            rc.log.event("refresh-unavailable", reason="aios-run not found beside the interpreter")
            return RUNNER_MISSING
        rc.log.event("refresh-start", refreshJob=REFRESH_JOB)
        try:
            result = rc.run_command(argv, timeout=timeout, extra_env=extra, check=False)
        except proc.ProcessTimeoutError:
            return None
        rc.log.event("refresh-end", refreshJob=REFRESH_JOB, exitCode=result.returncode)
        return result.returncode

    return refresh


def run(rc: RunContext) -> HandlerResult:
    env = merged_env(rc.ctx)
    outcome = execute(
        rc.ctx,
        env,
        rc.run_id,
        refresh=refresher(rc),
        run_command=rc.run_command,
        deadline=rc.deadline,
        registry=rc.registry,
    )
    rc.log.event(
        "dream",
        status=outcome.status,
        provider=outcome.provider,
        materialGeneratedAt=outcome.material_generated_at,
        materialRefreshed=outcome.material_refreshed,
        refreshExit=outcome.refresh_exit,
        pruned=outcome.pruned,
    )
    if outcome.status == "disabled":
        return HandlerResult(HandlerOutcome.SKIPPED, reason="dream-disabled")
    if outcome.status == "no-material":
        return HandlerResult(HandlerOutcome.FAILED, outcome.warnings, reason="no-material")
    freshness = {"dream": outcome.generated_at or ""}
    if outcome.material_generated_at:
        freshness["dreamMaterial"] = outcome.material_generated_at
    if not outcome.degraded:
        return HandlerResult(HandlerOutcome.SUCCESS, outcome.warnings, freshness=freshness)
    reason = (
        "provider-fallback"
        if outcome.provider == OFFLINE and any(w.startswith("Dream provider") for w in outcome.warnings)
        else "stale-material"
    )
    return HandlerResult(HandlerOutcome.DEGRADED, outcome.warnings, freshness=freshness, reason=reason)
