"""Rendering: every job and cadence verifies silently, and no value reaches a unit
unescaped.  systemd's own tools are the judges (``systemd-analyze verify``/``calendar``,
and a real private user manager for what the unit really runs)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jinja2
import pytest

from aios_systemd import registry
from aios_systemd.errors import AiosError, ExitCode, UnsafePathError, UsageError
from aios_systemd.registry import UNIT_PREFIX
from aios_systemd.units import templates
from aios_systemd.units.stamp import Ownership, body_of, classify
from aios_systemd.units.templates import (
    TIMEOUT_MARGIN_SECONDS,
    RenderedUnit,
    render_job,
    resolve_aios_run,
    unit_names,
)
from tests.support.rendering import assert_verifies, fake_aios_run, render_with, settings_for, write_pair
from tests.support.unit_verify import normalized_calendar, verify
from tests.support.user_manager import PrivateManager

REPO = Path(__file__).resolve().parents[2]
RUNNER_GRACE_SECONDS = 3  # the runner's SIGTERM→SIGKILL grace before it writes the final state


def lines(unit: RenderedUnit, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.text.splitlines() if line.startswith(key + "=")]


def _cases() -> list[tuple[str, str, tuple[str, ...] | None]]:
    out: list[tuple[str, str, tuple[str, ...] | None]] = []
    for job in registry.REGISTRY:
        for cadence_id in job.cadences:
            if registry.REGISTRY.cadence(cadence_id).kind is registry.CadenceKind.TIMES:
                out.append((job.id, cadence_id, None))  # the registry default times
                out.append((job.id, cadence_id, ("06:30",)))
                out.append((job.id, cadence_id, ("00:00", "06:30", "12:05", "18:45", "23:59")))
            else:
                out.append((job.id, cadence_id, None))
    return out


CASES = _cases()


def test_every_job_and_cadence_is_covered() -> None:
    covered = {(job_id, cadence) for job_id, cadence, _ in CASES}
    assert covered == {(j.id, c) for j in registry.REGISTRY for c in j.cadences}


@pytest.mark.parametrize(("job_id", "cadence", "times"), CASES, ids=lambda v: str(v))
def test_every_job_and_cadence_renders_and_verifies_silently(
    job_id: str, cadence: str, times: tuple[str, ...] | None, tmp_path: Path
) -> None:
    job = registry.REGISTRY.get(job_id)
    settings = settings_for(job_id, cadence, list(times) if times else None)
    workdir = tmp_path / "project"
    workdir.mkdir()
    aios_run = fake_aios_run(tmp_path / "bin")
    service, timer = render_job(
        job, settings, working_directory=workdir, aios_run=aios_run, scheduler_root=workdir / "state"
    )

    assert (service.name, timer.name) == unit_names(job_id) == (f"ai-os-{job_id}.service", f"ai-os-{job_id}.timer")
    assert (service.kind, timer.kind) == ("service", "timer")
    assert service.job_id == timer.job_id == job_id
    for unit in (service, timer):
        assert unit.text.endswith("\n") and not unit.text.endswith("\n\n")
        assert unit.text.startswith("#")
        assert classify(unit.text) is Ownership.OURS

    assert lines(service, "Type") == ["oneshot"]
    assert lines(service, "WorkingDirectory") == [str(workdir)]
    # Self-contained: the project root and the scheduler root are pinned in the unit.
    assert lines(service, "ExecStart") == [f'"{aios_run}" "{job_id}" "--project-root" "{workdir}"']
    assert lines(service, "Environment") == [
        "AI_OS_SCHEDULER_TRIGGER_SOURCE=systemd",
        f'"AIOS_SCHEDULER_ROOT={workdir / "state"}"',
    ]
    assert lines(service, "TimeoutStartSec") == [str(job.timeout_seconds + TIMEOUT_MARGIN_SECONDS)]
    assert lines(service, "SuccessExitStatus") == [f"{int(ExitCode.BLOCKED)} {int(ExitCode.TERMINATED)}"] == ["75 143"]
    assert "[Install]" not in service.text

    calendars = lines(timer, "OnCalendar")
    expected = settings.calendars
    assert calendars == list(expected)
    if times:
        assert len(calendars) == len(times)
    assert lines(timer, "Persistent") == ["true"]
    assert lines(timer, "Unit") == [service.name]
    assert lines(timer, "WantedBy") == ["timers.target"]
    for expression in calendars:
        normalized_calendar(expression)  # raises when systemd refuses it

    assert_verifies((service, timer), tmp_path / "verify")


def test_verify_is_not_silent_about_a_bad_key(tmp_path: Path) -> None:
    """The judge itself: an unknown key makes verify talk while it still exits 0."""
    service, timer = render_with(tmp_path)
    broken = service._replace(text=service.text + "Bogus=1\n")
    verdict = verify(write_pair((broken, timer), tmp_path / "units"), tmp_path)
    assert verdict.returncode == 0
    assert "Unknown key" in verdict.output


def test_timeout_margin_leaves_the_runner_time_to_finish() -> None:
    assert TIMEOUT_MARGIN_SECONDS >= 5 * RUNNER_GRACE_SECONDS


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    job = registry.REGISTRY.get("trend-finder")
    args = {"working_directory": tmp_path, "aios_run": fake_aios_run(tmp_path / "bin"), "scheduler_root": tmp_path}
    assert render_job(job, settings_for(job.id), **args) == render_job(job, settings_for(job.id), **args)


def test_unit_names_and_prefix() -> None:
    assert UNIT_PREFIX == "ai-os-"
    assert unit_names("dream") == ("ai-os-dream.service", "ai-os-dream.timer")


BAD_JOB_IDS = [
    "",
    "A",
    "Dream",
    "-x",
    "x-",
    "x_y",
    "x y",
    "x/y",
    "../x",
    "x\ny",
    "x%h",
    "x$y",
    "é",
    "a" * 41,
    "x.service",
]


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
def test_bad_job_ids_are_refused(job_id: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        unit_names(job_id)
    assert info.value.hint
    job = registry.REGISTRY.get("aggregate")._replace(id=job_id)
    settings = settings_for("aggregate")._replace(job=job)
    with pytest.raises(UsageError):
        render_job(
            job, settings, working_directory=tmp_path, aios_run=fake_aios_run(tmp_path / "bin"), scheduler_root=tmp_path
        )


def test_settings_of_another_job_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        render_job(
            registry.REGISTRY.get("dream"),
            settings_for("aggregate"),
            working_directory=tmp_path,
            aios_run=fake_aios_run(tmp_path / "bin"),
            scheduler_root=tmp_path,
        )


# -- injection ---------------------------------------------------------------------------
REFUSED_TEXT = {
    "newline": "a\nExecStart=/bin/sh",
    "carriage return": "a\rb",
    "nul": "a\x00b",
    "escape": "a\x1b[31mb",
    "tab": "a\tb",
    "del": "a\x7fb",
    "c1 next line": "a\x85b",
    "c1 csi": "a\x9bb",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
    "bidi override": "a\u202eb",
    "zero width space": "a\u200bb",
    "no-break space": "a\u00a0b",
    "lone surrogate": "a\udcffb",
}


@pytest.mark.parametrize("text", REFUSED_TEXT.values(), ids=REFUSED_TEXT.keys())
def test_refused_characters_in_titles(text: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        render_with(tmp_path, title=text)
    assert info.value.hint
    assert text not in info.value.message


@pytest.mark.parametrize("title", ["trailing ", "ends with a backslash \\", "x" * 300, ""])
def test_titles_systemd_would_alter_are_refused(title: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        render_with(tmp_path, title=title)


ESCAPED_TITLES = [
    "100% of %h and %%",
    "say \"hi\" and 'bye'",
    "back\\slash inside",
    "$HOME and ${HOME}",
    "semi;colon #hash",
    "unicode é ß 日本",
    "= equals = sign",
]


@pytest.mark.parametrize("title", ESCAPED_TITLES)
def test_escaped_titles_render_and_verify(title: str, tmp_path: Path) -> None:
    units = render_with(tmp_path, title=title)
    (description,) = lines(units[0], "Description")
    assert description.endswith(title.replace("%", "%%"))
    assert_verifies(units, tmp_path / "v")


REFUSED_DIRS = {
    "relative": "project",
    "dot relative": "./project",
    "parent step": "/srv/a/../b",
    "dot step": "/srv/./b",
    "double slash": "//srv/b",
    "trailing slash": "/srv/b/",
    "newline": "/srv/a\nExecStart=/bin/sh",
    "control": "/srv/a\x01b",
    "del": "/srv/a\x7fb",
    "c1": "/srv/a\x85b",
    "line separator": "/srv/a\u2028b",
    "backslash": "/srv/a\\b",
    "trailing backslash": "/srv/a\\",
    "trailing space": "/srv/a ",
    "too long": "/" + "/".join(["d" * 200] * 25),
    "long component": "/srv/" + "n" * 256,
}


@pytest.mark.parametrize("directory", REFUSED_DIRS.values(), ids=REFUSED_DIRS.keys())
def test_unrenderable_working_directories_are_refused(directory: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError) as info:
        render_with(tmp_path, working_directory=directory)
    assert directory not in info.value.message
    assert info.value.hint


REFUSED_EXECUTABLES = {
    "relative": "bin/aios-run",
    "not aios-run": "/bin/sh",
    "aios-run with suffix": "/usr/bin/aios-run-x",
    "double quote": '/srv/a"b/aios-run',
    "single quote": "/srv/a'b/aios-run",
    "backslash": "/srv/a\\b/aios-run",
    "dollar": "/srv/$HOME/aios-run",
    "newline": "/srv/a\n/aios-run",
    "tab": "/srv/a\tb/aios-run",
}


@pytest.mark.parametrize("executable", REFUSED_EXECUTABLES.values(), ids=REFUSED_EXECUTABLES.keys())
def test_only_a_plain_absolute_aios_run_may_be_executed(executable: str, tmp_path: Path) -> None:
    with pytest.raises((UsageError, UnsafePathError)) as info:
        render_with(tmp_path, aios_run=Path(executable))
    assert info.value.exit_code is ExitCode.USAGE and info.value.hint


# Names systemd carries literally once escaped; checked by verify here and by a real run below.
ODD_NAMES = ["100%h pct", "sp ace", 'dq"x', "sq'x", "dollar$HOME", "semi;x", "hash #x", " lead", "é-ü", "%%", "=eq"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_but_allowed_working_directories_verify(name: str, tmp_path: Path) -> None:
    workdir = tmp_path / name
    workdir.mkdir()
    units = render_with(tmp_path, working_directory=workdir)
    assert lines(units[0], "WorkingDirectory") == [str(workdir).replace("%", "%%")]
    assert_verifies(units, tmp_path / "v")


@pytest.mark.parametrize("name", ["100%h pct", "sp ace", "semi;x", "hash #x", "é", "%%"])
def test_aios_run_path_escaping_is_proven_by_verify(name: str, tmp_path: Path) -> None:
    """verify fails when ExecStart's binary does not exist, so a wrongly escaped ``%h``
    (expanding to the home directory) or a split word would make it talk."""
    units = render_with(tmp_path, aios_run=fake_aios_run(tmp_path / name / "bin"))
    assert_verifies(units, tmp_path / "v")


def test_verify_would_catch_an_unescaped_specifier(tmp_path: Path) -> None:
    service, timer = render_with(tmp_path, aios_run=fake_aios_run(tmp_path / "100%h pct" / "bin"))
    unescaped = service._replace(text=service.text.replace("%%h", "%h"))
    verdict = verify(write_pair((unescaped, timer), tmp_path / "units"), tmp_path)
    assert verdict.output != ""


@pytest.mark.user_manager
def test_a_real_manager_runs_exactly_what_was_rendered(user_manager: PrivateManager, tmp_path: Path) -> None:
    """End to end through systemd: the odd names arrive byte for byte, and ``%``/``$`` in
    an argument are neither specifiers nor variables."""
    workdir = tmp_path / "w 100%h $HOME \"q\" 's' ;#"
    workdir.mkdir()
    bin_dir = tmp_path / "b 100%h ;#"
    title = 'Title with 100% %h $HOME "q" \\ end'
    sched = tmp_path / "s 100%h $HOME \"q\" 's' ;#"
    service, timer = render_with(
        tmp_path, title=title, working_directory=workdir, aios_run=fake_aios_run(bin_dir), scheduler_root=sched
    )
    job_id = service.job_id
    hostile_arg = templates.exec_arg('a%hb $HOME "q" \\x')
    text = service.text.replace(f' "{job_id}"', f' "{job_id}" {hostile_arg}')
    service = service._replace(text=text)
    write_pair((service, timer), user_manager.unit_dir)
    env = dict(user_manager.env)
    subprocess.run(["systemctl", "--user", "daemon-reload"], env=env, check=True, timeout=30)
    done = subprocess.run(
        ["systemctl", "--user", "start", service.name], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    ran = bin_dir / "aios-run.txt"
    deadline = time.monotonic() + 10
    while not ran.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ran.read_text().splitlines() == [
        str(workdir),
        job_id,
        'a%hb $HOME "q" \\x',
        "--project-root",
        str(workdir),
        "systemd",
        str(sched),
    ]
    shown = subprocess.run(
        ["systemctl", "--user", "show", "-p", "Description", service.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert shown.strip() == f"Description=AI OS scheduled job {job_id}: {title}"


# -- failure alerts: OnFailure= and the notify template -------------------------------------
def _with_notify(tmp_path: Path, **kwargs: object) -> tuple[RenderedUnit, RenderedUnit, RenderedUnit]:
    job = registry.REGISTRY.get("agent-aggregate")
    aios_run = kwargs.get("aios_run") or fake_aios_run(tmp_path / "bin")
    workdir = kwargs.get("working_directory") or tmp_path
    sched = kwargs.get("scheduler_root") or tmp_path / "sched"
    service, timer = render_job(
        job,
        settings_for(job.id, notify=True),
        working_directory=workdir,  # type: ignore[arg-type]
        aios_run=aios_run,  # type: ignore[arg-type]
        scheduler_root=sched,  # type: ignore[arg-type]
    )
    notify = templates.render_notify(aios_run=aios_run, project_root=workdir, scheduler_root=sched)  # type: ignore[arg-type]
    return service, timer, notify


def test_notify_adds_on_failure_naming_the_notify_instance(tmp_path: Path) -> None:
    service, _timer, notify = _with_notify(tmp_path)
    assert lines(service, "OnFailure") == ["ai-os-notify@%n.service"]
    assert service.text.index("OnFailure=") < service.text.index("[Service]")
    plain = render_with(tmp_path)[0]
    assert lines(plain, "OnFailure") == [] and plain.text != service.text
    assert notify.name == templates.NOTIFY_UNIT == "ai-os-notify@.service" and notify.kind == "service"
    assert classify(notify.text) is Ownership.OURS


def test_the_notify_unit_runs_aios_notify_for_the_failed_unit_with_both_roots_pinned(tmp_path: Path) -> None:
    service, timer, notify = _with_notify(tmp_path)
    assert lines(notify, "ExecStart") == [f'"{tmp_path}/bin/aios-notify" "%i" "--project-root" "{tmp_path}"']
    assert lines(notify, "Environment") == [f'"AIOS_SCHEDULER_ROOT={tmp_path}/sched"']
    assert lines(notify, "Description") == ["AI OS failure alert for %i"]
    assert lines(notify, "WorkingDirectory") == []  # a moved checkout must not stop the alert
    assert lines(notify, "Type") == ["oneshot"] and lines(notify, "NoNewPrivileges") == ["yes"]
    units = tmp_path / "units"
    paths = write_pair((service, timer), units)
    (units / notify.name).write_text(notify.text)
    instance = units / templates.notify_instance(service.name)
    instance.symlink_to(notify.name)
    verdict = verify([*paths, instance], tmp_path)
    assert verdict.clean, verdict.output


def test_failure_handler_names_a_template_for_this_unit_only() -> None:
    assert templates.failure_handler("ai-os-notify@.service") == "ai-os-notify@%n.service"
    for refused in ("ai-os-notify.service", "a@b@.service", "ai-os-notify@x.service", "x@.service\nExecStart=/bin/sh"):
        with pytest.raises(UsageError):
            templates.failure_handler(refused)


def test_units_run_only_this_installations_reviewed_scripts(tmp_path: Path) -> None:
    assert templates.UNIT_SCRIPTS == ("aios-run", "aios-notify")
    assert templates.exec_path(f"{tmp_path}/aios-notify") == f'"{tmp_path}/aios-notify"'
    for refused in (f"{tmp_path}/sh", f"{tmp_path}/aios-notify-x", "aios-notify"):
        with pytest.raises((UsageError, UnsafePathError)):
            templates.exec_path(refused)
    with pytest.raises(UsageError) as info:  # a job's service runs aios-run, nothing else
        render_with(tmp_path, aios_run=tmp_path / "aios-notify")
    assert info.value.hint


@pytest.mark.user_manager
def test_a_real_manager_runs_the_notify_unit_for_the_failed_unit(user_manager: PrivateManager, tmp_path: Path) -> None:
    workdir = tmp_path / "w 100%h $HOME ;#"
    workdir.mkdir()
    bin_dir = tmp_path / "b 100%h"
    sched = tmp_path / "s $HOME"
    service, _timer, notify = _with_notify(
        tmp_path, working_directory=workdir, aios_run=fake_aios_run(bin_dir), scheduler_root=sched
    )
    (user_manager.unit_dir / notify.name).write_text(notify.text)
    instance = templates.notify_instance(service.name)
    env = dict(user_manager.env)
    subprocess.run(["systemctl", "--user", "daemon-reload"], env=env, check=True, timeout=30)
    done = subprocess.run(
        ["systemctl", "--user", "start", instance], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    ran = (bin_dir / "aios-notify.txt").read_text().splitlines()
    assert ran[1:] == [service.name, "--project-root", str(workdir), "", str(sched)]
    assert ran[0] != str(workdir)


# -- the environment refuses unescaped values ----------------------------------------------
def test_a_value_without_a_filter_is_refused() -> None:
    with pytest.raises(UsageError):
        templates.environment().from_string("Description={{ value }}").render(value="x")


def test_undefined_values_are_errors() -> None:
    with pytest.raises(jinja2.UndefinedError):
        templates.environment().from_string("Description={{ missing | unit_value }}").render()


@pytest.mark.parametrize("expression", ["*-*-* 06:00:00\nExecStart=/bin/sh", "%h", " hourly", "", "a;b"])
def test_calendar_filter_refuses_what_is_not_a_calendar(expression: str) -> None:
    with pytest.raises(UsageError):
        templates.calendar(expression)


def test_exec_arg_quotes_per_systemd_service_5() -> None:
    assert templates.exec_arg('a b"c\\d%e$f') == '"a b\\"c\\\\d%%e$$f"'
    with pytest.raises(UsageError):
        templates.exec_arg("x" * 5000)


# -- packaging ----------------------------------------------------------------------------
def test_templates_are_found_through_importlib_resources() -> None:
    directory = templates.template_dir()
    names = sorted(entry.name for entry in directory.iterdir())
    assert {"job.service.j2", "job.timer.j2", "notify.service.j2"} <= set(names)
    source = REPO / "templates" / "units"
    for name in ("job.service.j2", "job.timer.j2", "notify.service.j2"):
        assert (directory / name).read_text() == (source / name).read_text()


def test_the_built_wheel_ships_the_templates(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(REPO)]
    if importlib.util.find_spec("hatchling") is not None:
        argv.insert(4, "--no-build-isolation")
    # else pip builds in an isolated environment that fetches hatchling itself
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("aios_systemd-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        for name in ("job.service.j2", "job.timer.j2", "notify.service.j2"):
            member = f"aios_systemd/templates/units/{name}"
            assert member in infos, sorted(infos)
            # A real file, not a symlink entry (zip stores symlinks in the high mode bits).
            assert (infos[member].external_attr >> 16) & 0o170000 != 0o120000
            assert archive.read(member).decode() == (REPO / "templates" / "units" / name).read_text()


def test_importing_names_and_stamps_does_not_load_jinja() -> None:
    code = (
        "import sys, aios_systemd.units.templates, aios_systemd.units.stamp, aios_systemd.units.safety;"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO)


# -- aios-run ------------------------------------------------------------------------------
def test_resolve_aios_run_is_next_to_this_python() -> None:
    expected = Path(sys.executable).parent / "aios-run"
    if not expected.exists():
        pytest.fail("the test environment has no aios-run console script: install the project first")
    assert resolve_aios_run() == expected
    assert resolve_aios_run().is_absolute()


def test_resolve_aios_run_refuses_an_installation_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(AiosError) as info:
        resolve_aios_run()
    assert info.value.hint
    assert str(tmp_path) not in info.value.message


def test_the_real_aios_run_renders_and_verifies(tmp_path: Path) -> None:
    units = render_with(tmp_path, aios_run=resolve_aios_run())
    assert_verifies(units, tmp_path / "v")
    assert body_of(units[0].text).startswith("[Unit]\n")
