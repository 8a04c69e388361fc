"""Install and uninstall plans made from a drift report, and the steps that carry them out.

A plan is computed once to show the operator, then again under the units lock right
before it runs, so two concurrent installs converge on one set of files and one reload:
the second finds nothing left to do.  A plan with any refusal runs no step at all.

Rules (the runbook's and the issue's): never overwrite or delete a unit we did not
generate; overwrite or delete a hand-edited one of ours only with ``force``, keeping a
backup whose name has no unit suffix (so systemd ignores it); never edit or delete a
drop-in, and refuse to install under one that changes what our unit does; never start a
service, only the timer; write nothing and do not reload when nothing changed.

A run is all or nothing: the unit files, ``.wants`` links and timer states from before
are recorded, and when any step fails (the manager refuses, leaves mid-way, the disk
fills) or the manager does not end up running what was wanted, they are restored and the
error says so; a rerun converges.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd import fsio
from aios_systemd.errors import AiosError, ExitCode
from aios_systemd.record import Record
from aios_systemd.registry import UNIT_PREFIX, unit_names
from aios_systemd.units.drift import (
    ENABLED_STATES,
    FOREIGN_FIX,
    RELOAD_FIX,
    DriftReport,
    Finding,
    UnitReport,
    dropin_fix,
)
from aios_systemd.units.stamp import Ownership

if TYPE_CHECKING:
    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry
    from aios_systemd.units.drift import Expected
    from aios_systemd.units.systemd import UserManager

UNIT_FILE_MODE = 0o644
BACKUP_MARK = ".aios-backup-"
LOCK_NAME = "units.lock"
LOCK_TIMEOUT = 120.0
WANTS_DIR = "timers.target.wants"


class Action(enum.StrEnum):
    BACKUP = "backup"
    WRITE = "write"
    REMOVE = "remove"
    RELOAD = "daemon-reload"
    ENABLE = "enable"
    START = "start"
    STOP = "stop"
    DISABLE = "disable"
    RESET_FAILED = "reset-failed"
    CLEAN = "clean"  # the timer's Persistent= stamp, so a later install does not fire at once


class Step(Record):
    action: Action
    unit: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        text = str(self.action) + (f" {self.unit}" if self.unit else "")
        return text + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {"action": str(self.action), "unit": self.unit, "detail": self.detail or None}


class Refusal(Record):
    unit: str
    reason: str
    hint: str

    def to_dict(self) -> dict[str, str]:
        return {"unit": self.unit, "reason": self.reason, "hint": self.hint}


class Operation(enum.StrEnum):
    INSTALL = "install"
    UNINSTALL = "uninstall"


class UnitPlan(Record):
    operation: Operation
    job_ids: tuple[str, ...]
    steps: tuple[Step, ...]
    refusals: tuple[Refusal, ...]
    report: DriftReport

    @property
    def nothing_to_do(self) -> bool:
        return not self.steps and not self.refusals

    @property
    def writes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action in (Action.WRITE, Action.REMOVE, Action.BACKUP))

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": str(self.operation),
            "jobs": list(self.job_ids),
            "nothingToDo": self.nothing_to_do,
            "steps": [s.to_dict() for s in self.steps],
            "refusals": [r.to_dict() for r in self.refusals],
            "units": [u.to_dict() for u in self.report.units],
        }


class RolledBackError(AiosError):
    """A step failed (or the result was not what was wanted) and the state from before was
    restored: files, ``.wants`` links and timers."""

    def __init__(self, operation: Operation, failed: str, cause: AiosError, restored: Sequence[str]) -> None:
        what = "; ".join(restored) if restored else "nothing had changed yet"
        super().__init__(
            f"{operation} failed at '{failed}': {cause.message}; rolled back ({what})",
            cause.hint or f"fix the cause, then rerun aios-units {operation}: it starts from the state before",
            exit_code=ExitCode.FAILED,
        )


class RefusedError(AiosError):
    """A plan holds refusals: nothing was changed."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        # Every refusal, in the one error line (and each distinct fix in its hint): the CLI
        # prints the refusals nowhere else.
        what = "; ".join(f"{r.unit}: {r.reason}" for r in refusals)
        fixes = "; ".join(dict.fromkeys(r.hint for r in refusals))
        super().__init__(f"{what}; nothing was changed", fixes, exit_code=ExitCode.FAILED)
        self.refusals = tuple(refusals)


class Outcome(Record):
    plan: UnitPlan
    done: tuple[Step, ...] = ()
    backups: tuple[str, ...] = ()  # backup file names (in the unit directory)
    reloaded: bool = False
    extra: tuple[str, ...] = ()  # safe notes about what was cleaned up

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "done": [s.to_dict() for s in self.done],
            "backups": list(self.backups),
            "reloaded": self.reloaded,
            "notes": list(self.extra),
        }


# -- plans ---------------------------------------------------------------------------------
_FOREIGN = "a unit of this name exists and was not generated by aios-systemd"


_Pair = tuple[str, UnitReport | None, UnitReport | None]


def _by_job(report: DriftReport, job_ids: Sequence[str]) -> Iterator[_Pair]:
    for job_id in job_ids:
        units = {u.kind: u for u in report.for_job(job_id)}
        yield job_id, units.get("service"), units.get("timer")


# A loaded unit that disagrees with its file is fixed by a reload even when no file changes.
_RELOAD_FINDINGS = frozenset({Finding.NEEDS_DAEMON_RELOAD, Finding.NOT_LOADED, Finding.CALENDAR_MISMATCH})


def _write_unit(unit: UnitReport, force: bool, steps: list[Step], refusals: list[Refusal]) -> None:
    """The steps (or the refusal) that make an installed unit what was rendered."""
    if Finding.OVERRIDDEN in unit.findings:
        refusals.append(_overridden(unit))
    if Finding.UNREADABLE in unit.findings:
        refusals.append(Refusal(unit.name, "the installed file " + _problem(unit), "move it away yourself, then rerun"))
    elif unit.installed is Ownership.FOREIGN:
        refusals.append(Refusal(unit.name, _FOREIGN, FOREIGN_FIX))
    elif unit.installed is Ownership.HAND_EDITED and unit.diff is not None:
        if not force:
            refusals.append(
                Refusal(
                    unit.name,
                    "the installed unit was edited by hand",
                    "rerun with --force to replace it (a backup is kept next to it)",
                )
            )
        else:
            steps += [Step(Action.BACKUP, unit.name), Step(Action.WRITE, unit.name, "replaces a hand-edited file")]
    elif unit.installed is None:
        steps.append(Step(Action.WRITE, unit.name, "new"))
    elif unit.diff is not None:
        steps.append(Step(Action.WRITE, unit.name, "update"))


def _remove_unit(unit: UnitReport, force: bool, removes: list[Step], refusals: list[Refusal]) -> bool:
    """The steps (or the refusal) that remove an installed unit of ours; ``False`` when it
    was refused and nothing else about it may be planned."""
    if Finding.UNREADABLE in unit.findings:
        refusals.append(
            Refusal(unit.name, "the installed file " + _problem(unit), "remove it yourself if it is not needed")
        )
        return False
    if unit.installed is Ownership.FOREIGN:
        refusals.append(Refusal(unit.name, _FOREIGN, FOREIGN_FIX))
        return False
    if unit.installed is Ownership.HAND_EDITED:
        if not force:
            refusals.append(
                Refusal(
                    unit.name,
                    "the installed unit was edited by hand",
                    "rerun with --force to remove it (a backup is kept next to it)",
                )
            )
            return False
        removes += [Step(Action.BACKUP, unit.name), Step(Action.REMOVE, unit.name, "hand-edited")]
    elif unit.installed is Ownership.OURS:
        removes.append(Step(Action.REMOVE, unit.name))
    return True


def _notify_unit(report: DriftReport) -> UnitReport | None:
    from aios_systemd.units.templates import NOTIFY_UNIT

    return next((u for u in report.units if u.name == NOTIFY_UNIT), None)


def plan_install(report: DriftReport, job_ids: Sequence[str], *, force: bool) -> UnitPlan:
    steps: list[Step] = []
    refusals: list[Refusal] = []
    reload_needed = False
    enable: list[Step] = []
    removes: list[Step] = []
    reset: list[Step] = []
    notify = _notify_unit(report)
    if notify is not None and notify.wanted:
        # Before the services whose OnFailure= names it (one reload covers all of them).
        _write_unit(notify, force, steps, refusals)
    elif notify is not None and notify.installed is Ownership.OURS:
        # No service is left that names it; anything else of that name is not this
        # install's business, and does not stop it.
        removes.append(Step(Action.REMOVE, notify.name))
    for job_id, service, timer in _by_job(report, job_ids):
        pair = [u for u in (service, timer) if u is not None]
        if not pair or not all(u.wanted and u.rendered is not None for u in pair):
            refusals.append(
                Refusal(
                    f"{UNIT_PREFIX}{job_id}",
                    "the job's timer intent is off in the local config",
                    f"set jobs.{job_id}.timerEnabled to true in data/ai-os.scheduler.json, then rerun",
                )
            )
            continue
        for unit in pair:
            planned = len(steps)
            _write_unit(unit, force, steps, refusals)
            if _RELOAD_FINDINGS & set(unit.findings):
                reload_needed = True
            if len(steps) > planned and unit.loaded is not None and unit.loaded.active_state == "failed":
                # Its failure came from the unit this install replaces (a moved checkout's
                # 200/CHDIR): clear it, as the status's hint promised, or status and
                # --check would report the old unit's failure until the next trigger.
                why = f"clears the failure, {unit.loaded.exit or unit.loaded.result}, of the unit replaced here"
                reset.append(Step(Action.RESET_FAILED, unit.name, why))
        if timer is not None:
            loaded = timer.loaded
            if loaded is None or loaded.unit_file_state not in ENABLED_STATES:
                enable.append(Step(Action.ENABLE, timer.name))
            if loaded is None or loaded.active_state != "active":
                enable.append(Step(Action.START, timer.name))
    steps += removes
    # Enable before the reload, as `systemctl enable` does (it reloads after linking), so
    # one reload serves both; enabling reads the files on disk, loaded or not.
    steps += [s for s in enable if s.action is Action.ENABLE]
    if any(s.action in (Action.WRITE, Action.REMOVE, Action.ENABLE) for s in steps) or reload_needed:
        steps.append(Step(Action.RELOAD))
    steps += [s for s in enable if s.action is Action.START]
    steps += reset
    return UnitPlan(Operation.INSTALL, tuple(job_ids), tuple(steps) if not refusals else (), tuple(refusals), report)


def _overridden(unit: UnitReport) -> Refusal:
    note = next((n for n in unit.notes if n.startswith("drop-in")), "a drop-in changes this unit")
    if Finding.NEEDS_DAEMON_RELOAD in unit.findings:  # not judged yet: the reload comes first
        return Refusal(unit.name, f"{note}, so what the manager would run is not known", f"{RELOAD_FIX}, then rerun")
    return Refusal(
        unit.name,
        f"{note}, so the manager would not run what aios-systemd renders",
        f"{dropin_fix(unit.name)}, then rerun",
    )


def _problem(unit: UnitReport) -> str:
    return unit.notes[0].removeprefix("the installed file ") if unit.notes else "could not be read"


def plan_uninstall(report: DriftReport, job_ids: Sequence[str], *, force: bool) -> UnitPlan:
    steps: list[Step] = []
    refusals: list[Refusal] = []
    removes: list[Step] = []
    reset: list[Step] = []
    for _job_id, service, timer in _by_job(report, job_ids):
        for unit in (u for u in (service, timer) if u is not None):
            if not _remove_unit(unit, force, removes, refusals):
                continue
            loaded = unit.loaded
            if unit.kind == "timer" and loaded is not None:
                if loaded.active_state not in ("inactive", "failed"):
                    steps.append(Step(Action.STOP, unit.name))
                if loaded.unit_file_state in ENABLED_STATES or loaded.unit_file_state == "linked":
                    steps.append(Step(Action.DISABLE, unit.name))
                if loaded.load_state == "loaded" and unit.installed is not None:
                    # A stamp left behind makes a later install fire at once (a paid Dream).
                    steps.append(Step(Action.CLEAN, unit.name, "its Persistent= stamp"))
            if loaded is not None:
                reset.append(Step(Action.RESET_FAILED, unit.name))
    notify = _notify_unit(report)
    if notify is not None and notify.installed in (Ownership.OURS, Ownership.HAND_EDITED):
        _remove_unit(notify, force, removes, refusals)  # no service is left that names it
    steps += removes
    if (
        removes
        or any(s.action is Action.DISABLE for s in steps)
        or any(Finding.NEEDS_DAEMON_RELOAD in u.findings for u in report.units)
    ):
        steps.append(Step(Action.RELOAD))
    if steps:
        steps += reset
    return UnitPlan(Operation.UNINSTALL, tuple(job_ids), tuple(steps) if not refusals else (), tuple(refusals), report)


# -- execution -------------------------------------------------------------------------
@contextlib.contextmanager
def units_lock(ctx: Context) -> Iterator[None]:
    """One installer at a time per scheduler root (an flock: a killed holder frees it)."""
    from aios_systemd.locks import RunLock

    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    fsio.ensure_private_dir(ctx.locks_dir, "the scheduler lock directory")
    lock = RunLock(ctx.locks_dir / LOCK_NAME, "the unit installer lock")
    if not lock.try_acquire(timeout=LOCK_TIMEOUT).acquired:
        raise AiosError(
            "another aios-units install or uninstall is still running",
            "wait for it to finish, then rerun",
            exit_code=ExitCode.BLOCKED,
        )
    try:
        yield
    finally:
        lock.release()


def backup_name(name: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{name}{BACKUP_MARK}{stamp}"


def _backup(unit_dir: Path, name: str) -> str:
    data = fsio.read_bytes(unit_dir / name, f"the installed unit {name}", 1 << 20)
    if data is None:
        raise AiosError(f"{name} disappeared before its backup was made", "rerun")
    target = backup_name(name)
    n = 1
    while (unit_dir / target).exists():
        target = f"{backup_name(name)}-{n}"
        n += 1
    fsio.atomic_write(unit_dir / target, data, f"the backup of {name}", fsio.PRIVATE_FILE_MODE)
    return target


def _remove(unit_dir: Path, name: str) -> None:
    fsio.refuse_symlink(unit_dir / name, f"the installed unit {name}")
    with contextlib.suppress(FileNotFoundError):
        (unit_dir / name).unlink()


def _leftover_wants(unit_dir: Path, timer: str) -> bool:
    """Remove a ``timers.target.wants`` symlink to our timer that disable left behind."""
    link = unit_dir / WANTS_DIR / timer
    if link.is_symlink() and link.readlink().name == timer:
        link.unlink()
        return True
    return False


class _Before(Record):
    """What a run may change, as it was: unit files (``None``: absent), ``.wants`` links
    (their target, ``None``: absent) and which timers were active."""

    files: dict[str, bytes | None]
    wants: dict[str, str | None]
    active: frozenset[str]


def _snapshot(unit_dir: Path, plan: UnitPlan) -> _Before:
    files: dict[str, bytes | None] = {}
    wants: dict[str, str | None] = {}
    for unit in plan.report.units:
        try:
            files[unit.name] = fsio.read_bytes(unit_dir / unit.name, f"the installed unit {unit.name}", 1 << 20)
        except AiosError:
            continue  # a symlink or unreadable file: the plan never touches it (refused)
        if unit.kind == "timer":
            link = unit_dir / WANTS_DIR / unit.name
            wants[unit.name] = os.readlink(link) if link.is_symlink() else None
    active = frozenset(
        u.name for u in plan.report.units if u.kind == "timer" and u.loaded and u.loaded.active_state == "active"
    )
    return _Before(files, wants, active)


def _restore(unit_dir: Path, before: _Before, backups: Sequence[str], manager: UserManager) -> list[str]:
    """Put back what :func:`_snapshot` recorded; says what it did, in operator words."""
    restored: list[str] = []
    for name, data in before.files.items():
        path = unit_dir / name
        try:
            now = fsio.read_bytes(path, f"the installed unit {name}", 1 << 20)
        except AiosError:
            now = b""  # unreadable now: put the recorded state back
        if now == data:
            continue
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # first, so a full disk has room for the old bytes
            if data is not None:
                fsio.atomic_write(path, data, f"the unit file {name}", UNIT_FILE_MODE)
        except (AiosError, OSError):
            restored.append(f"COULD NOT restore {name}: 'aios-units diff' shows what is there")
            continue
        restored.append(f"{'restored' if data is not None else 'removed'} {name}")
    for name in backups:
        with contextlib.suppress(FileNotFoundError):
            (unit_dir / name).unlink()
    for timer, target in before.wants.items():
        link = unit_dir / WANTS_DIR / timer
        now_target = os.readlink(link) if link.is_symlink() else None
        if now_target == target:
            continue
        try:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            if target is not None:
                fsio.make_dirs(link.parent, "the timers.target.wants directory", fsio.PRIVATE_DIR_MODE)
                os.symlink(target, link)
        except (AiosError, OSError):
            restored.append(f"COULD NOT restore the enablement of {timer}: 'aios-units diff' shows it")
            continue
        restored.append(f"{'re-enabled' if target is not None else 'disabled'} {timer}")
    on_disk = bool(restored)
    try:
        if on_disk:
            manager.reload()
        for timer in before.wants:
            active = manager.unit(timer).active_state == "active"
            if timer in before.active and not active:
                manager.wait_job(manager.start(timer))
                restored.append(f"restarted {timer}")
            elif timer not in before.active and active:
                manager.wait_job(manager.stop(timer))
                restored.append(f"stopped {timer}")
        if on_disk:
            restored.append("manager reloaded")
    except AiosError:
        restored.append(
            "the manager did not answer: the files and links are back on disk, and it reads them when it is"
        )
    return restored


def _do(step: Step, unit_dir: Path, rendered: dict[str, str | None], manager: UserManager) -> str | None:
    """Carry out one step; the name of a backup it made, if any."""
    name = step.unit or ""
    if step.action is Action.BACKUP:
        return _backup(unit_dir, name)
    if step.action is Action.WRITE:
        text = rendered.get(name)
        if text is None:
            raise AiosError(f"nothing rendered for {name}", "this is a bug: report it")
        # 0700 like every directory made under the XDG base directories (the spec's
        # mode): a unit directory others could write would let them replace ExecStart.
        fsio.make_dirs(unit_dir, "the unit directory", fsio.PRIVATE_DIR_MODE)
        fsio.atomic_write(
            unit_dir / name, text.encode("utf-8", "surrogateescape"), f"the unit file {name}", UNIT_FILE_MODE
        )
    elif step.action is Action.REMOVE:
        _remove(unit_dir, name)
    elif step.action is Action.RELOAD:
        manager.reload()
    elif step.action is Action.ENABLE:
        manager.enable([name])
    elif step.action is Action.START:
        manager.wait_job(manager.start(name))
    elif step.action is Action.STOP:
        manager.wait_job(manager.stop(name))
    elif step.action is Action.DISABLE:
        manager.disable([name])
    elif step.action is Action.CLEAN:
        manager.clean_state(name)
    elif step.action is Action.RESET_FAILED:
        manager.reset_failed(name)
    return None


def execute(ctx: Context, plan: UnitPlan, manager: UserManager, verify: Callable[[], None] | None = None) -> Outcome:
    """Carry out ``plan`` (refuses to run one with refusals), then ``verify`` that the
    manager has what was wanted; on any failure restore the state from before."""
    if plan.refusals:
        raise RefusedError(plan.refusals)
    unit_dir = ctx.unit_dir
    rendered = {u.name: u.rendered for u in plan.report.units}
    before = _snapshot(unit_dir, plan)
    done: list[Step] = []
    backups: list[str] = []
    notes: list[str] = []
    current = "the first step"
    try:
        for step in plan.steps:
            current = str(step)
            backup = _do(step, unit_dir, rendered, manager)
            if backup is not None:
                backups.append(backup)
            done.append(step)
        current = "checking what the manager has"
        if verify is not None and plan.steps:
            verify()
    except AiosError as exc:
        raise RolledBackError(plan.operation, current, exc, _restore(unit_dir, before, backups, manager)) from None
    except OSError as exc:  # the disk filled, a directory vanished: as a refusal with the cause
        cause = AiosError(exc.strerror or "an I/O error", None)
        raise RolledBackError(plan.operation, current, cause, _restore(unit_dir, before, backups, manager)) from None
    if plan.operation is Operation.UNINSTALL:
        for unit in plan.report.units:
            if unit.kind == "timer" and _leftover_wants(unit_dir, unit.name):
                notes.append(f"removed a leftover {WANTS_DIR} link for {unit.name}")
            if (unit_dir / f"{unit.name}.d").is_dir():
                notes.append(f"left {unit.name}.d: drop-ins are yours, and aios-systemd never removes them")
    reloaded = any(s.action is Action.RELOAD for s in done)
    return Outcome(plan, tuple(done), tuple(backups), reloaded, tuple(notes))


# -- the whole operation ---------------------------------------------------------------------
def _report(ctx: Context, expected: Sequence[Expected], manager: UserManager) -> DriftReport:
    from aios_systemd.units.drift import gather

    return gather(ctx, expected, manager)


class Request(Record):
    """What an install or uninstall was asked to do."""

    ctx: Context
    registry: Registry
    cfg: LocalConfig
    operation: Operation
    job_ids: tuple[str, ...]
    working_directory: Path
    aios_run: Path
    force: bool = False


def _plan(request: Request, manager: UserManager) -> tuple[UnitPlan, tuple[Expected, ...]]:
    from aios_systemd.units.drift import Expected, expected_units, scan_unit_dir

    ctx, registry, force = request.ctx, request.registry, request.force
    ids = tuple(dict.fromkeys(request.job_ids))
    installing = request.operation is Operation.INSTALL
    # A job no longer in the registry can still be uninstalled when units of that name
    # are there (install stamped them): the units, not the registry, say what to remove.
    present = set(scan_unit_dir(ctx.unit_dir))
    gone = [i for i in ids if i not in registry.jobs and not installing and any(n in present for n in unit_names(i))]
    for job_id in ids:
        if job_id not in gone:
            registry.get(job_id)  # an unknown id is a usage error before anything is read
    expected = expected_units(
        ctx,
        registry,
        request.cfg,
        [i for i in ids if i not in gone],
        working_directory=request.working_directory,
        aios_run=request.aios_run,
        normalize=installing,
        render=installing,
        cached=False,  # what install writes is rendered now, never taken from the cache
    )
    for job_id in gone:
        expected += tuple(
            Expected(name, job_id, kind, False, registered=False)
            for name, kind in zip(unit_names(job_id), ("service", "timer"), strict=True)
        )
    expected = _with_notify_unit(ctx, expected, ids, installing)
    report = _report(ctx, expected, manager)
    plan = plan_install(report, ids, force=force) if installing else plan_uninstall(report, ids, force=force)
    facts = manager.facts()
    refusal = _unit_dir_refusal(ctx, facts.unit_path, installing)
    if refusal is not None:
        plan = UnitPlan(plan.operation, plan.job_ids, (), (refusal, *plan.refusals), plan.report)
    elif installing:
        plan = _announce_catch_up(ctx, plan, expected, facts.environment)
    return plan, expected


def _with_notify_unit(
    ctx: Context, expected: tuple[Expected, ...], ids: Sequence[str], installing: bool
) -> tuple[Expected, ...]:
    """The notify unit is shared: an install of a job with notify on writes it (the
    rendering ``expected`` carries), and it is removed once no installed service is left
    whose ``OnFailure=`` names it, by an install (a job's notify turned off) or an
    uninstall; otherwise it is left as it is."""
    from aios_systemd.units.drift import (
        NOTIFY_ORPHAN,
        OUR_UNIT,
        Expected,
        names_notify_unit,
        read_installed,
        scan_unit_dir,
    )
    from aios_systemd.units.templates import NOTIFY_UNIT

    wanted = next((e for e in expected if e.name == NOTIFY_UNIT and e.wanted), None)
    rest = tuple(e for e in expected if e.name != NOTIFY_UNIT)
    if installing and wanted is not None:
        return (*rest, wanted)
    if not os.path.lexists(ctx.unit_dir / NOTIFY_UNIT):
        return rest
    for name in scan_unit_dir(ctx.unit_dir):
        match = OUR_UNIT.fullmatch(name)
        if match is not None and match["kind"] == "service" and match["job"] not in ids:
            text = read_installed(ctx.unit_dir, name).text
            if text is not None and names_notify_unit(text):
                return rest  # another job's service still starts it
    return (*rest, Expected(NOTIFY_UNIT, "", "service", False, orphan_note=NOTIFY_ORPHAN))


def _unit_dir_refusal(ctx: Context, unit_path: Sequence[str], installing: bool) -> Refusal | None:
    """Files in a directory the manager does not read would never run, and a unit in a
    directory others can change runs what they put there: refuse up front.  Uninstall
    still empties an exposed directory of our units."""
    from aios_systemd.units.report import unit_dir_label
    from aios_systemd.units.safety import exposed_unit_directory, unit_directory_problem

    label = unit_dir_label(ctx)
    if not any(os.path.normpath(p) == os.path.normpath(ctx.unit_dir) for p in unit_path):
        return Refusal(
            label,
            "the user manager does not read units from this directory "
            "(this shell's XDG_CONFIG_HOME is not the manager's)",
            "run aios-units with the manager's XDG_CONFIG_HOME: unset it, or set it as the manager has it",
        )
    problem = unit_directory_problem(ctx.unit_dir, ctx.config_home) if installing else None
    if problem is None:
        return None
    return Refusal(label, *exposed_unit_directory(label, problem))


CATCH_UP = "it fires at once: its last trigger predates the schedule's latest elapse, and Persistent=true catches up"


def _announce_catch_up(
    ctx: Context, plan: UnitPlan, expected: Sequence[Expected], manager_env: Mapping[str, str]
) -> UnitPlan:
    """Say in the plan, before it happens, when starting or updating a timer makes it fire
    at once (a Persistent= stamp older than the calendar's latest elapse): with a paid
    Dream provider that costs money."""
    from aios_systemd.units.systemd import analyze_calendars

    calendars = {e.name: e.calendars for e in expected if e.kind == "timer" and e.calendars}
    steps = list(plan.steps)
    for i, step in enumerate(steps):
        timer = step.unit or ""
        if timer not in calendars or step.action not in (Action.START, Action.WRITE):
            continue
        unit = plan.report.unit(timer)
        running = unit.loaded is not None and unit.loaded.active_state == "active"
        if step.action is Action.WRITE and not running:
            continue  # the START step that follows says it
        last = _last_trigger(unit, manager_env, ctx.home)
        if last is None:
            continue
        zone = manager_env.get("TZ") or None
        infos = analyze_calendars(calendars[timer], ctx.env, timezone=zone, base_time=last)
        try:
            due = min(_iso_seconds(i.next_elapses[0]) for i in infos if i.next_elapses)
        except ValueError:
            continue  # no elapse, or not one we can read: nothing to announce
        if due <= time.time():
            steps[i] = Step(step.action, step.unit, f"{step.detail}; {CATCH_UP}" if step.detail else CATCH_UP)
    return UnitPlan(plan.operation, plan.job_ids, tuple(steps), plan.refusals, plan.report)


def _last_trigger(unit: UnitReport, manager_env: Mapping[str, str], home: Path) -> float | None:
    """When the timer last fired: the manager's LastTriggerUSec, else the Persistent= stamp
    a timer of this name left in the manager's data directory."""
    if unit.loaded is not None and unit.loaded.last_trigger:
        return _iso_seconds(unit.loaded.last_trigger)
    data_home = manager_env.get("XDG_DATA_HOME") or str(Path(manager_env.get("HOME") or home) / ".local" / "share")
    try:
        return (Path(data_home) / "systemd" / "timers" / f"stamp-{unit.name}").stat().st_mtime
    except OSError:
        return None


def _iso_seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _verify(ctx: Context, expected: Sequence[Expected], plan: UnitPlan, manager: UserManager) -> None:
    """After the steps, the manager must have what was wanted: every unit of an install in
    sync (enabled and active, nothing overriding it), every unit of an uninstall gone."""
    from aios_systemd.units.templates import NOTIFY_UNIT

    report = _report(ctx, expected, manager)
    touched = {step.unit for step in plan.steps}
    units = [u for u in report.units if u.job_id in plan.job_ids or (u.name == NOTIFY_UNIT and u.name in touched)]
    if plan.operation is Operation.INSTALL:
        # Wanted: in sync; not wanted (the notify unit no service names any more): gone.
        wrong = [u for u in units if (not u.in_sync if u.wanted else u.installed is not None)]
    else:
        wrong = [u for u in units if u.installed is not None or (u.loaded and u.loaded.active_state == "active")]
    if not wrong:
        return
    unit = wrong[0]
    findings = ", ".join(str(f) for f in unit.findings) or "still there"
    note = next((n for n in unit.notes if n.startswith("drop-in")), None)
    if note is not None:
        raise AiosError(
            f"the manager would not run what was installed: {unit.name} {findings} ({note})", _overridden(unit).hint
        )
    raise AiosError(
        f"the manager does not report what was wanted: {unit.name} {findings}",
        f"see 'aios-units diff {unit.job_id}' and 'journalctl --user -e'; the state from before was restored",
    )


def prepare(request: Request, manager: UserManager) -> UnitPlan:
    """The plan as things are now (what ``--dry-run`` shows)."""
    return _plan(request, manager)[0]


def run(request: Request, manager: UserManager) -> Outcome:
    """Re-plan under the units lock, execute, and check the result; concurrent callers
    converge, and a failure anywhere restores the state from before."""
    with units_lock(request.ctx):
        plan, expected = _plan(request, manager)
        return execute(request.ctx, plan, manager, verify=lambda: _verify(request.ctx, expected, plan, manager))
