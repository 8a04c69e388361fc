"""The aios-units CLI surface: help, exit codes, errors with hints, render, doctor, status facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aios_systemd.cli.units import main
from aios_systemd.config import load
from aios_systemd.registry import REGISTRY
from aios_systemd.units import report
from aios_systemd.units.drift import exec_start_binary
from aios_systemd.units.systemd import lingering
from tests.support.groups import give_to_group, real_group
from tests.support.user_manager import UnitsSandbox, units_cli

JOB = "agent-aggregate"


def _no_bus_env(sb_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sb_env.items() if k != "XDG_RUNTIME_DIR"}


def test_help_is_light_and_has_examples():
    code = (
        "import sys\n"
        "from aios_systemd.cli.units import main\n"
        "rc = main(['--help'])\n"
        "heavy = [m for m in ('pystemd', 'jinja2', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY [] 0" in out.stdout, out.stdout + out.stderr
    assert "Examples:" in out.stdout and "aios-units diff" in out.stdout


@pytest.mark.parametrize("command", ["render", "diff", "install", "uninstall", "doctor"])
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_unknown_job_is_a_usage_error(tmp_path, capsys):
    code = main(["diff", "no-such-job"], environ={"HOME": str(tmp_path), "AIOS_PROJECT_ROOT": str(tmp_path)})
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown job id" in err and "hint:" in err


@pytest.mark.parametrize("argv", [["diff"], ["install", JOB], ["uninstall", JOB], ["diff", JOB, "--json"]])
def test_bus_unreachable_exits_2_with_a_hint(argv, safe_dir, tmp_path, capsys):
    env = {
        "HOME": str(Path.home()),
        "PATH": "/usr/bin:/bin",
        "AIOS_PROJECT_ROOT": str(safe_dir),
        "AIOS_SCHEDULER_ROOT": str(tmp_path / "s"),
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
    }
    code = main(argv, environ=env)
    err = capsys.readouterr().err
    assert code == 2
    assert "user bus is unreachable" in err
    assert "hint:" in err and "XDG_RUNTIME_DIR" in err
    assert not (tmp_path / "c").exists()  # nothing was written


def test_render_dry_run_needs_no_bus(safe_dir, tmp_path, capsys):
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    code = main(["render", "--dry-run", JOB], environ=env)
    out = capsys.readouterr().out
    assert code == 0
    assert "# ---- ai-os-agent-aggregate.service ----" in out
    assert "OnCalendar=*-*-* 0/4:00:00" in out
    assert "next elapses of ai-os-agent-aggregate.timer for OnCalendar=*-*-* 00/4:00:00" in out
    assert out.count("#   ") == 3
    assert not (tmp_path / "c").exists()


def test_render_default_jobs_are_those_with_timer_intent(safe_dir, capsys):
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir)}
    assert main(["render", "--dry-run"], environ=env) == 0
    out = capsys.readouterr().out
    cfg = load(safe_dir / "data" / "ai-os.scheduler.json", REGISTRY)
    for job in REGISTRY:
        assert (f"ai-os-{job.id}.timer ----" in out) is cfg.settings(job.id).timer_intent


def test_render_refuses_an_unsafe_working_directory(tmp_path, capsys):
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(tmp_path)}
    code = main(["render", "--dry-run", JOB], environ=env)
    err = capsys.readouterr().err
    assert code == 2
    assert "the working directory" in err and "hint:" in err
    assert str(tmp_path) not in err


@pytest.mark.parametrize("spelled", ["{d}/sub/..", "{d}/./sub/../sub", "sub/../sub"])
def test_the_unit_pins_exactly_the_project_root_that_was_checked(safe_dir, capsys, spelled):
    # A project root given with dot segments is read as a shell reads a path argument
    # (lexically, from the current directory); the unit pins that very path, the one the
    # safety check approved, in WorkingDirectory= and --project-root alike.
    (safe_dir / "sub").mkdir(mode=0o700)
    given = spelled.format(d=safe_dir)
    env = {"HOME": str(Path.home()), "PATH": "/usr/bin:/bin"}
    old = os.getcwd()
    os.chdir(safe_dir)
    try:
        code = main(["render", "--dry-run", JOB, "--project-root", given], environ=env)
    finally:
        os.chdir(old)
    out = capsys.readouterr().out
    assert code == 0
    checked = os.path.normpath(os.path.join(safe_dir, given))
    assert f"WorkingDirectory={checked}\n" in out and f'"--project-root" "{checked}"' in out


def test_render_output_writes_files_outside_git(safe_dir, capsys):
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir), "PATH": "/usr/bin:/bin"}
    out_dir = safe_dir / "rendered"
    assert main(["render", JOB, "--output", str(out_dir)], environ=env) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [f"ai-os-{JOB}.service", f"ai-os-{JOB}.timer"]


def test_render_output_refused_inside_a_git_work_tree(safe_dir, capsys):
    subprocess.run(["git", "init", "-q", str(safe_dir)], check=True)
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir), "PATH": "/usr/bin:/bin"}
    code = main(["render", JOB, "--output", str(safe_dir / "units")], environ=env)
    assert code == 2
    assert "git" in capsys.readouterr().err
    assert not (safe_dir / "units").exists()


@pytest.mark.user_manager
def test_doctor_reports_each_check(units_sandbox: UnitsSandbox, capsys):
    code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
    doc = json.loads(out)
    checks = {c["check"]: c for c in doc["checks"]}
    assert set(checks) == {
        "user bus",
        "manager",
        "lingering",
        "unit directory",
        "aios-run",
        "installed units",
        "pinned roots",
        "unit drift",
        "timer runs",
        "project root",
        "config",
        "unit path",
        "environment",
    }
    assert checks["user bus"]["ok"] and checks["manager"]["ok"]
    assert "running" in checks["manager"]["detail"]
    assert checks["lingering"]["ok"] is lingering()
    if not lingering():
        assert checks["lingering"]["hint"] == "loginctl enable-linger $USER"
    assert checks["project root"]["ok"] and checks["aios-run"]["ok"] and checks["unit directory"]["ok"]
    assert code == (0 if doc["healthy"] else 1)
    assert doc["healthy"] is all(c["level"] != "fail" for c in doc["checks"])
    assert checks["lingering"]["level"] == ("ok" if lingering() else "warn")  # never a failure
    assert checks["unit path"]["ok"]
    code, out, _ = units_cli(units_sandbox, capsys, "doctor")
    assert "hint: loginctl enable-linger $USER" in out or lingering()


@pytest.mark.user_manager
def test_doctor_finds_installed_services_whose_aios_run_is_gone(units_sandbox: UnitsSandbox, capsys):
    code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
    assert {c["check"]: c for c in json.loads(out)["checks"]}["installed units"]["detail"] == "no units installed yet"
    code, _, _ = units_cli(units_sandbox, capsys, "install", JOB)
    assert code == 0
    code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
    check = {c["check"]: c for c in json.loads(out)["checks"]}["installed units"]
    assert check["ok"] and check["detail"].startswith("1 installed service(s)")
    # A unit installed by a since-removed package: same stamp shape, an aios-run that is gone.
    gone = units_sandbox.project / "removed-package" / "bin" / "aios-run"
    service = units_sandbox.unit_dir / f"ai-os-{JOB}.service"
    text = service.read_text()
    assert exec_start_binary(text) is not None and Path(exec_start_binary(text) or "").exists()
    service.write_text(text.replace(str(exec_start_binary(text)), str(gone)))
    code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
    check = {c["check"]: c for c in json.loads(out)["checks"]}["installed units"]
    assert code == 1 and not check["ok"]
    assert f"ai-os-{JOB}.service" in check["detail"] and "aios-units install" in check["hint"]
    assert str(units_sandbox.project) not in out and "removed-package" not in out


@pytest.mark.user_manager
def test_doctor_finds_a_notify_unit_whose_aios_notify_is_gone(units_sandbox: UnitsSandbox, capsys):
    code, out, err = units_cli(units_sandbox, capsys, "install", JOB, "--notify")
    assert code == 0, out + err
    notify = units_sandbox.unit_dir / "ai-os-notify@.service"
    text = notify.read_text()
    notify.write_text(text.replace(str(exec_start_binary(text)), "/opt/removed/bin/aios-notify"))
    code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
    check = {c["check"]: c for c in json.loads(out)["checks"]}["installed units"]
    assert code == 1 and not check["ok"] and "ai-os-notify@.service" in check["detail"], check


@pytest.mark.parametrize(
    ("line", "binary"),
    [
        ('ExecStart="/opt/aios systemd/bin/aios-run" "agent-aggregate"', "/opt/aios systemd/bin/aios-run"),
        ('ExecStart=-"/srv/100%%/aios-run" "x"', "/srv/100%/aios-run"),
        ('ExecStart="/a/b\\"c/aios-run"', '/a/b"c/aios-run'),
        ("ExecStart=/usr/bin/aios-run dream", "/usr/bin/aios-run"),
        ("ExecStart=aios-run dream", None),
        ("Description=no exec line", None),
    ],
)
def test_exec_start_binary_reads_quoted_and_plain_forms(line: str, binary: str | None) -> None:
    assert exec_start_binary(f"[Unit]\nDescription=x\n[Service]\n{line}\n") == binary


def test_doctor_without_bus_is_unhealthy(safe_dir, capsys):
    env = {"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir)}
    code = main(["doctor"], environ=env)
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  user bus" in out and "hint:" in out


@pytest.mark.user_manager
def test_diff_human_output_and_exit_codes(units_sandbox: UnitsSandbox, capsys):
    code, out, _ = units_cli(units_sandbox, capsys, "diff", JOB)
    assert code == 1 and "missing" in out
    assert units_cli(units_sandbox, capsys, "install", JOB)[0] == 0
    code, out, _ = units_cli(units_sandbox, capsys, "diff", JOB)
    assert code == 0, out
    assert "in sync (2 unit(s))" in out
    assert "loaded: active, enabled, OnCalendar=*-*-* 00/4:00:00" in out


@pytest.mark.user_manager
def test_timer_status_for_aios_status(units_sandbox: UnitsSandbox):
    ctx = units_sandbox.context()
    cfg = load(ctx.config_path, REGISTRY)
    timers, reason = report.timer_status(ctx, REGISTRY, cfg)
    assert reason is None
    assert set(timers) == set(REGISTRY.ids())
    assert timers[JOB] is not None and timers[JOB]["installed"] is False
    assert timers[JOB]["drift"] == "missing"
    assert main(["install", JOB], environ=units_sandbox.env) == 0
    timers, reason = report.timer_status(ctx, REGISTRY, cfg)
    view = timers[JOB]
    assert view is not None
    assert view["installed"] is True and view["ownership"] == "ours"
    assert view["activeState"] == "active" and view["unitFileState"] == "enabled"
    assert view["calendars"] == ["*-*-* 00/4:00:00"]
    assert view["nextElapse"].endswith("Z") and view["drift"] == "in-sync" and view["driftFindings"] == []
    json.dumps(timers)
    assert ctx.privacy.violations(timers) == []


def test_timer_status_without_bus_is_none_with_a_reason(safe_dir):
    from aios_systemd.context import Context

    ctx = Context.from_environ({"HOME": str(Path.home()), "AIOS_PROJECT_ROOT": str(safe_dir)})
    timers, reason = report.timer_status(ctx, REGISTRY, load(ctx.config_path, REGISTRY))
    assert timers == {job_id: None for job_id in REGISTRY.ids()}
    assert reason and "unreachable" in reason


@pytest.mark.user_manager
def test_doctor_fails_a_unit_directory_that_others_can_write(units_sandbox: UnitsSandbox, capsys):
    unit_dir, config_home = units_sandbox.unit_dir, units_sandbox.pm.config_home
    modes = {d: d.stat().st_mode & 0o7777 for d in (unit_dir, config_home)}

    def unit_dir_check() -> tuple[int, dict[str, object], str]:
        code, out, _ = units_cli(units_sandbox, capsys, "doctor", "--json")
        return code, {c["check"]: c for c in json.loads(out)["checks"]}["unit directory"], out

    try:
        for exposed in (unit_dir, config_home):  # the unit directory, or one the toolkit makes above it
            exposed.chmod(0o777)
            code, check, out = unit_dir_check()
            assert code == 1 and not check["ok"], check
            assert "writable by other users" in str(check["detail"]) and "chmod go-w" in str(check["hint"])
            assert str(unit_dir) not in out and str(config_home) not in out
            exposed.chmod(modes[exposed])
        # A user-private group (umask 0002 on Fedora) is not others.
        with real_group(other_member=False) as private:
            give_to_group(unit_dir, private, 0o775)
            assert unit_dir_check()[1]["ok"]
    finally:
        for d, mode in modes.items():
            os.chown(d, -1, os.getgid())
            d.chmod(mode)


@pytest.mark.user_manager
def test_diff_refuses_a_project_root_that_is_not_there_and_uninstall_still_works(units_sandbox: UnitsSandbox, capsys):
    """A moved checkout: diff against a root that is not there would call every unit
    changed; uninstall must still remove the units the old checkout left."""
    sb = units_sandbox
    assert units_cli(sb, capsys, "install", "agent-aggregate")[0] == 0
    missing = sb.project.parent / f"{sb.project.name}-moved-away"
    env = {**sb.env, "AIOS_PROJECT_ROOT": str(missing)}
    for argv in (["diff"], ["install", "agent-aggregate", "--dry-run"], ["render", "--dry-run"]):
        code, out, err = units_cli(sb, capsys, *argv, env=env)
        assert code == 2 and out == "", (argv, out)
        assert err.startswith("error: the project root does not exist or is not a directory\nhint: pass --project-root")
        assert str(missing) not in err
    code, out, _ = units_cli(sb, capsys, "doctor", "--json", env=env)
    check = {c["check"]: c for c in json.loads(out)["checks"]}["project root"]
    assert code == 1 and check["detail"] == "the project root does not exist or is not a directory", check
    code, out, err = units_cli(sb, capsys, "uninstall", "agent-aggregate", env=env)
    assert code == 0, out + err
    assert not (sb.unit_dir / "ai-os-agent-aggregate.timer").exists()
