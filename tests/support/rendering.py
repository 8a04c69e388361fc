"""Rendering helpers shared by the unit tests: a recording stand-in for ``aios-run``,
settings as the local config would select them, and a silent-verify assertion."""

from __future__ import annotations

import json
from pathlib import Path

from aios_systemd import config, registry
from aios_systemd.units.templates import RenderedUnit, render_job
from tests.support.unit_verify import verify


def fake_aios_run(directory: Path) -> Path:
    """An executable named aios-run that records where and with what it ran, and an
    aios-notify beside it that does the same (the scripts of one installation)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("aios-run", "aios-notify"):
        script = directory / name
        script.write_text(
            "#!/bin/sh\n"
            f'out="$(dirname "$0")/{name}.txt"\n'
            'pwd > "$out"\n'
            'printf "%s\\n" "$@" "$AI_OS_SCHEDULER_TRIGGER_SOURCE" "$AIOS_SCHEDULER_ROOT" >> "$out"\n'
        )
        script.chmod(0o755)
    return directory / "aios-run"


def settings_for(
    job_id: str, cadence: str | None = None, times: list[str] | None = None, *, notify: bool = False
) -> config.JobSettings:
    entry: dict[str, object] = {"notify": True} if notify else {}
    if cadence is not None:
        entry["cadence"] = cadence
    if times is not None:
        entry["times"] = times
    doc = json.dumps({"schemaVersion": 1, "jobs": {job_id: entry}}).encode()
    parsed = config.parse(doc, registry.REGISTRY)
    assert parsed.warnings == (), parsed.warnings
    return parsed.settings(job_id)


Pair = tuple[RenderedUnit, RenderedUnit]


def render_with(
    tmp_path: Path,
    *,
    job_id: str = "agent-aggregate",
    title: str | None = None,
    working_directory: Path | str | None = None,
    aios_run: Path | None = None,
    scheduler_root: Path | str | None = None,
) -> Pair:
    """Render one job with the given parts swapped in (defaults: real, plain ones)."""
    job = registry.REGISTRY.get(job_id)
    if title is not None:
        job = job._replace(title=title)
    settings = settings_for(job_id)._replace(job=job)
    return render_job(
        job,
        settings,
        working_directory=tmp_path if working_directory is None else working_directory,  # type: ignore[arg-type]
        aios_run=fake_aios_run(tmp_path / "bin") if aios_run is None else aios_run,
        scheduler_root=tmp_path / "sched" if scheduler_root is None else scheduler_root,  # type: ignore[arg-type]
    )


def write_pair(units: Pair, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for unit in units:
        path = directory / unit.name
        path.write_text(unit.text, encoding="utf-8")
        paths.append(path)
    return paths


def assert_verifies(units: Pair, scratch: Path) -> None:
    paths = write_pair(units, scratch / "units")
    verdict = verify(paths, scratch)
    assert verdict.returncode == 0, verdict.output
    assert verdict.output == "", f"systemd-analyze printed something:\n{verdict.output}"
