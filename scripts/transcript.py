"""Print the README's ``aios-units`` session: real commands on a real private user manager.

    .venv/bin/python scripts/transcript.py > /tmp/session.md

Each command runs as the installed console script against a private ``systemd --user``
(started as the tests start one: its own cgroup, a small environment); its output is shown
as printed, with the machine's private paths replaced by the README's placeholders.
Needs root (a private mount namespace for the manager), as the tests do.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.safe_dirs import safe_directory  # noqa: E402
from tests.support.user_manager import UnitsSandbox, private_manager  # noqa: E402

BIN = Path(sys.executable).parent
JOB = "agent-aggregate"
SERVICE, TIMER = f"ai-os-{JOB}.service", f"ai-os-{JOB}.timer"


def main() -> int:
    with private_manager() as pm, safe_directory("transcript-") as base:
        project = base / "ai-os"
        project.mkdir(mode=0o700)
        sb = UnitsSandbox(pm, project, base / "state")
        places = {
            str(BIN): "/home/you/src/aios-systemd/.venv/bin",
            str(project): "/home/you/src/ai-os",
            str(base / "state"): "/home/you/.local/state/ai-os/scheduler",
            str(pm.unit_dir): "/home/you/.config/systemd/user",
        }

        def show(*argv: str, env: dict[str, str] | None = None) -> None:
            done = subprocess.run(
                [str(BIN / argv[0]), *argv[1:]],
                env=env or sb.env,
                cwd=project,
                capture_output=True,
                text=True,
                timeout=300,
            )
            text = done.stdout + done.stderr
            for real, shown in sorted(places.items(), key=lambda p: -len(p[0])):
                text = text.replace(real, shown)
            print(f"$ {shlex.join(argv)}\n{text.rstrip()}\n[exit {done.returncode}]\n")

        def note(text: str) -> None:
            print(f"# {text}\n")

        def reload() -> None:
            with pm.connect() as mgr:
                mgr.reload()

        show("aios-units", "render", "--dry-run", JOB)
        show("aios-units", "install", JOB)
        show("aios-units", "install", JOB)
        show("aios-units", "diff", JOB)

        note("a distribution drop-in for every user service (Fedora's), then one that replaces ExecStart")
        fedora = pm.unit_dir / "service.d" / "10-timeout-abort.conf"
        fedora.parent.mkdir()
        fedora.write_text("[Service]\nTimeoutStopFailureMode=abort\n")
        reload()
        show("aios-units", "diff", JOB)
        override = pm.unit_dir / f"{SERVICE}.d" / "override.conf"
        override.parent.mkdir()
        override.write_text("[Service]\nExecStart=\nExecStart=/usr/bin/env my-wrapper\n")
        reload()
        show("aios-units", "diff", JOB)
        show("aios-units", "install", JOB, "--force")
        override.unlink()
        override.parent.rmdir()
        reload()

        note("the checkout moves away; the next trigger fails before aios-run starts")
        moved = project.with_name("ai-os-moved")
        project.rename(moved)
        with pm.connect() as mgr:
            mgr.wait_job(mgr.start(SERVICE), timeout=120)
        moved.rename(project)
        show("aios-status", "--job", JOB)
        note("the manager's environment differs from this shell's")
        (project / ".env.local").write_text("AI_OS_DREAM_ENABLED=true\n")
        shell = {**sb.env, "AI_OS_DREAM_ENABLED": "false", "TZ": "Europe/Berlin"}
        show("aios-units", "doctor", env=shell)

        note("a cadence change whose enable step fails: rolled back, then a rerun converges")
        sb.write_config({JOB: {"cadence": "hourly"}})
        with pm.connect() as mgr:
            mgr.reset_failed(SERVICE)
            mgr.wait_job(mgr.stop(TIMER))
            mgr.disable([TIMER])
        wants = pm.unit_dir / "timers.target.wants"
        if wants.is_dir():
            wants.rmdir()
        wants.write_text("")
        show("aios-units", "install", JOB)
        wants.unlink()
        show("aios-units", "install", JOB)
        show("aios-units", "uninstall", JOB)
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("transcript.py: needs root for the private user manager's mount namespace", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
