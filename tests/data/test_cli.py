"""``aios-aggregate`` and ``aios-check-private`` through ``main(argv)`` and real git repos."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from aios_systemd import proc
from aios_systemd.cli import aggregate as agg_cli
from aios_systemd.cli import check_private
from aios_systemd.data import schema
from aios_systemd.data.writer import write_live_data_for_scope
from aios_systemd.jobs import aggregate as aggregate_job
from aios_systemd.locks import RunLock
from aios_systemd.registry import ScopeKind, WriteScope
from tests.data.support import item, make_ctx


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "project").mkdir()
    for name in ("AIOS_PROJECT_ROOT", "VITE_CLAUDE_OS_ENABLED_EXTENSIONS", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIOS_SCHEDULER_ROOT", str(tmp_path / "sched"))
    return tmp_path / "project"


def test_direct_aggregate_writes_with_a_private_trace_and_no_run_state(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agg_cli.main(["--project-root", str(project), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "written" and out["scope"] == "full"
    doc = json.loads((project / "src/data/live-data.json").read_bytes())
    schema.validate_document(doc)
    assert out["freshness"] == {"hostLocal": doc["generatedAt"]}
    logs = project / "logs"
    traces = sorted(logs.glob("aggregate-*.jsonl"))
    assert len(traces) == 1
    latest = logs / "aggregate.latest.jsonl"
    assert latest.read_bytes() == traces[0].read_bytes()
    for path in (*traces, latest):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    events = [json.loads(line)["event"] for line in latest.read_text().splitlines()]
    assert events[0] == "start" and "write" in events and events[-1] == "finish"
    sched = project.parent / "sched"
    # No scheduler run state and no per-job lock: only the shared generated-data lock.
    assert not (sched / "state").exists()
    assert {p.name for p in (sched / "locks").iterdir()} == {"generated-live-data.lock"}


def test_host_local_scope_keeps_extension_items(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = make_ctx(project.parent)
    assert write_live_data_for_scope(ctx, WriteScope(ScopeKind.EXTENSION_ITEM, "demo-ext"), item(5)).ok
    assert agg_cli.main(["--scope", "host-local", "--project-root", str(project)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("aggregate (host-local): written")
    doc = json.loads((project / "src/data/live-data.json").read_bytes())
    assert doc["extensions"]["items"]["demo-ext"] == item(5)


def test_traces_are_bounded(project: Path) -> None:
    logs = project / "logs"
    logs.mkdir()
    for i in range(30):
        (logs / f"aggregate-20200101T0000{i:02d}.000Z-aaaaaa.jsonl").write_text("{}\n")
    assert agg_cli.main(["--scope", "host-local", "--project-root", str(project)]) == 0
    traces = sorted(logs.glob("aggregate-*.jsonl"))
    assert len(traces) == aggregate_job.TRACE_KEEP
    assert not (logs / "aggregate-20200101T000000.000Z-aaaaaa.jsonl").exists()
    assert (logs / "aggregate.latest.jsonl").exists()


def test_a_held_data_lock_exits_75_with_a_hint(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_ctx(project.parent)
    ctx.locks_dir.mkdir(parents=True, mode=0o700)
    holder = RunLock(ctx.data_lock_path, "the generated-data lock")
    assert holder.try_acquire().acquired
    original = aggregate_job.direct
    monkeypatch.setattr(aggregate_job, "direct", lambda c, s: original(c, s, lock_timeout=0.1))
    try:
        assert agg_cli.main(["--project-root", str(project)]) == 75
    finally:
        holder.release()
    err = capsys.readouterr().err
    assert "error: generated data was not written" in err and "hint:" in err
    assert not (project / "src/data/live-data.json").exists()


def test_a_symlinked_logs_directory_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "logs").symlink_to(project.parent)
    assert agg_cli.main(["--project-root", str(project)]) == 2
    err = capsys.readouterr().err
    assert "symlink" in err and str(project) not in err


def test_bad_scope_is_a_usage_error(project: Path) -> None:
    assert agg_cli.main(["--scope", "extension-item", "--project-root", str(project)]) == 2


# -- aios-check-private ------------------------------------------------------------------
GOOD_IGNORE = (
    "\n".join(
        [
            "/src/data/live-data.json",
            "/src/data/.live-data.json.*.tmp",
            "/logs/",
            ".env.local",
            "/data/ai-os.scheduler.json",
            "ai-os-*.service",
            "ai-os-*.timer",
        ]
    )
    + "\n"
)


def git(repo: Path, *args: str) -> None:
    env = {
        "HOME": str(repo.parent),
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make_repo(project: Path, ignore: str = GOOD_IGNORE) -> Path:
    git(project, "init", "-q")
    (project / ".gitignore").write_text(ignore)
    (project / "src" / "data").mkdir(parents=True)
    (project / "src" / "data" / "live-data.json").write_text('{"secret": "never read"}')
    (project / ".env.local").write_text("APIFY_TOKEN=canary-secret-XYZ\n")
    (project / "README.md").write_text("x")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "init")
    return project


def test_check_private_clean_repo(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_repo(project)
    (project / "units-out").mkdir()
    (project / "units-out" / "ai-os-dream.timer").write_text("[Timer]\n")
    assert check_private.main(["--project-root", str(project)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_private_names_a_tracked_file_and_the_fix(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_repo(project)
    git(project, "add", "-f", "src/data/live-data.json")
    (project / "logs").mkdir()
    (project / "logs" / "aggregate.latest.jsonl").write_text("{}\n")
    git(project, "add", "-f", "logs/aggregate.latest.jsonl")
    git(project, "commit", "-q", "-m", "oops")
    assert check_private.main(["--project-root", str(project), "--json"]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False
    found = {(f["path"], f["problem"]) for f in doc["findings"]}
    assert found == {("src/data/live-data.json", "tracked"), ("logs/aggregate.latest.jsonl", "tracked")}
    assert all("git rm --cached -- '" + f["path"] + "'" in f["fix"] for f in doc["findings"])
    assert str(project) not in captured.out + captured.err
    assert "canary-secret-XYZ" not in captured.out + captured.err and "never read" not in captured.out


def test_check_private_missing_rules_and_unignored_unit_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(project, ignore="/src/data/live-data.json\n.env.local\n")
    (project / "deploy").mkdir()
    (project / "deploy" / "ai-os-agent-aggregate.service").write_text("[Service]\n")
    assert check_private.main(["--project-root", str(project)]) == 1
    out = capsys.readouterr().out
    assert "logs/*.jsonl: not ignored" in out and "add '/logs/' to .gitignore" in out
    assert "data/ai-os.scheduler.json: not ignored" in out
    assert "deploy/ai-os-agent-aggregate.service: not ignored" in out
    assert "src/data/live-data.json" not in out


def test_check_private_outside_git_and_without_git(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert check_private.main(["--project-root", str(project)]) == 2
    err = capsys.readouterr().err
    assert "not" in err and "git work tree" in err and "hint:" in err
    make_repo(project)
    empty = project.parent / "empty-bin"
    empty.mkdir()
    monkeypatch.setattr(proc, "CLEAN_PATH", str(empty))
    assert check_private.main(["--project-root", str(project)]) == 2
    assert "git could not be started" in capsys.readouterr().err


def test_check_private_sees_a_killed_writes_temp_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The temp file of a killed write is a full private copy: without its ignore rule the
    check fails naming the fix; with it, a present one is fine (the next write sweeps it)."""
    make_repo(project, ignore=GOOD_IGNORE.replace("/src/data/.live-data.json.*.tmp\n", ""))
    temp = project / "src" / "data" / ".live-data.json.4242.tmp"
    temp.write_text('{"secret": "never read"}')
    assert check_private.main(["--project-root", str(project), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {(f["path"], f["problem"]) for f in doc["findings"]} == {
        ("src/data/.live-data.json.4242.tmp", "not-ignored"),  # the file present
        ("src/data/.live-data.json.<pid>.tmp", "not-ignored"),  # the rule missing
    }
    assert {f["fix"] for f in doc["findings"]} == {"add '/src/data/.live-data.json.*.tmp' to .gitignore"}
    temp.unlink()  # no file: the rule itself is still proven missing
    assert check_private.main(["--project-root", str(project)]) == 1
    assert "src/data/.live-data.json.<pid>.tmp: not ignored" in capsys.readouterr().out
    (project / ".gitignore").write_text(GOOD_IGNORE)
    temp.write_text("{}")
    assert check_private.main(["--project-root", str(project)]) == 0


def test_this_repository_ignores_every_private_artifact() -> None:
    """The toolkit's own checkout doubles as a project root (the quickstart)."""
    repo = Path(__file__).resolve().parents[2]
    assert check_private.main(["--project-root", str(repo)]) == 0
