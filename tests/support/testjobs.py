"""A registry of test jobs that run real processes, and ``python -m`` access to the real
``aios-run`` code path with it (the runner tests start this as a subprocess)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from aios_systemd.cli import common
from aios_systemd.cli.run import execute
from aios_systemd.context import Context
from aios_systemd.registry import (
    CADENCES,
    Job,
    Lifecycle,
    NetworkPolicy,
    Registry,
    ScopeKind,
    WriteScope,
)
from aios_systemd.runner.api import Handler, HandlerOutcome, HandlerResult, RunContext


def _job(job_id: str, timeout: int = 30, lifecycle: Lifecycle = Lifecycle.AVAILABLE) -> Job:
    return Job(
        id=job_id,
        title=f"Test job {job_id}",
        lifecycle=lifecycle,
        handler=job_id,
        write_scope=WriteScope(ScopeKind.NONE),
        default_cadence="hourly",
        cadences=("hourly",),
        enabled_by_default=False,
        timeout_seconds=timeout,
        network=NetworkPolicy.LOCAL_ONLY,
    )


TEST_REGISTRY = Registry.build(
    (
        _job("ok"),
        _job("warn"),
        _job("degraded"),
        _job("skip"),
        _job("fail"),
        _job("crash"),
        _job("slow"),
        _job("hang", timeout=2),
        _job("tree", timeout=2),
        _job("leak"),
        _job("command-fails"),
        _job("pidfile"),
        _job("write-then-wait"),
        _job("retired", lifecycle=Lifecycle.UNAVAILABLE),
        _job("no-handler"),
    ),
    CADENCES,
)


def ok(rc: RunContext) -> HandlerResult:
    rc.run_command(["true"])
    return HandlerResult(HandlerOutcome.SUCCESS, freshness={"hostLocal": "2026-11-26T05:00:00Z"})


def warn(rc: RunContext) -> HandlerResult:
    return HandlerResult(HandlerOutcome.SUCCESS, warnings=("source A answered slowly",))


def degraded(rc: RunContext) -> HandlerResult:
    return HandlerResult(HandlerOutcome.DEGRADED, warnings=("source B unavailable",))


def skip(rc: RunContext) -> HandlerResult:
    return HandlerResult(HandlerOutcome.SKIPPED, reason="extension-disabled")


def fail(rc: RunContext) -> HandlerResult:
    return HandlerResult(HandlerOutcome.FAILED, warnings=("collector failed",), reason="collector-failed")


def crash(rc: RunContext) -> HandlerResult:
    raise RuntimeError("boom")


def slow(rc: RunContext) -> HandlerResult:
    # Long enough for a second run to find the lock held; AIOS_TEST_SLOW tunes it.
    time.sleep(float(os.environ.get("AIOS_TEST_SLOW", "3")))
    return HandlerResult(HandlerOutcome.SUCCESS)


def hang(rc: RunContext) -> HandlerResult:
    rc.run_command(["sleep", "600"], timeout=600)
    return HandlerResult(HandlerOutcome.SUCCESS)


def _pidfile() -> str:
    return os.environ["AIOS_TEST_PIDFILE"]


def tree(rc: RunContext) -> HandlerResult:
    """Children and grandchildren, one ignoring SIGTERM and one in a new session; their
    pids go to $AIOS_TEST_PIDFILE so the test can prove none survives."""
    script = (
        "trap '' TERM; sleep 600 & echo $! >> \"$PIDFILE\"; "
        'setsid sh -c \'trap "" TERM; sleep 600 & echo $! >> "$PIDFILE"; wait\' & echo $! >> "$PIDFILE"; '
        'echo $$ >> "$PIDFILE"; wait'
    )
    import subprocess

    child = subprocess.Popen(["sh", "-c", script], env={"PIDFILE": _pidfile(), "PATH": "/usr/bin:/bin"})
    with open(_pidfile(), "a") as fh:
        fh.write(f"{child.pid}\n{os.getpid()}\n")
    time.sleep(600)
    return HandlerResult(HandlerOutcome.SUCCESS)


def pidfile(rc: RunContext) -> HandlerResult:
    """Writes its pid and then waits, so a test can SIGKILL the runner mid-run."""
    with open(_pidfile(), "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(600)
    return HandlerResult(HandlerOutcome.SUCCESS)


def leak(rc: RunContext) -> HandlerResult:
    """Echoes every private fact it can find, the way a careless handler would."""
    secret = os.environ.get("AIOS_TEST_SECRET_TOKEN", "")
    home = os.environ.get("HOME", "")
    print(f"stdout {secret} {home}")
    rc.run_command(["sh", "-c", f"echo {secret}; echo {home} >&2"], check=False)
    raise RuntimeError(f"failed for operator@example.com at {home}/private/file token={secret}")


def write_then_wait(rc: RunContext) -> HandlerResult:
    """Writes the host-local data as agent-aggregate does, then waits to be stopped."""
    from aios_systemd.data.orchestration import aggregate_host_local

    aggregate_host_local(rc.ctx, rc.registry, lock_timeout=5.0, on_written=rc.data_written)
    time.sleep(600)
    return HandlerResult(HandlerOutcome.SUCCESS)


def command_fails(rc: RunContext) -> HandlerResult:
    rc.run_command(["false"])
    return HandlerResult(HandlerOutcome.SUCCESS)


# What the quick test jobs end as through aios-run: (job, exit code, state label).
OUTCOMES = (
    ("ok", 0, "success"),
    ("warn", 0, "warning-only"),
    ("degraded", 0, "degraded"),
    ("skip", 0, "skipped"),
    ("fail", 1, "failed"),
    ("crash", 1, "failed"),
    ("command-fails", 1, "failed"),
)

TEST_HANDLERS: Mapping[str, Handler] = {
    "ok": ok,
    "warn": warn,
    "degraded": degraded,
    "skip": skip,
    "fail": fail,
    "crash": crash,
    "slow": slow,
    "hang": hang,
    "tree": tree,
    "leak": leak,
    "command-fails": command_fails,
    "pidfile": pidfile,
    "write-then-wait": write_then_wait,
    "retired": ok,
}


def main(argv: list[str]) -> int:
    """``aios-run`` with the test registry: the same dispatch, fast path and exit-code map."""

    def body(*, job: str, project_root: Path | None, json_: bool) -> int:
        ctx = Context.from_environ(project_root=project_root)
        return execute(ctx, job, registry=TEST_REGISTRY, handlers=TEST_HANDLERS, as_json=json_)

    return common.dispatch("aios-run", argv, lambda _command: body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
