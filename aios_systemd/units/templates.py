"""Render a reviewed job into its ``ai-os-<job>.service`` / ``.timer`` pair, and the
failure-alert template ``ai-os-notify@.service`` its service's ``OnFailure=`` names when the
job has notify on.

The templates live in ``templates/units/`` and ship inside the package as
``aios_systemd/templates/units`` (a symlink in the checkout, real files in the wheel).
No value reaches a unit file unescaped: every ``{{ ... }}`` must pass one of the filters
below, and the environment's ``finalize`` refuses any value that did not, so a template
that forgets a filter fails to render instead of writing raw text.  Values a unit file
cannot carry (newlines, control characters, a trailing backslash that would continue the
line) are refused with a hint, never dropped.

Jinja is imported inside the render path only: callers that need names alone do not pay
for it.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import unicodedata
from pathlib import Path

from aios_systemd import registry
from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import AiosError, ExitCode, UnsafePathError, UsageError
from aios_systemd.record import Record
from aios_systemd.registry import JOB_ID, UNIT_PREFIX
from aios_systemd.units.stamp import stamp

if TYPE_CHECKING:
    from typing import Any

    import jinja2

    from aios_systemd.config import JobSettings
    from aios_systemd.registry import Job

SERVICE_TEMPLATE = "job.service.j2"
TIMER_TEMPLATE = "job.timer.j2"
NOTIFY_TEMPLATE = "notify.service.j2"
# The one unit shared by every job with notify on: a template, instantiated per failed
# service (ai-os-notify@ai-os-<job>.service.service).
NOTIFY_UNIT = f"{UNIT_PREFIX}notify@.service"
# The console scripts of this installation a unit may run: the job services run aios-run,
# the notify unit aios-notify (both programs of the CLI table).
RUN_SCRIPT = "aios-run"
NOTIFY_SCRIPT = "aios-notify"
UNIT_SCRIPTS = (RUN_SCRIPT, NOTIFY_SCRIPT)
# aios-notify reads the manager, sends one ping (5 s, one retry) and one notification (5 s).
NOTIFY_TIMEOUT_SECONDS = 60
# The runner stops a handler at its own timeout, waits a 3 s grace, kills the tree and
# writes the final state; the unit timeout must only ever be the backstop behind that.
TIMEOUT_MARGIN_SECONDS = 30
SCHEDULER_ROOT_VAR = "AIOS_SCHEDULER_ROOT"
# Exits that leave the unit inactive rather than failed: a blocked attempt (another run
# holds the lock) and a stop the user asked for (systemctl --user stop: the run writes its
# final state, terminated, and exits 143).
SUCCESS_EXITS = (ExitCode.BLOCKED, ExitCode.TERMINATED)
# Linux PATH_MAX counts the terminating NUL; NAME_MAX bounds one component.
MAX_PATH_BYTES = 4095
MAX_NAME_BYTES = 255
MAX_DESCRIPTION_CHARS = 256
# Calendars come from the reviewed registry; this is a second fence, not the first.
_CALENDAR = re.compile(r"[0-9A-Za-z*/:.,~ -]{1,128}")
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.@-]{1,255}")
# Characters systemd itself refuses in an executable path, or does not unescape there
# (``$$`` is not turned back into ``$`` in the path it executes).
_EXEC_PATH_FORBIDDEN = frozenset("\"'\\$")


class RenderedUnit(Record):
    name: str
    job_id: str
    kind: str  # "service" | "timer"
    text: str  # full file content, stamp header included, ends with "\n"


class _Escaped(str):
    """Text that went through one of this module's filters; only it may reach a unit."""

    __slots__ = ()


def unit_names(job_id: str) -> tuple[str, str]:
    """``("ai-os-<job>.service", "ai-os-<job>.timer")`` for a job id of the registry's shape."""
    return registry.unit_names(check_job_id(job_id))


def check_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise UsageError(
            "the job id does not have the reviewed shape",
            "use a job id of the reviewed registry (lowercase letters, digits and dashes)",
        )
    return job_id


# -- character policy ----------------------------------------------------------------
def unsafe_character(text: str) -> str | None:
    """A label for the first character a unit file cannot carry, or ``None``.

    Refused: C0 and C1 controls and DEL (newline, tab, escapes), Unicode line and
    paragraph separators, other separators than the plain space, format characters
    (bidi overrides, zero-width characters that disguise what an operator reads),
    unassigned and private-use code points, and lone surrogates.
    """
    for ch in text:
        if ch == " ":
            continue
        category = unicodedata.category(ch)
        if ch in "\n\r":
            return "a line break"
        if category == "Cc":
            return "a control character"
        if category in ("Zl", "Zp"):
            return "a Unicode line or paragraph separator"
        if category == "Zs":
            return "a space character other than the plain space"
        if category == "Cf":
            return "an invisible formatting character"
        if category in ("Cs", "Co", "Cn"):
            return "an unassigned, private-use or surrogate code point"
    return None


def _refuse_characters(text: str, label: str) -> None:
    found = unsafe_character(text)
    if found is not None:
        raise UsageError(
            f"{label} contains {found}, which a unit file cannot carry",
            f"remove it from {label}; nothing is dropped or rewritten silently",
        )


def _text(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{label} is not text", "this is a bug in the caller: report it")
    return value


# -- filters ---------------------------------------------------------------------------
def unit_value(value: object, label: str = "the description") -> _Escaped:
    """A free-text setting such as ``Description=``: specifiers escaped (``%`` → ``%%``).

    Leading or trailing whitespace would be stripped by systemd and a trailing backslash
    would continue the line into the next setting, so both are refused.
    """
    text = _text(value, label)
    _refuse_characters(text, label)
    if not text or text != text.strip():
        raise UsageError(f"{label} is empty or starts or ends with a space", f"trim {label}")
    if text.endswith("\\"):
        raise UsageError(
            f"{label} ends with a backslash, which would continue the line",
            f"remove the trailing backslash from {label}",
        )
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise UsageError(f"{label} is longer than {MAX_DESCRIPTION_CHARS} characters", f"shorten {label}")
    return _Escaped(text.replace("%", "%%"))


def check_path_text(value: object, label: str) -> str:
    """The text of an absolute path a unit file can carry literally, or
    :class:`UnsafePathError` naming ``label`` (never the path).  Lexical only: whether the
    place is safe is :mod:`aios_systemd.units.safety`'s business."""
    text = str(value) if isinstance(value, Path) else _text(value, label)
    found = unsafe_character(text)
    if found is not None:
        raise UnsafePathError(
            f"{label} contains {found}, which a unit file cannot carry",
            "rename the directory (or move the project) to a path without it",
        )
    if "\\" in text:
        raise UnsafePathError(
            f"{label} contains a backslash, which unit files treat as an escape",
            "rename the directory to a path without backslashes",
        )
    if text != text.rstrip():
        raise UnsafePathError(
            f"{label} ends with a space, which systemd would strip",
            "rename the directory so its name does not end with a space",
        )
    if not text.startswith("/"):
        raise UnsafePathError(f"{label} is a relative path", 'pass an absolute path, e.g. "$PWD"')
    raw = text.encode("utf-8")  # lone surrogates were refused above
    if len(raw) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        raise UnsafePathError(f"{label} is longer than a path may be", "move the project to a shorter path")
    if os.path.normpath(text) != text or text.startswith("//"):
        raise UnsafePathError(
            f"{label} is not a normalized path (it has '.', '..', '//' or a trailing '/')",
            "pass the normalized absolute path, e.g. from realpath",
        )
    return text


def path_value(value: object, label: str = "the working directory") -> _Escaped:
    """An absolute path for ``WorkingDirectory=``, which systemd takes literally apart
    from specifiers (checked on a real manager: quotes, ``$``, ``#`` and ``;`` arrive as
    written)."""
    return _Escaped(check_path_text(value, label).replace("%", "%%"))


def _quote(text: str) -> str:
    # systemd.service(5) "Command lines": double quotes with C escapes inside; specifiers
    # are expanded on the whole line before unquoting, hence %% whatever the quoting.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def exec_path(value: object, label: str = "the aios-run path") -> _Escaped:
    """The executable of ``ExecStart=``: absolute, one of this installation's reviewed
    console scripts (:data:`UNIT_SCRIPTS`) by name, quoted."""
    text = check_path_text(value, label)
    if text.rsplit("/", 1)[-1] not in UNIT_SCRIPTS:
        raise UsageError(
            "a unit may only run " + " or ".join(UNIT_SCRIPTS),
            "pass the path of this installation's " + " or ".join(UNIT_SCRIPTS),
        )
    if any(ch in _EXEC_PATH_FORBIDDEN for ch in text):
        raise UsageError(
            f"{label} contains a quote, backslash or '$', which systemd refuses or misreads in an executable path",
            "install aios-systemd under a plainer path",
        )
    return _Escaped(_quote(text))


def exec_arg(value: object, label: str = "a command argument") -> _Escaped:
    """One ``ExecStart=`` argument: double-quoted with C escapes, ``%`` → ``%%`` and
    ``$`` → ``$$`` so neither specifiers nor environment variables expand."""
    text = _text(value, label)
    _refuse_characters(text, label)
    if len(text.encode("utf-8")) > MAX_PATH_BYTES:  # lone surrogates were refused above
        raise UsageError(f"{label} is too long", f"shorten {label}")
    return _Escaped(_quote(text).replace("$", "$$"))


def exec_path_arg(value: object, label: str = "the project root") -> _Escaped:
    """An absolute path as an ``ExecStart=`` argument (checked as a path, then quoted as
    an argument: ``$`` → ``$$`` so no variable expands)."""
    return _Escaped(_quote(check_path_text(value, label)).replace("$", "$$"))


def env_path(value: object, label: str = "the scheduler root") -> _Escaped:
    """``NAME=/absolute/path`` for ``Environment=``: one double-quoted word (C escapes,
    specifiers as ``%%``); systemd expands no ``$`` there."""
    name, sep, path = _text(value, label).partition("=")
    if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        raise UsageError(f"{label} is not a NAME=path assignment", "this is a bug: report it")
    return _Escaped(_quote(f"{name}={check_path_text(path, label)}"))


def unit_int(value: object, label: str = "a number") -> _Escaped:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{label} is not a non-negative whole number", "this is a bug: report it")
    return _Escaped(str(value))


def exit_statuses(value: object, label: str = "exit statuses") -> _Escaped:
    if not isinstance(value, tuple) or not value:
        raise UsageError(f"{label} are not a list of numbers", "this is a bug: report it")
    return _Escaped(" ".join(unit_int(code, label) for code in value))


def calendar(value: object, label: str = "a calendar expression") -> _Escaped:
    text = _text(value, label)
    if not _CALENDAR.fullmatch(text) or text != text.strip():
        raise UsageError(
            f"{label} is not a reviewed calendar shape",
            "choose a reviewed cadence id or strict HH:MM Dream times in the config",
        )
    return _Escaped(text)


def unit_name(value: object, label: str = "a unit name") -> _Escaped:
    text = _text(value, label)
    if not _UNIT_NAME.fullmatch(text):
        raise UsageError(f"{label} is not a valid unit name", "this is a bug: report it")
    return _Escaped(text)


def failure_handler(value: object, label: str = "the notify unit") -> _Escaped:
    """``OnFailure=`` for a template unit: its instance for this very unit, as systemd's
    own idiom writes it (``x@%n.service``: ``%n`` is the failing unit's full name).  The
    specifier also keeps the line from reading as an e-mail address to the redaction."""
    text = unit_name(value, label)
    if text.count("@") != 1 or "@." not in text:
        raise UsageError(f"{label} is not a template unit name", "this is a bug: report it")
    return _Escaped(text.replace("@.", "@%n.", 1))


FILTERS: dict[str, Any] = {
    "unit_value": unit_value,
    "path_value": path_value,
    "exec_path": exec_path,
    "exec_arg": exec_arg,
    "exec_path_arg": exec_path_arg,
    "env_path": env_path,
    "exit_statuses": exit_statuses,
    "unit_int": unit_int,
    "calendar": calendar,
    "unit_name": unit_name,
    "failure_handler": failure_handler,
}


def _finalize(value: object) -> str:
    if isinstance(value, _Escaped):
        return value
    raise UsageError(
        "a template printed a value without an escaping filter", "this is a bug in the unit templates: report it"
    )


def template_dir() -> Any:
    """The packaged template directory (a ``Traversable``)."""
    from importlib.resources import files

    return files("aios_systemd") / "templates" / "units"


@functools.cache
def source_digest() -> str:
    """A digest of the template sources: part of every cache key over rendered units.

    Read straight from the package directory when it is one (importing
    ``importlib.resources`` costs more than an interactive command's whole budget);
    the rendering itself always loads through ``importlib.resources``.
    """
    import hashlib

    h = hashlib.sha256()
    directory = Path(__file__).resolve().parent.parent / "templates" / "units"
    entries: list[tuple[str, bytes]]
    if directory.is_dir():
        entries = [(p.name, p.read_bytes()) for p in directory.iterdir() if p.name.endswith(".j2")]
    else:
        entries = [(e.name, e.read_bytes()) for e in template_dir().iterdir() if e.name.endswith(".j2")]
    for name, data in sorted(entries):
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    directory = template_dir()

    def load(name: str) -> tuple[str, None, Any]:
        resource = directory / name
        if not resource.is_file():
            raise jinja2.TemplateNotFound(name)
        return resource.read_text(encoding="utf-8"), None, lambda: True

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        # Unit files are not HTML; escaping is done by the explicit filters instead.
        autoescape=False,  # noqa: S701
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({name: _strict(jinja2, function) for name, function in FILTERS.items()})
    return env


def _strict(jinja2: Any, function: Any) -> Any:
    # A filter would otherwise swallow a StrictUndefined as "not text"; make the missing
    # variable itself the error, as StrictUndefined promises.
    def wrapped(value: object, *args: Any) -> Any:
        if isinstance(value, jinja2.Undefined):
            str(value)  # raises UndefinedError naming the variable
        return function(value, *args)

    return wrapped


def render_template(name: str, values: dict[str, object]) -> str:
    import jinja2

    try:
        return environment().get_template(name).render(**values)
    except jinja2.TemplateError as exc:
        raise AiosError(
            "a unit template could not be rendered", "this is a bug in the packaged templates: report it"
        ) from exc


def render_job(
    job: Job, settings: JobSettings, *, working_directory: Path, aios_run: Path, scheduler_root: Path
) -> tuple[RenderedUnit, RenderedUnit]:
    """The (service, timer) pair for ``job`` with its selected cadence, both stamped.

    The service is self-contained: it pins the project root (``--project-root`` as well as
    ``WorkingDirectory=``) and the scheduler root (``Environment=AIOS_SCHEDULER_ROOT=``),
    because the manager hands it the manager's environment, not the installing shell's,
    and nothing in that environment may move a run elsewhere.

    This escapes and refuses what a unit cannot carry; whether the working directory is
    a *safe* place is :func:`aios_systemd.units.safety.check_working_directory`'s call.
    """
    check_job_id(job.id)
    if settings.job.id != job.id:
        raise UsageError("the settings belong to another job", "this is a bug: report it")
    if aios_run.name != RUN_SCRIPT:
        raise UsageError(
            f"a job's service may only run {RUN_SCRIPT}", f"pass the path of this installation's {RUN_SCRIPT}"
        )
    service_name, timer_name = unit_names(job.id)
    calendars = settings.calendars
    if not calendars:
        raise UsageError("the selected cadence has no calendar", "choose a cadence with at least one time")
    service_body = render_template(
        SERVICE_TEMPLATE,
        {
            "description": f"AI OS scheduled job {job.id}: {job.title}",
            "working_directory": working_directory,
            "aios_run": aios_run,
            "scheduler_root": f"{SCHEDULER_ROOT_VAR}={scheduler_root}",
            "job_id": job.id,
            "timeout_start_seconds": job.timeout_seconds + TIMEOUT_MARGIN_SECONDS,
            "success_exit_codes": tuple(int(code) for code in SUCCESS_EXITS),
            "notify_unit": NOTIFY_UNIT if settings.notify else None,
        },
    )
    timer_body = render_template(
        TIMER_TEMPLATE,
        {
            "description": f"Timer for AI OS job {job.id}: {settings.cadence.title}",
            "calendars": calendars,
            "service_name": service_name,
        },
    )
    return (
        RenderedUnit(service_name, job.id, "service", stamp(service_body)),
        RenderedUnit(timer_name, job.id, "timer", stamp(timer_body)),
    )


def notify_instance(service_name: str) -> str:
    """The notify unit's instance for a failed service: what its ``OnFailure=`` starts."""
    return NOTIFY_UNIT.replace("@", "@" + service_name, 1)


def render_notify(*, aios_run: Path, project_root: Path, scheduler_root: Path) -> RenderedUnit:
    """The stamped ``ai-os-notify@.service``: this installation's ``aios-notify`` (the
    script beside ``aios_run``) for the failed unit, with both roots pinned as the job
    services pin them, so it reads the project's ``.env.local`` (the ping URL) and the same
    scheduler root whatever the manager's environment says."""
    body = render_template(
        NOTIFY_TEMPLATE,
        {
            "description": "AI OS failure alert for",
            "aios_notify": aios_run.with_name(NOTIFY_SCRIPT),
            "project_root": project_root,
            "scheduler_root": f"{SCHEDULER_ROOT_VAR}={scheduler_root}",
            "timeout_start_seconds": NOTIFY_TIMEOUT_SECONDS,
        },
    )
    return RenderedUnit(NOTIFY_UNIT, "", "service", stamp(body))


def resolve_aios_run() -> Path:
    """This installation's ``aios-run``: the console script next to the running Python.

    The venv's python symlink is deliberately not resolved: the script lives in the
    venv's ``bin``, not next to the interpreter the venv was made from.
    """
    executable = sys.executable
    if not executable or not Path(executable).is_absolute():
        raise AiosError(
            f"cannot tell where this installation's {RUN_SCRIPT} is",
            "run aios-units with the Python of the environment aios-systemd is installed in",
        )
    path = Path(executable).parent / RUN_SCRIPT
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AiosError(
            f"this installation has no executable {RUN_SCRIPT} next to its Python",
            "reinstall aios-systemd (pip install .) in this environment so that its console scripts exist",
        )
    return path
