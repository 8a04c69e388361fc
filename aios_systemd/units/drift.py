"""Three-way drift: the rendered unit, the installed file, and what the manager has loaded.

:func:`compare` is pure: it takes what was rendered, read and loaded and returns a
:class:`DriftReport`.  :func:`gather` does the reading (files without following symlinks,
one batch of D-Bus reads, one ``systemd-analyze calendar`` for every calendar) and calls
it.  Reports carry unit names and labels only: the absolute paths systemd reports are
compared here and never copied out, and diff text goes through the caller's redaction.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from aios_systemd import fsio
from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.errors import AiosError
from aios_systemd.isotime import iso_from_epoch
from aios_systemd.record import Record
from aios_systemd.registry import JOB_ID_PATTERN, UNIT_PREFIX
from aios_systemd.units.stamp import Ownership, classify
from aios_systemd.units.systemd import LoadedUnit, usec_to_iso

if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.registry import Job, Registry
    from aios_systemd.units.systemd import UserManager

UNIT_SUFFIXES = (".service", ".timer")
MAX_UNIT_BYTES = 64 * 1024
OUR_UNIT = re.compile(rf"{UNIT_PREFIX}(?P<job>{JOB_ID_PATTERN})\.(?P<kind>service|timer)")
# UnitFileState values under which a timer's [Install] is in effect.
ENABLED_STATES = frozenset({"enabled", "enabled-runtime"})


class Finding(enum.StrEnum):
    IN_SYNC = "in-sync"
    MISSING = "missing"  # wanted, no file installed
    CHANGED = "changed"  # our untouched file, but the rendering is different now
    HAND_EDITED = "hand-edited"  # our file, edited after we wrote it
    UNMANAGED = "unmanaged"  # a file of the same name that we did not write
    UNREADABLE = "unreadable"  # a symlink, not a regular file, or too large
    ORPHAN = "orphan"  # ours, but the job's timer intent is off (or the job is unknown)
    NOT_LOADED = "not-loaded"  # a file is installed but the manager did not load it
    SHADOWED = "shadowed"  # the manager loaded it from another file
    OVERRIDDEN = "overridden"  # a drop-in changes a setting that decides what the unit does
    EXTENDED = "extended"  # drop-ins apply, and change none of those settings (not drift)
    FOREIGN = "foreign"  # an ai-os-* unit of no reviewed job that we did not write (not drift)
    NEEDS_DAEMON_RELOAD = "needs-daemon-reload"
    CALENDAR_MISMATCH = "calendar-mismatch"  # loaded calendars differ (normalized forms)
    NOT_ENABLED = "not-enabled"  # timer wanted but not enabled
    NOT_ACTIVE = "not-active"  # timer wanted but not running


# Most serious first: a unit's overall state is its first finding in this order.
SEVERITY: tuple[Finding, ...] = (
    Finding.UNMANAGED,
    Finding.UNREADABLE,
    Finding.HAND_EDITED,
    Finding.ORPHAN,
    Finding.MISSING,
    Finding.CHANGED,
    Finding.OVERRIDDEN,
    Finding.SHADOWED,
    Finding.NOT_LOADED,
    Finding.NEEDS_DAEMON_RELOAD,
    Finding.CALENDAR_MISMATCH,
    Finding.NOT_ENABLED,
    Finding.NOT_ACTIVE,
)


# Drift after which a timer runs something other than what aios-systemd rendered: a drop-in
# changed it, the manager loads another copy, or the file is not ours.  Doctor fails on it.
RUNS_SOMETHING_ELSE = frozenset({Finding.OVERRIDDEN, Finding.SHADOWED, Finding.UNMANAGED})


class InstalledFile(Record):
    name: str
    text: str | None  # None: no file (or unreadable: see problem)
    ownership: Ownership | None
    problem: str | None = None  # a safe label when the file could not be read
    modified: float | None = None  # its mtime: when it was last written (install writes anew)


class Expected(Record):
    """What one unit should be: rendered (wanted) or absent (not wanted)."""

    name: str
    job_id: str
    kind: str
    wanted: bool
    rendered: str | None = None
    calendars: tuple[str, ...] = ()  # normalized, timers only
    registered: bool = True  # a reviewed job's unit (False: a name found in the unit directory)
    orphan_note: str = "the job's timer intent is off: uninstall it, or turn timerEnabled on"


class LoadedSummary(Record):
    load_state: str
    active_state: str
    sub_state: str
    unit_file_state: str
    need_daemon_reload: bool
    calendars: tuple[str, ...]
    next_elapse: str | None
    last_trigger: str | None
    result: str = ""  # a failed service's Result (exit-code, signal, timeout...)
    exit: str | None = None  # how its main process ended: "203/EXEC", "SIGKILL"
    exited_at: str | None = None

    @classmethod
    def of(cls, unit: LoadedUnit) -> LoadedSummary:
        return cls(
            unit.load_state,
            unit.active_state,
            unit.sub_state,
            unit.unit_file_state,
            unit.need_daemon_reload,
            unit.calendars,
            usec_to_iso(unit.next_elapse_usec),
            usec_to_iso(unit.last_trigger_usec),
            unit.result if unit.active_state == "failed" or unit.name.endswith(".timer") else "",
            exit_description(unit.exec_main_code, unit.exec_main_status),
            usec_to_iso(unit.exec_main_exit_usec),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "loadState": self.load_state,
            "activeState": self.active_state,
            "subState": self.sub_state,
            "unitFileState": self.unit_file_state or None,
            "needDaemonReload": self.need_daemon_reload,
            "calendars": list(self.calendars),
            "nextElapse": self.next_elapse,
            "lastTrigger": self.last_trigger,
            "result": self.result or None,
            "exit": self.exit,
            "exitedAt": self.exited_at,
        }


# systemd.exec(5), "Process Exit Codes": what the manager could not do before the command
# ran.  The toolkit's own exit codes are in outcomes (1 failed, 124 timeout...).
EXIT_NAMES = {
    200: "CHDIR",
    201: "NICE",
    202: "FDS",
    203: "EXEC",
    204: "MEMORY",
    205: "LIMITS",
    208: "STDIN",
    209: "STDOUT",
    214: "SETSCHEDULER",
    216: "GROUP",
    217: "USER",
    218: "CAPABILITIES",
    219: "CGROUP",
    222: "STDERR",
    226: "NAMESPACE",
    227: "NO_NEW_PRIVILEGES",
    228: "SECCOMP",
    233: "RUNTIME_DIRECTORY",
    238: "STATE_DIRECTORY",
    243: "CREDENTIALS",
}
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3


def exit_description(code: int | None, status: int | None) -> str | None:
    """``"203/EXEC"``, ``"1"`` or ``"SIGKILL"``, as ``systemctl status`` words it."""
    if code is None or status is None or code == 0:
        return None
    if code in (CLD_KILLED, CLD_DUMPED):
        import signal

        try:
            return signal.Signals(status).name
        except ValueError:
            return f"signal {status}"
    name = EXIT_NAMES.get(status)
    return f"{status}/{name}" if name else str(status)


class UnitReport(Record):
    name: str
    job_id: str
    kind: str
    wanted: bool
    findings: tuple[Finding, ...]
    installed: Ownership | None
    loaded: LoadedSummary | None
    expected_calendars: tuple[str, ...] = ()
    diff: str | None = None  # unified diff installed -> rendered, already redacted
    notes: tuple[str, ...] = ()  # safe human explanations (labels, never paths)
    rendered: str | None = None  # for apply; never reported
    other_root: bool = False  # the installed service runs in another project root
    installed_at: str | None = None  # when the installed file was last written (ISO, UTC)

    @property
    def state(self) -> Finding:
        for finding in SEVERITY:
            if finding in self.findings:
                return finding
        return Finding.IN_SYNC

    @property
    def in_sync(self) -> bool:
        return self.state is Finding.IN_SYNC

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "jobId": self.job_id,
            "kind": self.kind,
            "wanted": self.wanted,
            "state": str(self.state),
            "findings": [str(f) for f in self.findings] or [str(Finding.IN_SYNC)],
            "installed": str(self.installed) if self.installed else None,
            "loaded": self.loaded.to_dict() if self.loaded else None,
            "expectedCalendars": list(self.expected_calendars),
            "diff": self.diff,
            "notes": list(self.notes),
        }


class DriftReport(Record):
    units: tuple[UnitReport, ...]
    bus_checked: bool

    @property
    def in_sync(self) -> bool:
        return all(u.in_sync for u in self.units)

    @property
    def state(self) -> str:
        return "in-sync" if self.in_sync else "drift"

    def unit(self, name: str) -> UnitReport:
        for unit in self.units:
            if unit.name == name:
                return unit
        raise KeyError(name)

    def for_job(self, job_id: str) -> tuple[UnitReport, ...]:
        return tuple(u for u in self.units if u.job_id == job_id)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for unit in self.units:
            out[str(unit.state)] = out.get(str(unit.state), 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "inSync": self.in_sync,
            "busChecked": self.bus_checked,
            "counts": self.counts(),
            "units": [u.to_dict() for u in self.units],
        }


# The fixes a drift report points to; install's refusals say the same, from here.
FOREIGN_FIX = (
    "aios-systemd never overwrites or removes a unit it did not generate: "
    "rename or remove that file yourself, then rerun"
)


def dropin_fix(unit: str) -> str:
    """What to do about a drop-in that changes one of our settings (install never touches it)."""
    return (
        "aios-systemd never edits or removes your drop-ins, with or without --force: change or remove that "
        f"drop-in yourself ('systemctl --user revert {unit}' removes the unit's own, not a shared one "
        "such as service.d/)"
    )


RELOAD_FIX = "run 'systemctl --user daemon-reload' so the manager loads the drop-ins on disk and they can be judged"


def fix_hint(units: Iterable[UnitReport]) -> str | None:
    """The commands that converge the drifting ``units`` (``None`` when none drifts): an
    install of their jobs, an uninstall of orphans, and for what install refuses to touch
    (a drop-in, a file it did not write) what to do by hand."""
    install: list[str] = []
    force: list[str] = []
    uninstall: list[str] = []
    by_hand: list[str] = []
    for unit in units:
        found = set(unit.findings)
        job = unit.job_id
        if unit.in_sync:
            continue
        if Finding.UNMANAGED in found:
            by_hand.append(f"{unit.name}: {FOREIGN_FIX}")
        elif Finding.UNREADABLE in found:
            by_hand.append(f"{unit.name}: move it away yourself, then rerun")
        elif Finding.ORPHAN in found and not job:
            by_hand.append(NOTIFY_REMOVED_BY)
        elif Finding.ORPHAN in found:
            uninstall.append(f"{job} --force" if Finding.HAND_EDITED in found else job)
        elif Finding.OVERRIDDEN in found and Finding.NEEDS_DAEMON_RELOAD in found:
            by_hand.append(RELOAD_FIX)  # a drop-in is judged once the manager has loaded it
        elif Finding.OVERRIDDEN in found:
            by_hand.append(f"{unit.name}: {dropin_fix(unit.name)}")
        elif Finding.SHADOWED in found:
            by_hand.append(
                f"{unit.name}: the manager loads another copy: remove it ('systemctl --user cat {unit.name}' "
                "shows where it is)"
            )
        elif not job:
            by_hand.append(f"'aios-units install' of a job with notify on rewrites {unit.name}")
        else:
            (force if Finding.HAND_EDITED in found else install).append(job)
    fixes = [f"run 'aios-units install {' '.join(dict.fromkeys(install))}'"] if install else []
    fixes += [
        f"run 'aios-units install {job} --force' to replace the hand-edited file (a backup is kept next to it)"
        for job in dict.fromkeys(force)
    ]
    if uninstall:
        fixes.append(f"run 'aios-units uninstall {' '.join(dict.fromkeys(uninstall))}' to remove what no job wants")
    fixes += by_hand
    return "; ".join(dict.fromkeys(fixes)) or None


def summary(units: Iterable[UnitReport]) -> dict[str, Any]:
    """A short JSON-ready drift summary for a set of units (for status)."""
    units = tuple(units)
    found = {f for u in units for f in u.findings}
    findings = [str(f) for f in SEVERITY if f in found]
    return {"state": "in-sync" if all(u.in_sync for u in units) else "drift", "findings": findings}


# -- the pure comparison -----------------------------------------------------------------
def _unified_diff(installed: str, rendered: str, name: str, redact: Callable[[str], str]) -> str:
    import difflib  # only when there is a difference to show

    lines = difflib.unified_diff(
        installed.splitlines(keepends=True),
        rendered.splitlines(keepends=True),
        fromfile=f"installed/{name}",
        tofile=f"rendered/{name}",
    )
    return "".join(redact(_mask_environment(line.rstrip("\n"))) + "\n" for line in lines)


_ENVIRONMENT_LINE = re.compile(r"^([-+ ]\s*(?:Environment|EnvironmentFile|PassEnvironment|SetCredential)\s*=).*$")


def path_labeller(roles: Mapping[str, str]) -> Callable[[str], str]:
    """Names the absolute paths in a diff line by role instead of showing them:
    ``<project root>``, ``<this installation's aios-run>``, and for any other path a stable
    short fingerprint (``<another aios-run #1a2b>``, ``<path #9f3c>``), so the two sides of
    a changed path differ visibly without either being shown."""
    from hashlib import sha256

    from aios_systemd.privacy import ABS_PATH

    known = sorted(((p, r) for p, r in roles.items() if p.startswith("/") and len(p) > 1), key=lambda i: -len(i[0]))

    from aios_systemd.units.templates import UNIT_SCRIPTS

    def other(match: re.Match[str]) -> str:
        path = match.group(0).rstrip("/")
        script = path.rsplit("/", 1)[-1]
        kind = f"another {script}" if script in UNIT_SCRIPTS else "path"
        return f"<{kind} #{sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()[:4]}>"

    def label(line: str) -> str:
        for path, role in known:
            # The whole path only: a path below it is another path, named by fingerprint.
            line = re.sub(re.escape(path) + r"(?=$|[\s\"'])", f"<{role}>", line)
        return ABS_PATH.sub(other, line) if "/" in line else line

    return label


def _mask_environment(line: str) -> str:
    """A hand-added environment line may carry anything (tokens, paths with spaces): the
    diff says it is there and differs, never what it holds."""
    if "AI_OS_SCHEDULER_TRIGGER_SOURCE=systemd" in line and line[1:].strip().startswith("Environment="):
        return line  # ours, reviewed, and the most useful line to see
    return _ENVIRONMENT_LINE.sub(r"\1<hidden>", line)


def pinned_project_root(text: str) -> str | None:
    """The project root a service unit runs for: its ``--project-root`` argument (units
    before it was pinned: their ``WorkingDirectory=``)."""
    from aios_systemd.units.effective import written

    settings = written(text, "service")
    for _path, argv, _ignore in settings.get("ExecStart") or ():
        if "--project-root" in argv[:-1]:
            return str(argv[argv.index("--project-root") + 1])
    root = settings.get("WorkingDirectory")
    return root if isinstance(root, str) else None


def pinned_root_gone(text: str) -> bool:
    """Whether a service pins a project root (an absolute path) that is gone or is no
    directory: a moved checkout, after which every trigger fails before aios-run starts."""
    root = pinned_project_root(text)
    return root is not None and root.startswith("/") and not os.path.isdir(root)


def _same_path(a: str, b: Path) -> bool:
    return os.path.normpath(a) == os.path.normpath(str(b))


def dropin_label(path: str, unit_dir: Path) -> str:
    """A drop-in named by role: ``ai-os-x.service.d/override.conf (in the unit directory)``,
    ``service.d/10-timeout-abort.conf (system-wide, for every user service)``."""
    where = Path(path)
    name = f"{where.parent.name}/{where.name}"
    # systemd's drop-in directories: the unit's own, a type's (service.d) and a name
    # prefix's up to a dash (ai-os-.service.d), which applies to every unit so named.
    stem, _, kind = where.parent.name.removesuffix(".d").rpartition(".")
    if kind not in ("service", "timer"):
        scope = "for this unit"
    elif not stem:
        scope = f"for every user {kind}"
    elif stem.endswith("-"):
        scope = f"for every {stem}* {kind}"
    else:
        scope = "for this unit"
    if _same_path(str(where.parent.parent), unit_dir):
        return f"{name} (in the unit directory, {scope})"
    if path.startswith(("/etc/", "/usr/", "/run/", "/lib/")):
        return f"{name} (system-wide, {scope})"
    return f"{name} (another unit directory, {scope})"


def _unloaded_dropins(loaded: LoadedUnit, on_disk: Sequence[str] | None, unit_dir: Path) -> str | None:
    """What a reload would change about the unit's drop-ins: the ones on disk the manager
    has not loaded, and the loaded ones gone from disk (``None``: nothing, or not known)."""
    if on_disk is None:
        return None
    have = {os.path.normpath(p) for p in loaded.drop_in_paths}
    disk = {os.path.normpath(p) for p in on_disk}
    new = [dropin_label(p, unit_dir) for p in on_disk if os.path.normpath(p) not in have]
    gone = [dropin_label(p, unit_dir) for p in loaded.drop_in_paths if os.path.normpath(p) not in disk]
    parts = (["on disk, not loaded yet: " + ", ".join(new)] if new else []) + (
        ["loaded, gone from disk: " + ", ".join(gone)] if gone else []
    )
    return "drop-ins cannot be judged until the manager reloads: " + "; ".join(parts) if parts else None


def _judge_dropins(
    expected: Expected,
    installed: InstalledFile,
    loaded: LoadedUnit,
    dropins: Mapping[str, str | None],
    unit_dir: Path,
    found: list[Finding],
    notes: list[str],
    on_disk: Sequence[str] | None = None,
) -> None:
    """Extended or overridden: what the drop-ins change of the settings that decide what
    the unit does (effective values against what the unit file says).  Before a reload
    they cannot be judged: the note names what the reload would load or drop."""
    from aios_systemd.units import effective

    labelled = [(dropin_label(p, unit_dir), dropins.get(p)) for p in loaded.drop_in_paths]
    names = ", ".join(label for label, _ in labelled)
    basis = installed.text if installed.text is not None else expected.rendered
    pending = _unloaded_dropins(loaded, on_disk, unit_dir)
    if pending or loaded.need_daemon_reload or basis is None or loaded.properties is None:
        found.append(Finding.OVERRIDDEN)
        if pending:  # the manager may not know yet: a new drop-in directory waits for a reload
            found.append(Finding.NEEDS_DAEMON_RELOAD)
        notes.append(pending or f"drop-ins apply and cannot be judged until the manager reloads: {names}")
        return
    changed = effective.changed(basis, loaded.properties, expected.kind)
    if expected.kind == "timer" and expected.calendars and set(loaded.calendars) != set(expected.calendars):
        changed.append(effective.CALENDARS)
    if changed:
        found.append(Finding.OVERRIDDEN)
        culprits = ", ".join(effective.culprits(changed, labelled))
        notes.append(f"drop-in {culprits} changes {', '.join(effective.setting_keys(changed))}")
    else:
        found.append(Finding.EXTENDED)
        notes.append(f"extended by drop-in {names}; it changes none of the settings aios-systemd renders")


def compare_unit(
    expected: Expected,
    installed: InstalledFile,
    loaded: LoadedUnit | None,
    *,
    unit_dir: Path,
    bus_checked: bool,
    redact: Callable[[str], str],
    dropins: Mapping[str, str | None] | None = None,
    dropins_on_disk: Sequence[str] | None = None,
) -> UnitReport:
    found: list[Finding] = []
    notes: list[str] = []
    diff: str | None = None
    other_root = False
    present = installed.text is not None

    if installed.problem is not None:
        found.append(Finding.UNREADABLE)
        notes.append(f"the installed file {installed.problem}")
    elif not present:
        if expected.wanted:
            found.append(Finding.MISSING)
    else:
        assert installed.text is not None
        if installed.ownership is Ownership.FOREIGN and not expected.registered:
            # The user's own ai-os-dashboard.service: not a name of ours, not ours to judge.
            found.append(Finding.FOREIGN)
            notes.append("not a unit of a reviewed job and not generated by aios-systemd: left alone")
        elif installed.ownership is Ownership.FOREIGN:
            found.append(Finding.UNMANAGED)
            notes.append("a unit of this name exists but was not generated by aios-systemd")
        elif installed.ownership is Ownership.HAND_EDITED:
            found.append(Finding.HAND_EDITED)
        if not expected.wanted and installed.ownership is not Ownership.FOREIGN:
            found.append(Finding.ORPHAN)
            notes.append(expected.orphan_note)
        if expected.wanted and expected.rendered is not None and installed.text != expected.rendered:
            if installed.ownership is Ownership.OURS:
                found.append(Finding.CHANGED)
            diff = _unified_diff(installed.text, expected.rendered, expected.name, redact)
            other_root = expected.kind == "service" and (
                pinned_project_root(installed.text) != pinned_project_root(expected.rendered)
            )
            if other_root:
                notes.append("the installed unit serves another project root than the one asked about")

    summary_ = LoadedSummary.of(loaded) if loaded is not None and loaded.load_state != "not-found" else None
    if bus_checked and loaded is not None and Finding.FOREIGN not in found:
        if loaded.load_state == "not-found":
            if present and installed.problem is None:
                found.append(Finding.NOT_LOADED)
                notes.append("the manager does not see the installed file (another unit directory?)")
        else:
            if loaded.fragment_path and not _same_path(loaded.fragment_path, unit_dir / expected.name):
                found.append(Finding.SHADOWED)
                notes.append("the manager loads this unit from another directory")
            if loaded.drop_in_paths or dropins_on_disk:
                _judge_dropins(expected, installed, loaded, dropins or {}, unit_dir, found, notes, dropins_on_disk)
            if loaded.load_state != "loaded":
                found.append(Finding.NOT_LOADED)
                notes.append(f"the manager reports load state {loaded.load_state}")
            if loaded.need_daemon_reload:
                found.append(Finding.NEEDS_DAEMON_RELOAD)
            if expected.kind == "timer" and loaded.loaded:
                calendars_differ = set(loaded.calendars) != set(expected.calendars)
                if expected.wanted and expected.calendars and calendars_differ:
                    found.append(Finding.CALENDAR_MISMATCH)
                if expected.wanted and present:
                    if loaded.unit_file_state not in ENABLED_STATES:
                        found.append(Finding.NOT_ENABLED)
                    if loaded.active_state != "active":
                        found.append(Finding.NOT_ACTIVE)
                if not expected.wanted and not present and loaded.active_state == "active":
                    found.append(Finding.ORPHAN)
                    notes.append("the manager still runs this timer although its file is gone")

    return UnitReport(
        name=expected.name,
        job_id=expected.job_id,
        kind=expected.kind,
        wanted=expected.wanted,
        findings=tuple(dict.fromkeys(found)),
        installed=installed.ownership if present else None,
        loaded=summary_,
        expected_calendars=expected.calendars,
        diff=diff,
        notes=tuple(dict.fromkeys(notes)),
        rendered=expected.rendered,
        other_root=other_root,
        installed_at=iso_from_epoch(installed.modified, "seconds") if present and installed.modified else None,
    )


def compare(
    expected: Sequence[Expected],
    installed: Mapping[str, InstalledFile],
    loaded: Mapping[str, LoadedUnit] | None,
    *,
    unit_dir: Path,
    redact: Callable[[str], str],
    dropins: Mapping[str, str | None] | None = None,
    dropins_on_disk: Mapping[str, Sequence[str]] | None = None,
) -> DriftReport:
    """The drift report for ``expected`` units (pure: no I/O); ``dropins`` holds the text
    of each drop-in the manager applies (``None`` when it could not be read), and
    ``dropins_on_disk`` the drop-ins a reload would apply, for each unit that needs one."""
    units = []
    for exp in expected:
        inst = installed.get(exp.name) or InstalledFile(exp.name, None, None)
        unit = compare_unit(
            exp,
            inst,
            (loaded or {}).get(exp.name),
            unit_dir=unit_dir,
            bus_checked=loaded is not None,
            redact=redact,
            dropins=dropins,
            dropins_on_disk=(dropins_on_disk or {}).get(exp.name),
        )
        # A unit that is neither wanted nor present anywhere has nothing to report.
        if exp.wanted or unit.findings or unit.installed is not None:
            units.append(unit)
    return DriftReport(tuple(units), loaded is not None)


# -- gathering -------------------------------------------------------------------------
def read_installed(unit_dir: Path, name: str) -> InstalledFile:
    try:
        data = fsio.read_bytes(unit_dir / name, f"the installed unit {name}", MAX_UNIT_BYTES)
    except AiosError as exc:
        problem = (
            "is a symlink"
            if "symlink" in exc.message
            else ("is not a regular file" if "regular" in exc.message else "could not be read")
        )
        return InstalledFile(name, None, None, problem)
    if data is None:
        return InstalledFile(name, None, None)
    text = data.decode("utf-8", "surrogateescape")
    try:
        modified: float | None = os.lstat(unit_dir / name).st_mtime
    except OSError:
        modified = None
    return InstalledFile(name, text, classify(text), modified=modified)


# A pattern, not a compiled one: only doctor asks, so the status path does not compile it.
_EXEC_START = r'^ExecStart=[-@:+!|]*(?:"((?:[^"\\]|\\.)*)"|(\S+))'


def exec_start_binary(text: str) -> str | None:
    """The executable an installed service's first ``ExecStart=`` runs, or ``None``.

    Reads the quoted form our template writes (C escapes, ``%%``) and a plain token, as a
    hand edit may leave it; an absolute path is the only answer that can be checked."""
    match = re.search(_EXEC_START, text, re.MULTILINE)
    if match is None:
        return None
    quoted, plain = match.group(1), match.group(2)
    binary = (re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain).replace("%%", "%")
    return binary if binary.startswith("/") else None


NOTIFY_REMOVED_BY = (
    "'aios-units install' or 'uninstall' of a job removes it once no installed service names it in OnFailure="
)
NOTIFY_ORPHAN = "no job with its timer on has notify on: " + NOTIFY_REMOVED_BY


def names_notify_unit(text: str) -> bool:
    """Whether an installed service's ``OnFailure=`` starts the notify unit."""
    from aios_systemd.units.templates import NOTIFY_UNIT

    prefix = NOTIFY_UNIT.split("@", 1)[0] + "@"
    return re.search(r"^OnFailure=(?:.*\s)?" + re.escape(prefix), text, re.MULTILINE) is not None


def scan_unit_dir(unit_dir: Path) -> list[str]:
    """Names in ``unit_dir`` that look like our units (files, symlinks, anything)."""
    try:
        entries = list(os.scandir(unit_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e.name for e in entries if OUR_UNIT.fullmatch(e.name))


def expected_units(
    ctx: Context,
    registry: Registry,
    cfg: LocalConfig,
    job_ids: Sequence[str] | None,
    *,
    working_directory: Path,
    aios_run: Path,
    normalize: bool = True,
    render: bool = True,
    cached: bool = True,
) -> tuple[Expected, ...]:
    """Render every asked job (all registry jobs when ``job_ids`` is None) and, with
    ``job_ids`` None, add every other unit of our shape found in the unit directory.

    ``render=False`` skips the rendered layer (uninstall judges ownership and the loaded
    unit only, so an unrenderable checkout can still be cleaned up).  ``cached=False``
    re-derives the units instead of reading the private cache: what install writes must
    come from the templates, never from a file that only claims to be their output."""
    from aios_systemd.units import templates

    ids = list(registry.ids()) if job_ids is None else list(dict.fromkeys(job_ids))
    jobs = [registry.get(i) for i in ids]
    wanted = {job.id: cfg.settings(job.id).timer_intent for job in jobs}
    # The notify unit is wanted while a wanted job has notify on; asked about by name, only
    # such a job brings it along.
    notify = any(wanted[j.id] and cfg.settings(j.id).notify for j in jobs)
    texts, calendars = _render_and_normalize(
        ctx,
        cfg,
        [j for j in jobs if wanted[j.id]],
        working_directory,
        aios_run,
        render=render,
        normalize=normalize,
        cached=cached,
    )
    out: list[Expected] = []
    for job in jobs:
        service_name, timer_name = templates.unit_names(job.id)
        pair = texts.get(job.id)
        out.append(Expected(service_name, job.id, "service", wanted[job.id], pair[0] if pair else None))
        out.append(
            Expected(timer_name, job.id, "timer", wanted[job.id], pair[1] if pair else None, calendars.get(job.id, ()))
        )
    if notify or (job_ids is None and os.path.lexists(ctx.unit_dir / templates.NOTIFY_UNIT)):
        notify_text = texts.get(templates.NOTIFY_UNIT)
        out.append(
            Expected(
                templates.NOTIFY_UNIT,
                "",
                "service",
                notify,
                notify_text[0] if notify_text and notify else None,
                orphan_note=NOTIFY_ORPHAN,
            )
        )
    if job_ids is None:
        known = {e.name for e in out}
        for name in scan_unit_dir(ctx.unit_dir):
            if name not in known:
                match = OUR_UNIT.fullmatch(name)
                assert match is not None
                out.append(Expected(name, match["job"], match["kind"], False, registered=False))
    return tuple(out)


def _render_and_normalize(
    ctx: Context,
    cfg: LocalConfig,
    jobs: Sequence[Job],
    working_directory: Path,
    aios_run: Path,
    *,
    render: bool,
    normalize: bool,
    cached: bool = True,
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, ...]]]:
    """Rendered texts and normalized calendars per job (and, when a job has notify on, the
    notify unit's text under its name); the answer for the same inputs is kept in the
    private cache, so ``diff`` and ``aios-status`` do not pay for jinja2 and a
    ``systemd-analyze`` process on every call."""
    from aios_systemd import memo
    from aios_systemd.units import templates
    from aios_systemd.units.systemd import analyzer_identity, normalize_calendars

    if not render or not jobs:
        return {}, {}
    notify = any(cfg.settings(j.id).notify for j in jobs)
    names = {j.id for j in jobs} | ({templates.NOTIFY_UNIT} if notify else set())
    cache = memo.Memo(ctx.cache_dir, "units")
    key = memo.key_of(
        [
            (j.id, cfg.settings(j.id).cadence.id, cfg.settings(j.id).times, cfg.settings(j.id).notify, repr(j))
            for j in jobs
        ],
        str(working_directory),
        str(aios_run),
        str(ctx.scheduler_root),
        templates.source_digest(),
        memo.source_identity(templates.__file__),
        analyzer_identity() if normalize else None,
    )
    hit = cache.get(key) if cached else None
    if isinstance(hit, dict) and set(hit) == names:
        try:
            return (
                {j: (str(v[0]), str(v[1])) for j, v in hit.items()},
                {j: tuple(str(c) for c in v[2]) for j, v in hit.items() if j in cfg.jobs} if normalize else {},
            )
        except (IndexError, TypeError):
            pass
    texts: dict[str, tuple[str, str]] = {}
    for job in jobs:
        service, timer = templates.render_job(
            job,
            cfg.settings(job.id),
            working_directory=working_directory,
            aios_run=aios_run,
            scheduler_root=ctx.scheduler_root,
        )
        texts[job.id] = (service.text, timer.text)
    if notify:
        unit = templates.render_notify(
            aios_run=aios_run, project_root=working_directory, scheduler_root=ctx.scheduler_root
        )
        texts[unit.name] = (unit.text, "")
    calendars: dict[str, tuple[str, ...]] = {}
    if normalize:
        raw = [c for job in jobs for c in cfg.settings(job.id).calendars]
        normalized = iter(normalize_calendars(raw, ctx.env)) if raw else iter(())
        for job in jobs:
            calendars[job.id] = tuple(next(normalized) for _ in cfg.settings(job.id).calendars)
    cache.put(key, {j: [texts[j][0], texts[j][1], list(calendars.get(j, ()))] for j in texts})
    return texts, calendars


def gather(
    ctx: Context,
    expected: Sequence[Expected],
    manager: UserManager | None,
    *,
    show_paths: bool = False,
) -> DriftReport:
    """Read the installed files and (with a manager) the loaded units, then compare.

    Diff text names paths by role; ``show_paths`` leaves them as they are on both sides
    (the operator's own terminal), with secrets still masked."""
    installed = {e.name: read_installed(ctx.unit_dir, e.name) for e in expected}
    # A template (ai-os-notify@.service) is no unit the manager can load or report on: only
    # its instances are.  It is judged by its file alone.
    loadable = [e.name for e in expected if "@." not in e.name]
    loaded = manager.units(loadable) if manager is not None else None
    dropins = {p: _read_dropin(p) for unit in (loaded or {}).values() for p in unit.drop_in_paths}
    on_disk = _dropins_on_disk(ctx.unit_dir, loaded or {}, manager)
    if show_paths:
        redact = ctx.privacy.redact_secrets
    else:
        label = path_labeller(_path_roles(ctx))

        def redact(text: str) -> str:
            return ctx.privacy.redact(label(text))

    return compare(
        expected, installed, loaded, unit_dir=ctx.unit_dir, redact=redact, dropins=dropins, dropins_on_disk=on_disk
    )


def _dropins_on_disk(
    unit_dir: Path, loaded: Mapping[str, LoadedUnit], manager: UserManager | None
) -> dict[str, Sequence[str]]:
    """The drop-ins a reload would apply, for each loaded unit whose drop-ins on disk may
    differ from the ones loaded.  A unit that needs a reload: along the manager's whole unit
    path (one more D-Bus call, only then).  Any other: in the unit directory only, where
    ``systemctl --user edit`` writes, since the manager does not notice a drop-in directory
    made after its last reload; kept only when it holds one the manager has not loaded."""
    out: dict[str, Sequence[str]] = {}
    unit_path: tuple[str, ...] | None = None
    for unit in loaded.values():
        if unit.load_state == "not-found":
            continue
        if unit.need_daemon_reload and manager is not None:
            if unit_path is None:
                unit_path = manager.facts().unit_path
            out[unit.name] = find_dropins(unit.name, unit_path)
            continue
        here = find_dropins(unit.name, [str(unit_dir)])
        if set(here) - set(unit.drop_in_paths):
            out[unit.name] = here + tuple(
                p for p in unit.drop_in_paths if not _same_path(str(Path(p).parent.parent), unit_dir)
            )
    return out


def dropin_dirs(name: str) -> list[str]:
    """The drop-in directory names systemd reads for unit ``name``, most specific first:
    ``ai-os-x.service.d``, those of its dash prefixes (``ai-os-.service.d``, ``ai-.service.d``)
    and the type's (``service.d``)."""
    stem, _, kind = name.rpartition(".")
    parts = stem.split("-")
    prefixes = ["-".join(parts[:i]) + "-" for i in range(len(parts) - 1, 0, -1)]
    return [f"{name}.d", *(f"{p}.{kind}.d" for p in prefixes), f"{kind}.d"]


def find_dropins(name: str, unit_path: Sequence[str]) -> tuple[str, ...]:
    """The drop-ins on disk that a reload would apply to unit ``name``: each ``*.conf`` of
    its drop-in directories along the manager's unit path, the first of each file name (it
    hides later ones), none masked (a link to /dev/null)."""
    chosen: dict[str, str] = {}
    for directory in dropin_dirs(name):
        for base in unit_path:
            try:
                entries = sorted(e.name for e in os.scandir(os.path.join(base, directory)))
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".conf") and entry not in chosen:
                    chosen[entry] = os.path.join(base, directory, entry)
    return tuple(p for _, p in sorted(chosen.items()) if os.path.realpath(p) != os.devnull)


def _path_roles(ctx: Context) -> dict[str, str]:
    from aios_systemd.units.templates import NOTIFY_SCRIPT, resolve_aios_run

    roles = {str(ctx.project_root): "project root"}
    with contextlib.suppress(AiosError):  # an installation without aios-run: fingerprints only
        aios_run = resolve_aios_run()
        roles[str(aios_run)] = "this installation's aios-run"
        roles[str(aios_run.with_name(NOTIFY_SCRIPT))] = f"this installation's {NOTIFY_SCRIPT}"
    return roles


def _read_dropin(path: str) -> str | None:
    try:
        data = fsio.read_bytes(Path(path), "a drop-in", MAX_UNIT_BYTES)
    except AiosError:
        return None
    return None if data is None else data.decode("utf-8", "surrogateescape")
