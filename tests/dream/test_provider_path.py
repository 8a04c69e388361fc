"""A provider installed the npm way (``#!/usr/bin/env node``) through the real ``aios-run
dream``: it runs with a PATH where its interpreter resolves, and a fallback says why."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from aios_systemd.jobs import dream
from tests.dream.conftest import write_material
from tests.trend_finder.project import Project

INTERPRETER = "aios-test-node"  # stands in for node: an interpreter the clean PATH lacks
CLAUDE = {dream.ENABLED_VAR: "true", dream.PROVIDER_VAR: "claude"}


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _interpreter(directory: Path) -> Path:
    # Reads the material, answers with who ran what: the script it was given is $1.
    return _script(
        directory / INTERPRETER,
        '#!/bin/sh\ncat >/dev/null\necho "A dream told by $(basename "$0") for $(basename "$1")"\n',
    )


def _provider(directory: Path, shebang: str, body: str = "") -> Path:
    return _script(directory / "claude", f"{shebang}\n{body}")


def _run(project: Project, path: str) -> tuple[dict[str, object], str]:
    write_material(project, timedelta(minutes=5))
    out = project.run("dream", {**CLAUDE, "PATH": path})
    assert out.returncode == 0, out.stdout + out.stderr
    state = json.loads((project.scheduler_root / "state" / "dream.json").read_text())
    [name] = os.listdir(project.scheduler_root / "dream")
    return state, (project.scheduler_root / "dream" / name).read_text()


def test_an_env_shebang_provider_finds_its_interpreter_on_the_users_path(project: Project, tmp_path: Path) -> None:
    provider_dir, node_dir = tmp_path / "npm-bin", tmp_path / "node-bin"
    _provider(provider_dir, f"#!/usr/bin/env {INTERPRETER}")
    _interpreter(node_dir)
    state, text = _run(project, f"{provider_dir}:{node_dir}:/usr/bin:/bin")
    assert state["state"] == "success" and state["warnings"] == [], state
    assert "provider claude" in text and f"A dream told by {INTERPRETER} for claude" in text


def test_an_interpreter_beside_the_provider_is_found_off_path(project: Project) -> None:
    """npm's global bin directory holds node's own link too: the provider's directory is on its PATH."""
    bin_dir = project.home / ".npm-global" / "bin"
    _provider(bin_dir, f"#!/usr/bin/env {INTERPRETER}")
    _interpreter(bin_dir)
    state, text = _run(project, "/usr/bin:/bin")
    assert state["state"] == "success", state
    assert f"A dream told by {INTERPRETER} for claude" in text


def test_a_missing_interpreter_falls_back_and_says_which(project: Project, tmp_path: Path) -> None:
    _provider(tmp_path / "bin", "#!/usr/bin/env aios-no-such-node")
    state, text = _run(project, f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert state["state"] == "degraded" and state["reason"] == "provider-fallback", state
    [warning] = state["warnings"]  # type: ignore[misc]
    assert warning.startswith("Dream provider claude needs aios-no-such-node, which is not on the PATH it runs with"), (
        warning
    )
    assert "systemctl --user import-environment PATH" in warning and warning.endswith("wrote the offline digest")
    assert str(tmp_path) not in warning and "provider offline" in text


def test_a_program_the_provider_cannot_find_is_named_as_the_reason(project: Project, tmp_path: Path) -> None:
    _provider(tmp_path / "bin", "#!/bin/sh", "cat >/dev/null\nexec aios-no-such-program\n")
    state, _ = _run(project, f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert state["state"] == "degraded", state
    assert state["warnings"] == [
        "Dream provider claude exited with code 127 (a program it runs was not found); wrote the offline digest"
    ]


def test_run_path_puts_the_providers_directory_first_and_keeps_only_absolute_entries() -> None:
    path = dream.run_path("/opt/x/bin/claude", "relative:/home/u/.local/bin:/usr/bin::/opt/x/bin")
    assert path.split(":") == ["/opt/x/bin", "/home/u/.local/bin", "/usr/bin", "/usr/local/bin", "/bin"]


def test_missing_interpreter_reads_the_shebang(tmp_path: Path) -> None:
    direct = _provider(tmp_path / "a", "#!/nonexistent/bin/python9")
    assert dream.missing_interpreter(str(direct), "/usr/bin:/bin") == "python9"
    assert dream.missing_interpreter(str(_provider(tmp_path / "b", "#!/bin/sh")), "") is None
    with_flag = _provider(tmp_path / "c", "#!/usr/bin/env -S aios-gone --flag")
    assert dream.missing_interpreter(str(with_flag), "/usr/bin:/bin") == "aios-gone"
    binary = tmp_path / "d"
    binary.write_bytes(b"\x7fELF\x02\x01")
    assert dream.missing_interpreter(str(binary), "") is None
    assert dream.missing_interpreter("claude", "") is None  # not a file: running it says what is wrong
