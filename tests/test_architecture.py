"""The import contracts in pyproject.toml cover the whole package (lint-imports checks them)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import aios_systemd

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(aios_systemd.__file__).parent


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {str(c["type"]): c for c in config["contracts"]}


def test_every_core_module_is_held_by_the_forbidden_contract() -> None:
    core = {f"aios_systemd.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert set(_contracts()["forbidden"]["source_modules"]) == core  # type: ignore[arg-type]


def test_every_subpackage_is_a_layer() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    layers = _contracts()["layers"]["layers"]
    assert set(layers) == packages  # type: ignore[arg-type]
    assert {f"aios_systemd.{name}" for name in packages} == set(_contracts()["forbidden"]["forbidden_modules"])  # type: ignore[arg-type]


def test_type_checking_is_defined_once() -> None:
    # The start-up modules take it from aios_systemd._typing (ruff knows it as typing's).
    written = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name != "_typing.py" and any(line.startswith("TYPE_CHECKING =") for line in p.read_text().splitlines())
    ]
    assert written == []
