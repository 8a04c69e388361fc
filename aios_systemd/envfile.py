"""Read a project's ``.env.local`` (KEY=value lines) without ever echoing a value."""

from __future__ import annotations

import re
from pathlib import Path

from . import fsio

_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
MAX_ENV_FILE = 256 * 1024


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        m = _LINE.fullmatch(raw)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


def load(path: Path) -> dict[str, str]:
    """The variables in ``path``; empty when it is missing or unreadable (never raises)."""
    try:
        data = fsio.read_bytes(path, ".env.local", MAX_ENV_FILE)
    except Exception:  # noqa: BLE001 - an unreadable .env.local means "nothing configured"
        return {}
    if data is None:
        return {}
    return parse(data.decode("utf-8", errors="replace"))
