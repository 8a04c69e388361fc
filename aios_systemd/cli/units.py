"""``aios-units render|diff|install|uninstall|doctor``: systemd user timers for the reviewed jobs.

Only this module prints.  Heavy imports (pystemd, jinja2, pydantic through the config)
happen inside the commands: each loads only what it uses.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.cli import common
from aios_systemd.cli.spec import COMMANDS

if TYPE_CHECKING:
    from typing import Any

    from aios_systemd.config import LocalConfig
    from aios_systemd.context import Context
    from aios_systemd.units.apply import Outcome, UnitPlan
    from aios_systemd.units.drift import DriftReport, InstalledFile, UnitReport

PROG = "aios-units"

_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("environ", default=None)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    print(text, end="\n" if nl else "", file=sys.stderr if err else sys.stdout)


# -- shared setup ------------------------------------------------------------------------
def _context(project_root: Path | None) -> tuple[Context, LocalConfig]:
    from aios_systemd import config
    from aios_systemd.context import Context
    from aios_systemd.registry import REGISTRY

    ctx = Context.from_environ(_ENVIRON.get(), project_root=project_root)
    return ctx, config.load(ctx.config_path, REGISTRY, ctx.cache_dir)


def _safe_project_root(ctx: Context) -> Path:
    """The project root, which a unit runs in and for (``WorkingDirectory=`` and
    ``--project-root``): one root decides both what is read and where the run happens."""
    from aios_systemd.units.safety import check_working_directory

    ctx.require_project_root(safe=False)  # a typo: said as aios-run and status say it
    return check_working_directory(ctx.project_root, home=ctx.home)


def _job_ids(jobs: list[str] | None, cfg: LocalConfig, *, default_intent: bool) -> list[str] | None:
    from aios_systemd.registry import REGISTRY

    if jobs:
        for job_id in jobs:
            REGISTRY.get(job_id)
        return list(dict.fromkeys(jobs))
    if default_intent:
        return [job.id for job in REGISTRY if cfg.settings(job.id).timer_intent]
    return None


def _warn_config(cfg: LocalConfig, *, except_: Sequence[object] = ()) -> None:
    for warning in cfg.warnings:
        if warning not in except_:
            echo(f"warning: local scheduler config: {warning}", err=True)


def _check_config(cfg: LocalConfig, job_ids: Sequence[str], *, exit_code: int) -> None:
    """Warn about the local config's problems, and refuse the jobs among ``job_ids`` whose
    own entry is invalid: they would silently fall back to their registry defaults (an
    explicit ``timerEnabled: false`` turning back into a timer), and judging or changing
    their units on that basis is refused, naming the key and rule, never the value.  Each
    problem is said once: the refusal's are not warned about first."""
    from aios_systemd.context import CONFIG_EXAMPLE_RELPATH, CONFIG_RELPATH
    from aios_systemd.errors import AiosError, ExitCode

    refused = {job_id: cfg.entry_problems(job_id) for job_id in job_ids}
    problems = list(dict.fromkeys(w for found in refused.values() for w in found))
    _warn_config(cfg, except_=problems)
    if problems:
        raise AiosError(
            f"the local scheduler config is invalid for {', '.join(j for j, found in refused.items() if found)}: "
            + "; ".join(str(p) for p in problems),
            f"fix {CONFIG_RELPATH} (see {CONFIG_EXAMPLE_RELPATH}); until then the job's settings are unknown",
            exit_code=ExitCode(exit_code),
        )


# -- render ----------------------------------------------------------------------------------
def render(
    *,
    jobs: list[str] | None,
    dry_run: bool,
    output: Path | None,
    project_root: Path | None,
) -> int:
    from aios_systemd import fsio
    from aios_systemd.registry import REGISTRY
    from aios_systemd.units import templates
    from aios_systemd.units.systemd import analyze_calendars

    ctx, cfg = _context(project_root)
    _warn_config(cfg)
    workdir = _safe_project_root(ctx)
    aios_run = templates.resolve_aios_run()
    ids = _job_ids(jobs, cfg, default_intent=True) or []
    if not ids:
        echo("no job has its timer intent on; name jobs to render them anyway", err=True)
        return 0
    pairs = [
        templates.render_job(
            REGISTRY.get(i),
            cfg.settings(i),
            working_directory=workdir,
            aios_run=aios_run,
            scheduler_root=ctx.scheduler_root,
        )
        for i in ids
    ]
    if output is not None:
        from aios_systemd.units.safety import check_output_directory

        check_output_directory(output, cwd=Path.cwd(), env=ctx.env)
        target = Path(os.path.abspath(output))
        for pair in pairs:
            for unit in pair:
                if dry_run:
                    echo(f"would write {unit.name}")
                else:
                    fsio.make_dirs(target, "the output directory")
                    fsio.atomic_write(target / unit.name, unit.text.encode(), f"the rendered {unit.name}", 0o644)
                    echo(f"wrote {unit.name}")
        return 0
    calendars = [c for i in ids for c in cfg.settings(i).calendars]
    zone, zone_label = _manager_timezone(ctx)
    infos = iter(analyze_calendars(calendars, ctx.env, iterations=3, timezone=zone))
    for job_id, (service, timer) in zip(ids, pairs, strict=True):
        for unit in (service, timer):
            echo(f"# ---- {unit.name} ----")
            echo(unit.text, nl=False)
        for _ in cfg.settings(job_id).calendars:
            info = next(infos)
            echo(f"# next elapses of {timer.name} for OnCalendar={info.normalized} ({zone_label}):")
            for when in info.next_elapses:
                echo(f"#   {when}")
        echo("")
    return 0


def _manager_timezone(ctx: Context) -> tuple[str | None, str]:
    """The zone the user manager reads calendars in (``None``: the system's), and how the
    elapses printed for it are labelled.  Render needs no bus: without one, the system's."""
    from aios_systemd.errors import AiosError
    from aios_systemd.units.systemd import UserManager

    try:
        with UserManager(ctx.env) as manager:
            zone = manager.facts().timezone
    except AiosError:
        return None, "in UTC, for the system's time zone; the user manager did not answer"
    return zone, f"in UTC, for the manager's time zone {zone}" if zone else "in UTC, for the manager's time zone"


# -- diff ------------------------------------------------------------------------------------
def _print_units(report: DriftReport, *, show_in_sync: bool = True) -> None:
    width = max((len(u.name) for u in report.units), default=0)
    for unit in report.units:
        if unit.in_sync and not show_in_sync:
            continue
        findings = ", ".join(str(f) for f in unit.findings) or "in-sync"
        echo(f"{unit.name:<{width}}  {findings}")
        if unit.loaded is not None and unit.kind == "timer":
            loaded = unit.loaded
            bits = [loaded.active_state, loaded.unit_file_state or "?"]
            if loaded.calendars:
                bits.append("OnCalendar=" + " | ".join(loaded.calendars))
            if loaded.next_elapse:
                bits.append(f"next {loaded.next_elapse}")
            echo(f"{'':<{width}}  loaded: {', '.join(bits)}")
        for note in unit.notes:
            echo(f"{'':<{width}}  note: {note}")
        if unit.diff:
            echo(unit.diff, nl=False)


def diff(
    *,
    jobs: list[str] | None,
    json_: bool,
    show_paths: bool,
    project_root: Path | None,
) -> int:
    from aios_systemd.registry import REGISTRY
    from aios_systemd.units import templates
    from aios_systemd.units.drift import expected_units, fix_hint, gather
    from aios_systemd.units.systemd import UserManager

    ctx, cfg = _context(project_root)
    ctx.require_project_root(safe=False)  # judged against a root that is not there, all drifts
    ids = _job_ids(jobs, cfg, default_intent=False)
    _check_config(cfg, ids if ids is not None else list(REGISTRY.ids()), exit_code=2)
    manager = UserManager(ctx.env)
    expected = expected_units(
        ctx,
        REGISTRY,
        cfg,
        ids,
        working_directory=ctx.project_root,
        aios_run=templates.resolve_aios_run(),
    )
    with manager:
        report = gather(ctx, expected, manager, show_paths=show_paths)
    hint = fix_hint(report.units)
    if json_:
        common.print_json({**report.to_dict(), "hint": hint, "dbusCalls": manager.calls})
    else:
        _print_units(report)
        drifting = sum(1 for u in report.units if not u.in_sync)
        echo(
            f"{drifting} of {len(report.units)} unit(s) drift" if drifting else f"in sync ({len(report.units)} unit(s))"
        )
        if hint:
            echo(f"hint: {hint}")
    return 0 if report.in_sync else 1


# -- install / uninstall ---------------------------------------------------------------------------
def _print_plan(plan: UnitPlan, *, dry_run: bool) -> None:
    verb = "would" if dry_run else "will"
    if plan.nothing_to_do:
        echo(f"nothing to do: {', '.join(plan.job_ids)} already {plan.operation}ed as wanted")
        return
    echo(f"plan ({verb} do):")
    for step in plan.steps:
        echo(f"  {step}")
    for unit in plan.report.units:
        if unit.diff:
            echo(unit.diff, nl=False)


def _print_outcome(outcome: Outcome) -> None:
    if outcome.plan.nothing_to_do:
        return
    for name in outcome.backups:
        echo(f"kept a backup: {name} (in the unit directory; systemd ignores it)")
    for note in outcome.extra:
        echo(note)
    echo(f"done: {len(outcome.done)} step(s)" + (", manager reloaded" if outcome.reloaded else ""))


def _apply(
    operation_name: str,
    jobs: list[str],
    dry_run: bool,
    force: bool,
    json_: bool,
    project_root: Path | None,
    notify: bool = False,
) -> int:
    from aios_systemd import config
    from aios_systemd.context import CONFIG_RELPATH
    from aios_systemd.registry import REGISTRY
    from aios_systemd.units import apply, templates
    from aios_systemd.units.systemd import UserManager

    operation = apply.Operation(operation_name)
    ctx, cfg = _context(project_root)
    installing = operation is apply.Operation.INSTALL
    # Uninstall also takes a job the registry no longer has, when units of ours carry its
    # name: apply.prepare checks the ids.
    ids = (_job_ids(jobs, cfg, default_intent=False) or []) if installing else list(dict.fromkeys(jobs))
    # --notify: the config as it will be written plans the install; it is written only
    # once the plan holds no refusal (a rerun of install converges from there).  An
    # invalid config is refused as a whole, which says every problem (so before the
    # warnings, which would say them again).
    notify_config = config.with_notify(ctx.config_path, ids, REGISTRY) if notify else None
    _check_config(cfg, [i for i in ids if i in cfg.jobs], exit_code=1)
    if notify_config is not None:
        cfg = config.parse(notify_config, REGISTRY)
    workdir = _safe_project_root(ctx) if installing else ctx.project_root
    aios_run = templates.resolve_aios_run() if installing else Path("/nonexistent/aios-run")
    manager = UserManager(ctx.env)
    request = apply.Request(ctx, REGISTRY, cfg, operation, tuple(ids), workdir, aios_run, force)
    with manager:
        plan = apply.prepare(request, manager)
        if dry_run or plan.refusals:
            if json_:
                common.print_json({**plan.to_dict(), "dryRun": dry_run})
            elif not plan.refusals:  # refusals are the error's to say, once
                _print_plan(plan, dry_run=dry_run)
            if plan.refusals:
                raise apply.RefusedError(plan.refusals)
            return 0
        if notify_config is not None:
            config.write(ctx.config_path, notify_config)
            if not json_:
                echo(f"wrote notify: true for {', '.join(ids)} into {CONFIG_RELPATH}")
        if not json_:
            _print_plan(plan, dry_run=False)
        outcome = apply.run(request, manager)
    if json_:
        common.print_json({**outcome.to_dict(), "dryRun": False, "configWritten": notify_config is not None})
    else:
        _print_outcome(outcome)
    return 0


def install(
    *,
    jobs: list[str],
    dry_run: bool,
    force: bool,
    notify: bool,
    json_: bool,
    project_root: Path | None,
) -> int:
    return _apply("install", jobs, dry_run, force, json_, project_root, notify)


def uninstall(*, jobs: list[str], dry_run: bool, force: bool, json_: bool, project_root: Path | None) -> int:
    return _apply("uninstall", jobs, dry_run, force, json_, project_root)


# -- doctor ------------------------------------------------------------------------------------------
def _checks(ctx: Context, cfg: LocalConfig) -> list[dict[str, Any]]:
    from aios_systemd.errors import AiosError
    from aios_systemd.units import templates
    from aios_systemd.units.report import unit_dir_label
    from aios_systemd.units.safety import exposed_unit_directory, unit_directory_problem
    from aios_systemd.units.systemd import UserManager, lingering

    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str, hint: str | None = None, *, warn: bool = False) -> None:
        # Details are fixed copy or AiosError messages (path-free by contract); only what
        # the manager itself reports goes through redaction, below.  A warning is worth
        # knowing but leaves the timers healthy: doctor fails only on a FAIL.
        level = "ok" if ok else ("warn" if warn else "fail")
        checks.append({"check": name, "level": level, "ok": ok, "detail": detail, "hint": None if ok else hint})

    facts = None
    try:
        with UserManager(ctx.env) as manager:
            facts = manager.facts()
        check("user bus", True, "the systemd user manager answers")
        check(
            "manager",
            facts.system_state in ("running", "degraded"),
            ctx.privacy.redact(f"systemd {facts.version}, state {facts.system_state}"),
            "see 'systemctl --user --failed' for failed units",
        )
    except AiosError as exc:
        check("user bus", False, exc.message, exc.hint)
    linger = lingering()
    # A desktop user without lingering is healthy while logged in: worth knowing, not a fault.
    check(
        "lingering",
        linger,
        "enabled: timers keep running without a login session"
        if linger
        else "not enabled: timers run only while you are logged in",
        "loginctl enable-linger $USER",
        warn=True,
    )
    unit_dir = ctx.unit_dir
    label = unit_dir_label(ctx)
    if facts is not None:
        read = any(os.path.normpath(p) == os.path.normpath(unit_dir) for p in facts.unit_path)
        check(
            "unit path",
            read,
            f"the manager reads units from {label}"
            if read
            else f"the manager does not read units from {label}: this shell's XDG_CONFIG_HOME is not the manager's",
            "run aios-units with the manager's XDG_CONFIG_HOME (unset it, or set it as the manager has it)",
        )
        _check_environment(ctx, facts.environment, check)
    existing = unit_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    exposed = unit_directory_problem(unit_dir, ctx.config_home)
    if exposed is not None:
        reason, hint = exposed_unit_directory(label, exposed)
        check("unit directory", False, f"{label}: {reason}", hint)
    else:
        check(
            "unit directory",
            writable,
            f"{label} is writable" if writable else f"{label} cannot be written",
            "fix the permissions of your systemd user unit directory",
        )
    try:
        templates.resolve_aios_run()
        check("aios-run", True, "this installation's aios-run is resolvable")
    except AiosError as exc:
        check("aios-run", False, exc.message, exc.hint)
    services = _installed_services(ctx)
    _check_installed_exec(services, check)
    _check_pinned_roots(services, check)
    if facts is not None:
        _check_unit_drift(ctx, cfg, check)
    _check_timer_runs(ctx, check)
    try:
        _safe_project_root(ctx)
        check("project root", True, "the project root is a safe working directory")
    except AiosError as exc:
        check("project root", False, exc.message, exc.hint)
    check(
        "config",
        not cfg.warnings,
        "the local scheduler config is valid"
        if cfg.warnings == () and cfg.present
        else (
            "no local scheduler config: registry defaults apply"
            if not cfg.present
            else f"the local scheduler config has {len(cfg.warnings)} problem(s): "
            + "; ".join(str(w) for w in cfg.warnings)
        ),
        "fix data/ai-os.scheduler.json (see data/ai-os.scheduler.example.json)",
    )
    return checks


def _check_environment(ctx: Context, manager_env: Mapping[str, str], check: Callable[..., None]) -> None:
    """Settings a timer run sees otherwise than this shell (the manager hands services its
    own environment): by name only, never a value."""
    from aios_systemd import envfile, settings

    env_local = envfile.load(ctx.env_local_path)
    differ = settings.differing(manager_env, ctx.env, env_local)
    # Where each difference comes from decides the fix: a value the manager's environment
    # sets wins over .env.local for every timer run, so it is removed there; one only this
    # shell has is put where timer runs read it.
    in_manager = [s.name for s in differ if settings.set_by_manager(s, manager_env, env_local)]
    in_shell = [s.name for s in differ if s.name not in in_manager]
    hints = []
    if in_manager:
        hints.append(
            f"the manager's environment sets {', '.join(in_manager)} for every service it starts, over the "
            f"project's .env.local: remove {'them' if in_manager[1:] else 'it'} there "
            f"(systemctl --user unset-environment {' '.join(in_manager)}) "
            "and where it comes from (~/.config/environment.d/*.conf, an import-environment or set-environment "
            "in a login script)"
        )
    if in_shell:
        hints.append(
            (f"{', '.join(in_shell)}: " if in_manager else "")
            + "put job settings in the project's .env.local (timer runs read it), or give the manager the same "
            "environment: systemctl --user import-environment NAME (or set-environment, environment.d)"
        )
    check(
        "environment",
        not differ,
        "timer runs see the settings this shell sees"
        if not differ
        else "timer runs see other values than this shell for: " + ", ".join(s.name for s in differ),
        "; ".join(hints),
        warn=True,
    )


def _installed_services(ctx: Context) -> list[InstalledFile]:
    """The installed services of our shape (and the notify template), each read once."""
    from aios_systemd.units.drift import read_installed, scan_unit_dir
    from aios_systemd.units.templates import NOTIFY_UNIT

    names = [n for n in scan_unit_dir(ctx.unit_dir) if n.endswith(".service")]
    if os.path.lexists(ctx.unit_dir / NOTIFY_UNIT):
        names.append(NOTIFY_UNIT)
    return [read_installed(ctx.unit_dir, name) for name in names]


def _check_installed_exec(services: Sequence[InstalledFile], check: Callable[..., None]) -> None:
    """Installed services whose aios-run (or aios-notify) is gone (a removed package, a
    deleted checkout) fail on every trigger; say so before a timer finds out."""
    from aios_systemd.units.drift import exec_start_binary

    broken = []
    for unit in services:
        binary = exec_start_binary(unit.text) if unit.text is not None else None
        if binary is None or not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            broken.append(unit.name)
    if not services:
        check("installed units", True, "no units installed yet")
    elif not broken:
        check("installed units", True, f"{len(services)} installed service(s) run a command that exists")
    else:
        # Unit names are ours (ai-os-<job>.service); the missing path itself is not shown.
        check(
            "installed units",
            False,
            f"{len(broken)} of {len(services)} installed service(s) run a command that is missing "
            f"or not executable: {', '.join(broken)}",
            "run 'aios-units install' from this installation to point them at its commands, "
            "or 'aios-units uninstall' to remove them",
        )


def _check_pinned_roots(services: Sequence[InstalledFile], check: Callable[..., None]) -> None:
    """Job services of ours whose pinned project root (``--project-root``,
    ``WorkingDirectory=``) is gone: a moved checkout fails every trigger (200/CHDIR), so
    say so before a timer finds out.  The notify unit runs without the root on purpose."""
    from aios_systemd.units.drift import OUR_UNIT, pinned_root_gone
    from aios_systemd.units.report import moved_root_hint
    from aios_systemd.units.stamp import Ownership

    ours = [u for u in services if OUR_UNIT.fullmatch(u.name) and u.ownership not in (None, Ownership.FOREIGN)]
    gone = [u.name for u in ours if pinned_root_gone(u.text or "")]
    if not ours:
        check("pinned roots", True, "no job service installed yet")
    elif not gone:
        check("pinned roots", True, f"{len(ours)} installed job service(s) run in a project root that exists")
    else:
        # The unit names only: the vanished path is the operator's, never shown.
        jobs = [m["job"] for m in (OUR_UNIT.fullmatch(n) for n in gone) if m is not None]
        check(
            "pinned roots",
            False,
            f"{len(gone)} of {len(ours)} installed job service(s) run in a project root that is gone "
            f"or not a directory: {', '.join(gone)}",
            moved_root_hint(*jobs),
        )


def _check_unit_drift(ctx: Context, cfg: LocalConfig, check: Callable[..., None]) -> None:
    """The installed units as ``aios-units diff`` judges them: a timer that runs something
    else than was rendered (a drop-in overriding it, another copy, a file not ours) fails;
    any other drift is worth knowing."""
    from aios_systemd.errors import AiosError
    from aios_systemd.registry import REGISTRY
    from aios_systemd.units.drift import RUNS_SOMETHING_ELSE, Finding, fix_hint
    from aios_systemd.units.report import drift_report, installed_units
    from aios_systemd.units.systemd import UserManager

    try:
        with UserManager(ctx.env) as manager:
            units = installed_units(drift_report(ctx, REGISTRY, cfg, manager))
    except AiosError as exc:
        check("unit drift", False, exc.message, exc.hint)
        return
    drifting = [u for u in units if not u.in_sync]
    if not units:
        check("unit drift", True, "no units installed yet")
        return
    if not drifting:
        check("unit drift", True, f"{len(units)} installed unit(s) are as aios-units renders them")
        return
    # A drop-in not loaded yet cannot be judged: worth knowing until the reload says more.
    judged = [u for u in drifting if Finding.NEEDS_DAEMON_RELOAD not in u.findings]
    wrong = [u for u in judged if RUNS_SOMETHING_ELSE & set(u.findings)]
    shown = wrong or drifting
    what = "; ".join(f"{u.name} {u.state}" + (f": {_why(u)}" if wrong else "") for u in shown)
    check(
        "unit drift",
        False,
        (
            f"a timer's units do not do what aios-units renders: {what}"
            if wrong
            else f"{len(drifting)} of {len(units)} installed unit(s) drift: {what}"
        ),
        f"'aios-units diff' shows it; {fix_hint(shown)}",
        warn=not wrong,
    )


def _why(unit: UnitReport) -> str:
    """A drifting unit's note that says why (the drop-in's, when one overrides it)."""
    return next((n for n in unit.notes if n.startswith("drop-in")), unit.notes[0] if unit.notes else str(unit.state))


def _check_timer_runs(ctx: Context, check: Callable[..., None]) -> None:
    """What the manager did with each job's timer runs: a failed service, or a trigger no
    run followed (the service never reached aios-run), is what status shows too."""
    from aios_systemd.registry import REGISTRY
    from aios_systemd.status.model import build

    jobs = build(ctx, REGISTRY, [])["jobs"]
    known = [j for j in jobs if j.get("timer") is not None and j["timer"].get("installed")]
    failing = [(j["job"], j["timer"]["problem"]) for j in known if j["timer"].get("problem")]
    fired = sum(1 for j in known if j["timer"].get("lastTrigger"))
    if not known:
        check("timer runs", True, "no timer of a job is installed or loaded")
    elif not failing:
        waiting = len(known) - fired
        check(
            "timer runs",
            True,
            (f"the manager ran {fired} job timer(s) without a failure" if fired else "")
            + ("; " if fired and waiting else "")
            + (f"{waiting} job timer(s) have not fired yet" if waiting else ""),
        )
    else:
        job, problem = failing[0]
        more = f" (and {len(failing) - 1} more job(s): {', '.join(j for j, _ in failing[1:])})" if failing[1:] else ""
        check("timer runs", False, f"{job}: {problem['detail']}{more}", problem["hint"])


def doctor(*, json_: bool, project_root: Path | None) -> int:
    ctx, cfg = _context(project_root)
    checks = _checks(ctx, cfg)
    healthy = all(c["level"] != "fail" for c in checks)
    warnings = sum(1 for c in checks if c["level"] == "warn")
    if json_:
        common.print_json({"healthy": healthy, "warnings": warnings, "checks": checks})
    else:
        for c in checks:
            echo(f"{_LEVEL_LABELS[c['level']]}  {c['check']:<15} {c['detail']}")
            if c["hint"]:
                echo(f"      {'':<15} hint: {c['hint']}")
        echo(("healthy" if healthy else "not healthy") + (f", {warnings} warning(s)" if warnings else ""))
    return 0 if healthy else 1


_LEVEL_LABELS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


# -- completion ------------------------------------------------------------------------------
# -- logs --------------------------------------------------------------------------------
FOLLOW_POLL_SECONDS = 0.5


def logs(*, job: str, run: str | None, last: int, follow: bool, project_root: Path | None) -> int:
    """A job's recent runs, newest last, each line with its run id (``runner.logs``)."""
    from aios_systemd.context import Context
    from aios_systemd.errors import AiosError
    from aios_systemd.registry import REGISTRY
    from aios_systemd.runner import logs as job_logs

    REGISTRY.get(job)
    ctx = Context.from_environ(_ENVIRON.get(), project_root=project_root)
    reader = job_logs.Reader(ctx, job)
    found = reader.read(run=run)
    if reader.problem:
        echo(f"warning: {reader.problem}", err=True)
    chosen = job_logs.select(found, run=run, last=last)
    if run is not None and not chosen:
        raise AiosError(
            f"no run {ctx.privacy.redact_line(run)} in the logs of {job}",
            f"'aios-units logs {job}' lists its recent runs and their ids",
        )
    for each in chosen:
        for line in each.lines:
            echo(line.show())
    if not found:
        echo(f"no runs of {job} recorded yet" + (" (following: Ctrl-C ends)" if follow else ""), err=True)
    if not follow:
        return 0
    import time
    from datetime import UTC, datetime

    shown = {line.key for each in found for line in each.lines}
    try:
        while True:
            sys.stdout.flush()
            time.sleep(FOLLOW_POLL_SECONDS)
            for line in job_logs.settled(reader.read(run=run), shown, run=run, now=datetime.now(UTC)):
                echo(line.show())
    except KeyboardInterrupt:
        # Ctrl-C is how --follow ends: quietly, and a success (as journalctl -f ends).
        sys.stdout.flush()
        return 0


def completion(*, shell: str, install: bool) -> int:
    from aios_systemd import fsio
    from aios_systemd.cli.completion import install_dir, install_files, script
    from aios_systemd.context import Context

    text = script(shell)
    if not install:
        echo(text, nl=False)
        return 0
    directory, label = install_dir(shell, Context.from_environ(_ENVIRON.get()))
    # 0700 like every directory made under the XDG base directories (the spec's mode).
    fsio.make_dirs(directory, f"the {shell} completion directory", fsio.PRIVATE_DIR_MODE)
    for name in install_files(shell):
        fsio.atomic_write(directory / name, text.encode(), f"the {shell} completion script", 0o644)
    echo(f"installed {shell} completion for {', '.join(COMMANDS)} in {label}")
    if shell == "zsh":
        # zsh has no user directory of its own on fpath; compinit must see this one.
        echo(f"hint: in ~/.zshrc, before compinit: fpath=({label} $fpath)", err=True)
    return 0


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run ``aios-units``; ``environ`` replaces ``os.environ`` (tests pass their own)."""
    token = _ENVIRON.set(environ)
    try:
        return common.dispatch(PROG, argv)
    finally:
        _ENVIRON.reset(token)
