"""Shared builders for the data tests: contexts in temporary directories and valid documents."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aios_systemd.context import Context
from aios_systemd.data import writer
from aios_systemd.privacy import Privacy

TS = "2026-11-26T05:00:00.000Z"

# Fragments the privacy-check property tests join into strings: the canaries of
# canary_privacy() and the characters around which matching and JSON escaping change.
PRIVACY_PIECES = (
    *("a", "b", " ", "\n", '"', "\\", "/", "~/", "@", ".", "x.org", "-", ",", ":"),
    *("canaryuser", "s3cr3t-value", "/h/me", "é", "\u2028", "0/4", "1"),
)


def canary_privacy() -> Privacy:
    """The privacy rules those property tests check against (the canaries above)."""
    return Privacy(secrets=["s3cr3t-value", 'quo"te\\secret'], home="/h/me", users=["canaryuser"])


def make_ctx(tmp: Path, env: Mapping[str, str] | None = None) -> Context:
    project = tmp / "project"
    home = tmp / "home"
    project.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    base = {"HOME": str(home), "AIOS_SCHEDULER_ROOT": str(tmp / "sched"), "PATH": os.environ.get("PATH", "")}
    base.update(env or {})
    return Context.from_environ(base, project_root=project)


def child_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HOME": str(tmp / "home"), "AIOS_SCHEDULER_ROOT": str(tmp / "sched")})
    env.update(extra or {})
    return env


def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(writer.packaged_example_bytes())
    return doc


def host_branch(kernel: str = "6.1.0-test", stamp: str = TS) -> dict[str, Any]:
    doc = example()
    doc.pop("extensions")
    doc["generatedAt"] = stamp
    doc["host"]["kernel"] = kernel
    return doc


def item(n: int = 0, stamp: str = TS) -> dict[str, Any]:
    return {"generatedAt": stamp, "status": "ok", "count": n, "titles": [f"title {n}"]}
