"""``aios-run`` and ``aios-aggregate`` apply the working-directory policy to the project:
a project root others can write is refused; a ``.env.local`` or local config another user
owns or can change is ignored, with a warning naming it by role.  Otherwise that user
could send the Apify token to a base URL of their choosing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aios_systemd import perms
from aios_systemd.data.collectors import trend_finder as tf
from tests.support.groups import give_to_group, needs_root, real_group
from tests.trend_finder.conftest import TOKEN
from tests.trend_finder.project import Project
from tests.trend_finder.server import FakeApify

OTHER_UID = 4242
BIN = Path(sys.executable).parent
AIOS_AGGREGATE = BIN / "aios-aggregate"


def _enabled(api: FakeApify) -> dict[str, str]:
    return {tf.ENABLED_VAR: "trend-finder", tf.BASE_URL_VAR: api.base_url, tf.TOKEN_VAR: TOKEN, tf.DATASETS_VAR: "okA"}


def _state(project: Project) -> dict[str, object]:
    doc: dict[str, object] = json.loads((project.scheduler_root / "state" / "trend-finder.json").read_text())
    return doc


def _aggregate(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIOS_AGGREGATE), "--project-root", str(project.root), "--json"],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _private(project: Project, done: subprocess.CompletedProcess[str]) -> None:
    assert str(project.root) not in done.stdout + done.stderr


@pytest.mark.parametrize("who", ["world", "ancestor"])
def test_a_project_root_others_can_write_is_refused(project: Project, api: FakeApify, who: str) -> None:
    project.write_env_local(_enabled(api))
    (project.root if who == "world" else project.root.parent).chmod(0o777)
    for done in (project.run("trend-finder"), _aggregate(project)):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "error: " in done.stderr and "writable by other users" in done.stderr and "hint: " in done.stderr
        _private(project, done)
    assert api.requests == [] and not (project.scheduler_root / "state").exists()


@needs_root
def test_a_project_root_of_another_user_is_refused(project: Project, api: FakeApify) -> None:
    project.write_env_local(_enabled(api))
    os.chown(project.root, OTHER_UID, OTHER_UID)
    done = project.run("trend-finder")
    assert done.returncode == 2 and "the project root is not owned by you" in done.stderr and "hint:" in done.stderr
    assert api.requests == []


@needs_root
def test_a_fedora_checkout_0775_with_a_private_group_runs(project: Project, api: FakeApify) -> None:
    project.write_env_local(_enabled(api))
    (project.root / ".env.local").chmod(0o664)
    with real_group(other_member=False) as private:
        for path in (project.root, project.root / ".env.local"):
            give_to_group(path, private, 0o775 if path.is_dir() else 0o664)
        done = project.run("trend-finder")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _state(project)["state"] == "success"
    assert [r.authorization for r in api.requests] == [f"Bearer {TOKEN}"]


def test_a_project_root_through_a_symlink_is_followed(project: Project, api: FakeApify) -> None:
    link = project.root.parent / "link"
    link.symlink_to(project.root)
    done = subprocess.run(
        [str(BIN / "aios-run"), "agent-aggregate", "--project-root", str(link)],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_root
@pytest.mark.parametrize("how", ["foreign", "shared-group", "world-writable"])
def test_an_env_local_others_control_is_ignored_with_a_warning(project: Project, api: FakeApify, how: str) -> None:
    project.write_env_local(_enabled(api))
    env_local = project.root / ".env.local"
    with real_group(other_member=True) as shared:
        if how == "foreign":
            os.chown(env_local, OTHER_UID, OTHER_UID)
        elif how == "shared-group":
            give_to_group(env_local, shared, 0o660)
        else:
            env_local.chmod(0o666)
        done = project.run("trend-finder")
        aggregated = _aggregate(project)
    assert done.returncode == 0, done.stdout + done.stderr
    state = _state(project)
    assert state["state"] == "skipped" and state["reason"] == "extension-disabled"
    assert api.requests == []  # the token never went to the base URL that file chose
    why = "is owned by another user" if how == "foreign" else f"is writable by {perms.OTHERS}"
    (warning,) = state["warnings"]  # type: ignore[misc]
    assert warning.startswith(f".env.local {why}, so it is ignored: ") and "chmod go-w" in warning
    assert aggregated.returncode == 0, aggregated.stderr
    assert any(w.startswith(f".env.local {why}, so it is ignored") for w in json.loads(aggregated.stdout)["warnings"])
    for out in (done, aggregated):
        _private(project, out)
        assert TOKEN not in out.stdout + out.stderr


@needs_root
def test_a_local_config_of_another_user_is_ignored_with_a_warning(project: Project) -> None:
    config = project.root / "data" / "ai-os.scheduler.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"schemaVersion": 1, "jobs": {"agent-aggregate": {"cadence": "hourly"}}}))
    os.chown(config, OTHER_UID, OTHER_UID)
    status = subprocess.run(
        [str(BIN / "aios-status"), "--json", "--no-timers", "--project-root", str(project.root)],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["config"]["warnings"] == [
        "$: the local scheduler config is owned by another user, so it is ignored: "
        "make it yours and writable only by you (chown, chmod go-w), or remove it"
    ]
    job = next(j for j in doc["jobs"] if j["job"] == "agent-aggregate")
    assert job["cadence"]["id"] == "every-4-hours" and job["cadence"]["source"] == "registry-default"
    done = project.run("agent-aggregate")
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = json.loads(done.stdout)["warnings"]
    assert "local scheduler config has warnings; see aios-status" in warnings
