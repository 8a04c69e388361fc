from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aios_systemd.context import Context
from aios_systemd.data.writer import packaged_example_bytes
from tests.trend_finder.project import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def context(project: Project, env: dict[str, str] | None = None) -> Context:
    return Context.from_environ(project.env(env), project_root=project.root)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_material(project: Project, age: timedelta | None = None, at: datetime | None = None) -> str:
    """A valid live artifact whose host/local material is ``age`` old (or dated ``at``)."""
    doc = json.loads(packaged_example_bytes())
    stamp = iso(at or datetime.now(UTC) - (age or timedelta(0)))
    doc["generatedAt"] = stamp
    for branch in ("host", "scheduler", "agents"):
        if isinstance(doc.get(branch), dict):
            doc[branch]["generatedAt"] = stamp
    path = project.root / "src/data/live-data.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return stamp


class Refresh:
    """An injectable refresh that records its calls and runs ``effect`` when called."""

    def __init__(self, code: int | None = 0, effect: Callable[[], None] | None = None) -> None:
        self.calls: list[float] = []
        self.code = code
        self.effect = effect

    def __call__(self, timeout: float) -> int | None:
        self.calls.append(timeout)
        if self.effect:
            self.effect()
        return self.code


@pytest.fixture
def guard_killpg(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """pytest-subprocess' fake processes have pid 0, and ``os.killpg(0, ...)`` signals our own
    process group: record such calls instead of killing the test run."""
    calls: list[tuple[int, int]] = []
    real = os.killpg

    def guarded(pgid: int, sig: int) -> None:
        if pgid <= 1:
            calls.append((pgid, sig))
            return
        real(pgid, sig)

    monkeypatch.setattr(os, "killpg", guarded)
    yield calls
