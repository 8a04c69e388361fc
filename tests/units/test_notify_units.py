"""The notify unit's life on a real private ``systemd --user``: written by an install of a
job with notify on, shared by every such job, diffed by its file, removed once no installed
service names it; ``install --notify`` and the config it writes; ``aios-notify`` itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aios_systemd.units.templates import NOTIFY_UNIT, UNIT_SCRIPTS
from tests.support.user_manager import UnitsSandbox, units_cli

pytestmark = pytest.mark.user_manager

AGG, TREND = "agent-aggregate", "trend-finder"
ON_FAILURE = "OnFailure=ai-os-notify@%n.service"


def _config(sb: UnitsSandbox) -> dict:
    doc: dict = json.loads((sb.project / "data" / "ai-os.scheduler.json").read_text())
    return doc


def _diff(sb: UnitsSandbox, capsys: pytest.CaptureFixture[str], *jobs: str) -> tuple[int, dict]:
    code, out, err = units_cli(sb, capsys, "diff", *jobs, "--json")
    assert code in (0, 1), err
    return code, {u["name"]: u for u in json.loads(out)["units"]}


def test_install_notify_writes_the_config_and_the_shared_unit_which_goes_with_the_last_job(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    code, out, err = units_cli(sb, capsys, "install", AGG, "--notify")
    assert code == 0, out + err
    assert _config(sb) == {"schemaVersion": 1, "jobs": {AGG: {"notify": True}}}
    assert ON_FAILURE in (sb.unit_dir / f"ai-os-{AGG}.service").read_text()
    assert "aios-systemd-stamp:" in (sb.unit_dir / NOTIFY_UNIT).read_text()
    code, units = _diff(sb, capsys, AGG)
    assert code == 0 and units[NOTIFY_UNIT]["state"] == "in-sync" and units[NOTIFY_UNIT]["jobId"] == ""
    assert units[NOTIFY_UNIT]["loaded"] is None  # a template: judged by its file
    assert units_cli(sb, capsys, "install", AGG, "--notify")[1].startswith("nothing to do")

    # A second job shares the unit: nothing to write for it.
    code, out, err = units_cli(sb, capsys, "install", TREND, "--notify")
    assert code == 0 and NOTIFY_UNIT not in out, out + err
    assert _config(sb)["jobs"] == {AGG: {"notify": True}, TREND: {"notify": True}}

    # Uninstalling one job keeps it (the other's service names it); the last one takes it.
    code, out, err = units_cli(sb, capsys, "uninstall", AGG)
    assert code == 0 and NOTIFY_UNIT not in out and (sb.unit_dir / NOTIFY_UNIT).exists(), out + err
    code, out, err = units_cli(sb, capsys, "uninstall", TREND)
    assert code == 0 and f"remove {NOTIFY_UNIT}" in out, out + err
    assert not (sb.unit_dir / NOTIFY_UNIT).exists()


def test_notify_turned_off_rewrites_the_service_and_removes_the_unit_and_an_orphan_is_drift(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    sb.write_config({AGG: {"notify": True}})
    assert units_cli(sb, capsys, "install", AGG)[0] == 0
    assert (sb.unit_dir / NOTIFY_UNIT).exists()
    sb.write_config({AGG: {"notify": False}, TREND: {"timerEnabled": False}, "dream": {"timerEnabled": False}})
    code, units = _diff(sb, capsys)
    assert code == 1 and "orphan" in units[NOTIFY_UNIT]["findings"], units[NOTIFY_UNIT]
    assert units[NOTIFY_UNIT]["notes"][0].startswith("no job with its timer on has notify on")
    assert units[f"ai-os-{AGG}.service"]["state"] == "changed"
    code, out, err = units_cli(sb, capsys, "install", AGG)
    assert code == 0 and f"remove {NOTIFY_UNIT}" in out, out + err
    assert ON_FAILURE not in (sb.unit_dir / f"ai-os-{AGG}.service").read_text()
    assert not (sb.unit_dir / NOTIFY_UNIT).exists()
    code, units = _diff(sb, capsys)
    assert code == 0 and NOTIFY_UNIT not in units


def test_a_hand_edited_notify_unit_is_refused_and_replaced_only_with_force(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    assert units_cli(sb, capsys, "install", AGG, "--notify")[0] == 0
    path = sb.unit_dir / NOTIFY_UNIT
    path.write_text(path.read_text().replace("TimeoutStartSec=60", "TimeoutStartSec=1"))
    sb.write_config({AGG: {"notify": True, "cadence": "hourly"}})
    code, out, err = units_cli(sb, capsys, "install", AGG)
    assert code == 1 and f"error: {NOTIFY_UNIT}: the installed unit was edited by hand" in err, out + err
    assert "hourly" not in (sb.unit_dir / f"ai-os-{AGG}.timer").read_text()  # nothing was changed
    code, out, err = units_cli(sb, capsys, "install", AGG, "--force")
    assert code == 0 and "kept a backup: ai-os-notify@.service.aios-backup-" in out, out + err
    assert "TimeoutStartSec=60" in path.read_text()


def test_install_notify_refuses_an_invalid_config_and_a_dry_run_writes_nothing(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = units_sandbox
    config = sb.project / "data" / "ai-os.scheduler.json"
    sb.write_config({"dream": {"times": ["25:99"]}})
    before = config.read_bytes()
    code, out, err = units_cli(sb, capsys, "install", AGG, "--notify")
    assert code == 1 and "error: the local scheduler config is invalid, so notify cannot be written" in err, err
    assert "jobs.dream.times[0]: must be a strict HH:MM time" in err and "25:99" not in err
    assert err.count("jobs.dream.times[0]") == 1 and "warning:" not in err, err  # said once
    assert "hint: fix data/ai-os.scheduler.json" in err
    assert config.read_bytes() == before and not list(sb.unit_dir.glob("ai-os-*"))

    config.unlink()
    assert units_cli(sb, capsys, "install", AGG)[0] == 0
    service = (sb.unit_dir / f"ai-os-{AGG}.service").read_text()
    code, out, err = units_cli(sb, capsys, "install", AGG, "--notify", "--dry-run")
    assert code == 0, out + err
    assert f"write {NOTIFY_UNIT} (new)" in out and f"+{ON_FAILURE}\n" in out
    assert not config.exists() and not (sb.unit_dir / NOTIFY_UNIT).exists()
    assert (sb.unit_dir / f"ai-os-{AGG}.service").read_text() == service


def test_aios_notify_refuses_what_is_no_job_service_and_says_when_nothing_failed(
    units_sandbox: UnitsSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from aios_systemd.cli.common import dispatch

    sb = units_sandbox
    assert units_cli(sb, capsys, "install", AGG)[0] == 0
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(sb.env)
    try:
        for bogus in ("ai-os-nope.service", "ai-os-agent-aggregate.timer", "sshd.service"):
            capsys.readouterr()
            assert dispatch("aios-notify", [bogus]) == 2
            err = capsys.readouterr().err
            assert "error: UNIT is not the service of a reviewed job" in err and "hint: " in err
        capsys.readouterr()
        assert dispatch("aios-notify", [f"ai-os-{AGG}.service"]) == 0
        assert capsys.readouterr().out == f"nothing to report: ai-os-{AGG}.service has not failed (it is inactive)\n"
        assert dispatch("aios-notify", [f"ai-os-{AGG}.service", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["failed"] is False and doc["ping"] is None and doc["pingSetting"] == "AIOS_PING_URL_AGENT_AGGREGATE"
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_units_run_only_programs_of_the_cli_table() -> None:
    from aios_systemd.cli.spec import COMMANDS

    assert set(UNIT_SCRIPTS) <= set(COMMANDS)


def test_a_failure_is_known_by_its_invocation_else_by_when_it_exited() -> None:
    from aios_systemd.units.alert import failure_key
    from aios_systemd.units.systemd import LoadedUnit, _invocation_id

    unit = LoadedUnit(f"ai-os-{AGG}.service", "loaded", "failed", "failed")
    assert failure_key(unit) is None
    assert failure_key(unit._replace(exec_main_exit_usec=1_764_547_200_000_000)) == "exited-1764547200000000"
    invocation = bytes(range(1, 17)).hex()
    assert failure_key(unit._replace(invocation_id=invocation, exec_main_exit_usec=1)) == invocation
    # D-Bus "ay", as the binding hands it over; all zero is systemd's "none".
    assert _invocation_id(list(range(1, 17))) == invocation == _invocation_id(bytes(range(1, 17)))
    assert _invocation_id([0] * 16) == _invocation_id(None) == _invocation_id([1, 2]) == _invocation_id("x") == ""


def test_the_reported_failure_is_private_and_a_file_not_ours_is_no_memory(tmp_path: Path) -> None:
    from aios_systemd import state
    from aios_systemd.context import Context

    ctx = Context.from_environ({"HOME": str(tmp_path), "AIOS_SCHEDULER_ROOT": str(tmp_path / "sched")}, cwd=tmp_path)
    key = "3e60e8b71e27452fa2c8a7182942aeef"
    assert state.reported_failure(ctx, AGG) is None
    state.record_reported_failure(ctx, AGG, key, "2026-12-01T11:22:43Z")
    assert state.reported_failure(ctx, AGG) == key and state.reported_failure(ctx, TREND) is None
    path = ctx.reported_failure_path(AGG)
    assert path.stat().st_mode & 0o777 == 0o600 and ctx.state_dir.stat().st_mode & 0o777 == 0o700
    good = path.read_text()
    for junk in ("not json", "[1]", good.replace(AGG, TREND), good.replace(key, "../../etc")):
        path.write_text(junk)
        assert state.reported_failure(ctx, AGG) is None, junk
    path.write_text(good)
    path.chmod(0o666)  # writable by others: not ours to trust, so the failure is reported again
    assert state.reported_failure(ctx, AGG) is None
