"""Files and directories another user planted or can change are never believed.

The caches follow no scheduler root that status calls unsafe, and take no entry that is
not ours; state, holder and log files in the private directories must be ours; a root
that is not private is refused and left as it was.  Foreign ownership is real: ``chown``
to an unused uid in throwaway directories (the tests run as root).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aios_systemd import config, locks
from aios_systemd import state as state_mod
from aios_systemd.context import Context
from aios_systemd.registry import REGISTRY
from aios_systemd.status import model as status_model
from tests.conftest import read_state
from tests.support.testjobs import TEST_REGISTRY

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")

OTHER_UID = 4242
CFG = {"schemaVersion": 1, "jobs": {"aggregate": {"cadence": "every-2-hours"}}}


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(CFG))
    return path


def _lie_in_cache(cache: Path) -> Path:
    """Rewrite the one config entry to a valid answer the config does not give."""
    (entry,) = cache.glob("config-*.json")
    doc = json.loads(entry.read_text())
    doc["jobs"]["aggregate"][0] = "hourly"
    entry.write_text(json.dumps(doc))
    return entry


def test_a_cache_entry_of_another_user_is_a_miss(tmp_path: Path) -> None:
    path, sched = _config(tmp_path), tmp_path / "sched"
    config.load(path, REGISTRY, sched / "cache")
    entry = _lie_in_cache(sched / "cache")
    # Ours, the lie is believed (the cache is keyed, not signed): the test can see a hit.
    assert config.load(path, REGISTRY, sched / "cache").settings("aggregate").cadence.id == "hourly"
    os.chown(entry, OTHER_UID, OTHER_UID)
    assert config.load(path, REGISTRY, sched / "cache").settings("aggregate").cadence.id == "every-2-hours"


@pytest.mark.parametrize("unsafe", ["symlink", "foreign", "open"])
def test_the_cache_is_not_used_under_a_scheduler_root_status_calls_unsafe(tmp_path: Path, unsafe: str) -> None:
    path, sched = _config(tmp_path), tmp_path / "sched"
    config.load(path, REGISTRY, sched / "cache")
    entry = _lie_in_cache(sched / "cache")
    if unsafe == "symlink":
        real = tmp_path / "real"
        sched.rename(real)
        sched.symlink_to(real)
    elif unsafe == "foreign":
        os.chown(sched, OTHER_UID, OTHER_UID)
    else:
        sched.chmod(0o777)
    before = sorted(p.name for p in entry.parent.iterdir())
    assert config.load(path, REGISTRY, sched / "cache").settings("aggregate").cadence.id == "every-2-hours"
    path.write_text(json.dumps({"jobs": {"aggregate": {"cadence": "hourly"}}}))  # a miss: put would write
    config.load(path, REGISTRY, sched / "cache")
    assert sorted(p.name for p in entry.parent.iterdir()) == before  # nothing written into it
    ctx = Context.from_environ({"AIOS_SCHEDULER_ROOT": str(sched), "HOME": str(tmp_path)}, project_root=tmp_path)
    problem = status_model.build(ctx, TEST_REGISTRY, [], with_timers=False)["schedulerRoot"]
    assert problem["ok"] is False and problem["hint"]
    assert str(tmp_path) not in json.dumps(problem)


def test_a_state_or_holder_file_of_another_user_is_not_believed(run_testjob, roots) -> None:
    assert run_testjob("ok").returncode == 0
    ctx = Context.from_environ(
        {"AIOS_SCHEDULER_ROOT": str(roots["scheduler"]), "HOME": str(roots["tmp"])}, project_root=roots["project"]
    )
    state_path = ctx.state_path("ok")
    os.chown(state_path, OTHER_UID, OTHER_UID)
    assert state_mod.read(ctx, "ok").state == "unreadable-state"
    holder = locks.holder_path(ctx.lock_path("ok"))
    holder.write_text(json.dumps({"pid": os.getpid(), "runId": "planted", "startedAt": "x", "bootId": "y"}))
    os.chown(holder, OTHER_UID, OTHER_UID)
    assert locks.read_holder(ctx.lock_path("ok")) == locks.Holder(0, "unknown", "", "")
    # The next run replaces both with its own.
    done = run_testjob("ok")
    assert done.returncode == 0, done.stderr
    assert os.lstat(state_path).st_uid == os.getuid() and read_state(roots, "ok")["state"] == "stale-lock"


def test_a_planted_log_gets_no_line_and_the_run_says_so(run_testjob, roots) -> None:
    assert run_testjob("ok").returncode == 0
    log = roots["scheduler"] / "logs" / "ok.jsonl"
    log.write_bytes(b"planted\n")
    os.chown(log, OTHER_UID, OTHER_UID)
    done = run_testjob("ok")
    assert done.returncode == 0, done.stderr
    assert log.read_bytes() == b"planted\n"
    record = read_state(roots, "ok")
    assert record["state"] == "warning-only"
    (warning,) = record["warnings"]  # type: ignore[misc]
    assert warning.startswith("the private run log is owned by another user, so the run was not logged")
    assert str(roots["tmp"]) not in done.stdout + done.stderr + json.dumps(record)


@pytest.mark.parametrize("mode", [0o777, 0o2777])
def test_a_scheduler_root_others_can_write_is_refused_and_not_chmodded(run_testjob, roots, mode: int) -> None:
    sched = roots["scheduler"]
    sched.mkdir()
    sched.chmod(mode)
    done = run_testjob("ok")
    assert done.returncode == 2
    assert "error: the scheduler root is writable by other users" in done.stderr and "hint:" in done.stderr
    assert str(sched) not in done.stderr
    assert stat.S_IMODE(os.lstat(sched).st_mode) == mode and list(sched.iterdir()) == []


def test_a_scheduler_root_of_another_user_is_refused(run_testjob, roots) -> None:
    roots["scheduler"].mkdir()
    os.chown(roots["scheduler"], OTHER_UID, OTHER_UID)
    done = run_testjob("ok")
    assert done.returncode == 2 and "owned by another user" in done.stderr and "hint:" in done.stderr
    assert list(roots["scheduler"].iterdir()) == []


def test_aios_aggregate_refuses_a_scheduler_root_others_can_write_up_front(tmp_path: Path) -> None:
    project, sched = tmp_path / "project", tmp_path / "sched"
    project.mkdir()
    sched.mkdir(mode=0o777)
    sched.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env |= {"HOME": str(tmp_path), "AIOS_SCHEDULER_ROOT": str(sched)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "aios-aggregate"), "--project-root", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "error: the scheduler root is writable by other users" in done.stderr and "hint:" in done.stderr
    assert str(tmp_path) not in done.stdout + done.stderr
    assert list(sched.iterdir()) == [] and stat.S_IMODE(os.lstat(sched).st_mode) == 0o777
