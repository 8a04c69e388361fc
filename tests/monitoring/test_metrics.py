"""The metrics file for node_exporter's textfile collector, read back with the Prometheus
project's own parser, written by the real ``aios-run`` code path."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aios_systemd.context import Context
from aios_systemd.outcomes import RunState
from aios_systemd.status import metrics
from tests.conftest import RunJob, StartJob, read_state
from tests.support.groups import give_to_group, real_group, umask
from tests.support.testjobs import TEST_REGISTRY
from tests.support.user_manager import UnitsSandbox
from tests.trend_finder.project import AIOS_RUN, make_project

FAMILIES = {
    "aios_job_last_run_timestamp_seconds",
    "aios_job_last_success_timestamp_seconds",
    "aios_job_last_run_duration_seconds",
    "aios_job_last_run_exit_code",
    "aios_job_last_run_state",
}
LABELS = {str(s) for s in RunState if s is not RunState.RUNNING}
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def job(samples: Samples, name: str, job_id: str) -> float | None:
    return samples.get(name, {}).get((("aios_job", job_id),))


def epoch(iso: object) -> float:
    return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    directory = tmp_path / "textfile"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    return directory / "aios.prom"


def test_every_run_rewrites_the_file_the_parser_reads(
    run_testjob: RunJob, roots: dict[str, Path], target: Path
) -> None:
    env = {"AIOS_METRICS_FILE": str(target)}
    assert run_testjob("ok", env=env).returncode == 0
    ok = read_state(roots, "ok")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    # Held open, the first file keeps its inode (no later file can reuse the number) and its
    # text: a rename replaces it, a rewrite in place would change what it reads.
    with target.open() as first:
        written = first.read()
        assert run_testjob("fail", env=env).returncode == 1
        assert run_testjob("skip", env=env).returncode == 0
        first.seek(0)
        assert first.read() == written and os.fstat(first.fileno()).st_ino != target.stat().st_ino
    samples = parse(target.read_text())
    assert set(samples) == FAMILIES, "no timer or data series here: no manager, no generated data"
    fail = read_state(roots, "fail")
    assert job(samples, "aios_job_last_run_timestamp_seconds", "ok") == pytest.approx(epoch(ok["finishedAt"]))
    assert job(samples, "aios_job_last_run_timestamp_seconds", "fail") == pytest.approx(epoch(fail["finishedAt"]))
    assert job(samples, "aios_job_last_run_duration_seconds", "ok") == pytest.approx(int(ok["durationMs"]) / 1000)  # type: ignore[call-overload]
    assert job(samples, "aios_job_last_run_exit_code", "fail") == 1
    assert job(samples, "aios_job_last_run_exit_code", "skip") == 0
    assert job(samples, "aios_job_last_success_timestamp_seconds", "fail") is None
    states = samples["aios_job_last_run_state"]
    for job_id, current in (("ok", "success"), ("fail", "failed"), ("skip", "skipped"), ("warn", "first-run")):
        series = {
            dict(labels)["state"]: value for labels, value in states.items() if dict(labels)["aios_job"] == job_id
        }
        assert set(series) == LABELS and series[current] == 1 and sum(series.values()) == 1, (job_id, series)
    # Unavailable jobs cannot run: they are no series.
    assert not any(dict(labels)["aios_job"] == "retired" for labels in states)
    # No temporary file is left beside it.
    assert sorted(p.name for p in target.parent.iterdir()) == ["aios.prom"]


def test_the_last_success_outlives_the_failures_after_it(
    run_testjob: RunJob, base_env: dict[str, str], roots: dict[str, Path], target: Path
) -> None:
    env = {"AIOS_METRICS_FILE": str(target)}
    assert run_testjob("ok", env=env).returncode == 0
    succeeded = read_state(roots, "ok")["finishedAt"]
    # The same job failing now: its handler swapped for a failing one.
    swapped = (
        "import sys; from tests.support import testjobs as t; t.TEST_HANDLERS['ok'] = t.fail; "
        "sys.exit(t.main(sys.argv[1:]))"
    )
    for _ in range(2):
        failed = subprocess.run(
            [sys.executable, "-c", swapped, "ok"],
            env={**base_env, **env},
            cwd=roots["project"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert failed.returncode == 1, failed.stdout + failed.stderr
    state = read_state(roots, "ok")
    assert state["state"] == "failed" and state["lastSuccessAt"] == succeeded
    samples = parse(target.read_text())
    assert job(samples, "aios_job_last_success_timestamp_seconds", "ok") == pytest.approx(epoch(succeeded))
    assert job(samples, "aios_job_last_run_timestamp_seconds", "ok") == pytest.approx(epoch(state["finishedAt"]))
    assert job(samples, "aios_job_last_run_exit_code", "ok") == 1


def test_a_run_in_flight_shows_the_run_before_it(
    run_testjob: RunJob, start_testjob: StartJob, roots: dict[str, Path], target: Path
) -> None:
    """Another job's metrics are written while this one runs: its latest finished run."""
    env = {"AIOS_METRICS_FILE": str(target), "AIOS_TEST_SLOW": "3"}
    assert run_testjob("slow", env={**env, "AIOS_TEST_SLOW": "0"}).returncode == 0
    before = read_state(roots, "slow")
    child = start_testjob("slow", env)
    try:
        deadline = time.monotonic() + 20
        while read_state(roots, "slow")["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run_testjob("ok", env=env).returncode == 0
        samples = parse(target.read_text())
    finally:
        child.communicate(timeout=30)
    assert job(samples, "aios_job_last_run_timestamp_seconds", "slow") == pytest.approx(epoch(before["finishedAt"]))
    assert samples["aios_job_last_run_state"][(("aios_job", "slow"), ("state", "success"))] == 1
    assert job(samples, "aios_job_last_run_duration_seconds", "slow") is None  # the summary keeps no duration


def test_data_freshness_per_branch_and_nothing_private(
    run_testjob: RunJob, roots: dict[str, Path], target: Path
) -> None:
    stamp = "2026-11-26T05:00:00.000Z"
    secret = "canary-secret-7f3a9c51e2"
    artifact = {
        "schemaVersion": 1,
        "generatedAt": stamp,
        "host": {"generatedAt": stamp},
        "agents": {"generatedAt": "2026-11-26T04:00:00.000Z"},
        "extensions": {
            "items": {
                "trend-finder": {"generatedAt": stamp},
                # A hand-edited file could name an item anything: such names are no label.
                secret: {"generatedAt": stamp},
                "/home/someone/x": {"generatedAt": stamp},
            }
        },
    }
    data = roots["project"] / "src" / "data"
    data.mkdir(parents=True)
    (data / "live-data.json").write_text(json.dumps(artifact))
    env = {"AIOS_METRICS_FILE": str(target), "SOME_TOKEN": secret, "AIOS_PING_URL_OTHER": "https://hc-ping.com/x" * 2}
    assert run_testjob("ok", env=env).returncode == 0
    text = target.read_text()
    branches = {dict(k)["branch"]: v for k, v in parse(text)["aios_data_generated_timestamp_seconds"].items()}
    assert branches == {
        "host": epoch(stamp),
        "agents": epoch("2026-11-26T04:00:00.000Z"),
        "extensions.trend-finder": epoch(stamp),
    }
    assert secret not in text and "/home" not in text and "hc-ping" not in text and str(roots["tmp"]) not in text


def test_exposition_is_what_the_file_holds(run_testjob: RunJob, roots: dict[str, Path], target: Path) -> None:
    """``aios-status --metrics`` prints :func:`metrics.exposition`: the file's very text."""
    assert run_testjob("warn", env={"AIOS_METRICS_FILE": str(target)}).returncode == 0
    ctx = Context.from_environ(
        {"HOME": str(roots["tmp"]), "AIOS_SCHEDULER_ROOT": str(roots["scheduler"])}, project_root=roots["project"]
    )
    assert metrics.exposition(ctx, TEST_REGISTRY, with_timers=False) == target.read_text()


@pytest.mark.parametrize("mask", [0o077, 0o000])
def test_the_file_is_0644_whatever_the_umask(run_testjob: RunJob, target: Path, mask: int) -> None:
    with umask(mask):
        assert run_testjob("ok", env={"AIOS_METRICS_FILE": str(target)}).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def _refused(run_testjob: RunJob, roots: dict[str, Path], value: str) -> str:
    out = run_testjob("ok", env={"AIOS_METRICS_FILE": value})
    assert out.returncode == 0, out.stdout + out.stderr
    state = read_state(roots, "ok")
    assert state["state"] == "success" and state["exitCode"] == 0
    [warning] = state["warnings"]  # type: ignore[misc]
    assert str(warning).startswith("metrics file not written: ")
    assert "/" not in str(warning).replace("chmod go-w", ""), "no path in the warning"
    assert f"warning: {warning}" in out.stdout
    return str(warning)


def test_refusals_are_warnings_that_say_what_and_how(
    run_testjob: RunJob, roots: dict[str, Path], tmp_path: Path
) -> None:
    missing = _refused(run_testjob, roots, str(tmp_path / "nowhere" / "aios.prom"))
    assert "the directory of AIOS_METRICS_FILE does not exist; create it (mkdir)" in missing
    assert "is not an absolute path" in _refused(run_testjob, roots, "relative/aios.prom")
    assert "does not name a .prom file" in _refused(run_testjob, roots, str(tmp_path / "aios.txt"))
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    assert "is writable by other users" in _refused(run_testjob, roots, str(open_dir / "aios.prom"))
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    os.chown(foreign, 65534, 65534)
    assert "is not yours" in _refused(run_testjob, roots, str(foreign / "aios.prom"))
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path)
    assert "is not a directory (or is a symlink)" in _refused(run_testjob, roots, str(linked / "aios.prom"))
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    (real / "aios.prom").symlink_to(tmp_path / "elsewhere.prom")
    assert "is a symlink; refusing to write through it" in _refused(run_testjob, roots, str(real / "aios.prom"))
    assert not (tmp_path / "elsewhere.prom").exists()


def test_a_group_with_other_members_is_others_a_private_group_is_not(
    run_testjob: RunJob, roots: dict[str, Path], tmp_path: Path
) -> None:
    with real_group(other_member=True) as shared:
        directory = tmp_path / "shared"
        directory.mkdir()
        give_to_group(directory, shared, 0o775)
        assert "writable by other users" in _refused(run_testjob, roots, str(directory / "aios.prom"))
    with real_group(other_member=False) as private:
        directory = tmp_path / "private"
        directory.mkdir()
        give_to_group(directory, private, 0o775)
        assert run_testjob("ok", env={"AIOS_METRICS_FILE": str(directory / "aios.prom")}).returncode == 0
        assert read_state(roots, "ok")["warnings"] == []
        assert parse((directory / "aios.prom").read_text())["aios_job_last_run_exit_code"]


def test_the_real_aios_run_writes_metrics_and_loads_no_prometheus_client_without_it(
    tmp_path: Path, target: Path
) -> None:
    project = make_project(tmp_path)
    project.write_env_local({"AIOS_METRICS_FILE": str(target)})
    out = project.run("trend-finder")
    assert out.returncode == 0, out.stdout + out.stderr
    samples = parse(target.read_text())
    assert samples["aios_job_last_run_state"][(("aios_job", "trend-finder"), ("state", "skipped"))] == 1
    assert samples["aios_job_last_run_state"][(("aios_job", "agent-aggregate"), ("state", "first-run"))] == 1


@pytest.mark.user_manager
def test_the_next_elapse_comes_from_the_user_manager(units_sandbox: UnitsSandbox, target: Path) -> None:
    """A real private user manager with agent-aggregate's timer installed; the real
    ``aios-run`` of another job asks it, as a timer run does."""
    from aios_systemd.cli.units import main
    from aios_systemd.config import load
    from aios_systemd.registry import REGISTRY
    from aios_systemd.units.report import timer_status

    assert main(["install", "agent-aggregate"], environ=units_sandbox.env) == 0
    ctx = units_sandbox.context()
    timers, _ = timer_status(ctx, REGISTRY, load(ctx.config_path, REGISTRY))
    expected = epoch(timers["agent-aggregate"]["nextElapse"])  # type: ignore[index]
    out = subprocess.run(
        [str(AIOS_RUN), "trend-finder"],
        env={**units_sandbox.env, "AIOS_METRICS_FILE": str(target)},
        cwd=units_sandbox.project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    nexts = parse(target.read_text())["aios_timer_next_elapse_timestamp_seconds"]
    assert nexts == {(("aios_job", "agent-aggregate"),): pytest.approx(expected)}
    assert expected > time.time()
    assert metrics.exposition(ctx, REGISTRY).count("aios_timer_next_elapse_timestamp_seconds{") == 1


def test_aios_status_metrics_prints_what_the_file_holds(tmp_path: Path, target: Path) -> None:
    """The real console scripts: a run writes AIOS_METRICS_FILE, `aios-status --metrics`
    prints the same exposition (every job), and it is one format among the others."""
    project = make_project(tmp_path)
    env = {"AIOS_METRICS_FILE": str(target)}
    assert project.run("agent-aggregate", env).returncode == 0
    status = AIOS_RUN.parent / "aios-status"

    def status_run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(status), *argv, "--project-root", str(project.root)],
            env=project.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = status_run("--metrics", "--no-timers")
    assert done.returncode == 0, done.stderr
    assert done.stdout == target.read_text()
    samples = parse(done.stdout)
    assert job(samples, "aios_job_last_run_exit_code", "agent-aggregate") == 0
    for extra in (["--json"], ["--job", "dream"]):
        refused = status_run("--metrics", *extra)
        assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "hint: " in refused.stderr
