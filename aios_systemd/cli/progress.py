"""How ``aios-run`` reports a run while it happens: journald lines under systemd,
a live elapsed-time line on a terminal, nothing extra when piped."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..outcomes import hint_for
from .common import ERR, INFO, NOTICE, WARNING, is_journal

if TYPE_CHECKING:
    from typing import TextIO

_FINISH_PRIORITY = {
    "success": INFO,
    "skipped": NOTICE,
    "warning-only": NOTICE,
    "degraded": WARNING,
    "stale-lock": WARNING,
    "blocked": WARNING,
    "failed": ERR,
    "timeout": ERR,
}
TICK_AFTER_SECONDS = 2.0


class JournalReporter:
    """One concise line per event, so ``journalctl -p warning`` shows exactly the
    warnings and failures."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.job = ""

    def _line(self, priority: str, text: str) -> None:
        self.stream.write(f"{priority}{text}\n")
        self.stream.flush()

    def __call__(self, event: str, f: Mapping[str, object]) -> None:
        if event == "start":
            self.job = str(f["job"])
            self._line(INFO, f"{f['job']}: started run {f['runId']} (trigger {f['trigger']}, lock {f['lockOutcome']})")
        elif event == "stale-lock":
            self._line(WARNING, f"{f['job']}: recovered a stale lock left by a run that died")
        elif event == "blocked":
            self._line(WARNING, f"{f['job']}: blocked, run {f['blockedBy']} holds the job lock")
        elif event == "stopping":
            self._line(
                ERR if f["reason"] == "timeout" else WARNING,
                f"{self.job}: stopping the job's process tree ({f['reason']})",
            )
        elif event == "finish":
            job = f["job"]
            warnings = f.get("warnings") or ()
            assert isinstance(warnings, tuple | list)
            for w in warnings:
                self._line(WARNING, f"{job}: warning: {w}")
            reason = f" ({f['reason']})" if f.get("reason") else ""
            seconds = int(str(f["durationMs"])) / 1000
            self._line(
                _FINISH_PRIORITY.get(str(f["state"]), ERR),
                f"{job}: {f['state']}{reason} in {seconds:.1f}s, exit {f['exitCode']}",
            )
            hint = hint_for(str(f["reason"]) if f.get("reason") else None, str(job))
            if hint:
                self._line(NOTICE, f"{job}: hint: {hint}")


class TerminalReporter:
    """A live ``running 12s`` line on stderr for jobs that take a while."""

    def __init__(self, stream: TextIO, color: bool) -> None:
        self.stream = stream
        self.color = color
        self.job = ""
        self.shown = False

    def __call__(self, event: str, f: Mapping[str, object]) -> None:
        if event == "start":
            self.job = str(f["job"])
        elif event == "tick":
            elapsed = float(str(f["elapsedSeconds"]))
            if elapsed >= TICK_AFTER_SECONDS:
                label = (
                    f"\x1b[2m{self.job} running {elapsed:.0f}s\x1b[0m"
                    if self.color
                    else (f"{self.job} running {elapsed:.0f}s")
                )
                self.stream.write("\r" + label + "\x1b[K")
                self.stream.flush()
                self.shown = True
        elif event in ("finish", "stopping") and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def reporter_for(
    env: Mapping[str, str], stdout: TextIO | None = None, stderr: TextIO | None = None
) -> JournalReporter | TerminalReporter | None:
    """The reporter that fits where output goes (``None``: only the final summary)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if is_journal(out, env):
        return JournalReporter(out)
    if err.isatty():
        return TerminalReporter(err, color="NO_COLOR" not in env and env.get("TERM") != "dumb")
    return None
