"""Host facts: OS, kernel, architecture, CPUs, uptime, load, memory, and the disk use of
the filesystem holding the project.

Never the host name (``uname().nodename`` is not read), a user name, or a path; each fact
that cannot be read is left null and named in ``unavailable`` with a warning, so one
missing ``/proc`` file degrades the branch instead of losing it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios_systemd.data.collectors import Collected
from aios_systemd.isotime import now_iso

if TYPE_CHECKING:
    from aios_systemd.context import Context
    from aios_systemd.registry import Registry

PROC = Path("/proc")
OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))
MAX_SMALL_FILE = 64 * 1024
_LABEL_OK = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_SLUG_OK = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _small(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.read(MAX_SMALL_FILE).decode("utf-8", "replace")


def _label(value: str | None) -> str | None:
    return value if value and _LABEL_OK.fullmatch(value) else None


def os_info(paths: tuple[Path, ...] = OS_RELEASE) -> dict[str, Any]:
    for path in paths:
        try:
            text = _small(path)
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip("\"'")
        ident = fields.get("ID", "").lower()
        return {
            "name": _label(fields.get("NAME")),
            "version": _label(fields.get("VERSION_ID")),
            "id": ident if _SLUG_OK.fullmatch(ident) else None,
        }
    raise OSError("no os-release file")


def uptime_seconds(proc: Path = PROC) -> float:
    return round(float(_small(proc / "uptime").split()[0]), 1)


def load_average() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"one": round(one, 2), "five": round(five, 2), "fifteen": round(fifteen, 2)}


def memory(proc: Path = PROC) -> dict[str, int | None]:
    values: dict[str, int] = {}
    for line in _small(proc / "meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    if "MemTotal" not in values or "MemAvailable" not in values:
        raise OSError("meminfo lacks totals")
    return {
        "totalBytes": values["MemTotal"],
        "availableBytes": values["MemAvailable"],
        "swapTotalBytes": values.get("SwapTotal"),
        "swapFreeBytes": values.get("SwapFree"),
    }


def disk(path: Path) -> dict[str, int]:
    # The project may not exist yet on a fresh machine: its nearest existing ancestor
    # lives on the filesystem it will use.
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return {"totalBytes": total, "usedBytes": used, "freeBytes": free}


def collect(ctx: Context, registry: Registry | None = None) -> Collected:
    del registry
    uname = os.uname()
    facts: dict[str, tuple[str, Callable[[], Any]]] = {
        "os": ("os", os_info),
        "kernel": ("kernel", lambda: _label(uname.release)),
        "arch": ("arch", lambda: _label(uname.machine)),
        "cpuCount": ("cpuCount", os.cpu_count),
        "uptimeSeconds": ("uptime", uptime_seconds),
        "load": ("load", load_average),
        "memory": ("memory", memory),
        "disk": ("disk", lambda: disk(ctx.project_root)),
    }
    branch: dict[str, Any] = {"generatedAt": now_iso()}
    unavailable: list[str] = []
    for key, (fact, read) in facts.items():
        try:
            value = read()
        except (OSError, ValueError, IndexError):
            value = None
        if value is None:
            unavailable.append(fact)
        branch[key] = value
    branch["unavailable"] = unavailable
    warnings = tuple(f"host fact unavailable: {fact}" for fact in unavailable)
    return Collected(branch, warnings, degraded=bool(unavailable))
