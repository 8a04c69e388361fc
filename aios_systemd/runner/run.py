"""The run lifecycle of ``aios-run JOB``.

registry check → private directories → job lock (blocked / stale recovery) → ``running``
state → handler in a child process with its own process group → wait until the deadline
or a stop signal → stop the whole tree → final state and log line → unlock.

Stop signals are only noted (:mod:`.stops`) and read at fixed points, so a stop never
leaves a ``running`` state or a holder record behind: before anything is recorded it ends
the attempt (:class:`Stopped`), after ``running`` it ends the run with a final state.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .. import fsio, proc, stops
from .. import state as state_mod
from .._typing import TYPE_CHECKING
from ..context import METRICS_FILE_VAR, PING_URL_PREFIX, Context
from ..errors import AiosError, ExitCode, UsageError
from ..isotime import now_iso
from ..locks import Acquired, Holder, RunLock, boot_id
from ..outcomes import RunState, exit_code_for
from ..record import Record
from ..registry import Job, Registry
from ..runlog import RunLog, invocation_id
from ..runs import new_run_id, trigger_from
from ..stops import StopReason
from .api import DATA_WRITTEN, Handler, HandlerOutcome, HandlerResult, RunContext

if TYPE_CHECKING:
    from ..ping import Pinger

STOP_GRACE_SECONDS = 3.0
MAX_RESULT_BYTES = 1 << 20
MAX_OUTPUT_TAIL = 16 * 1024
PR_SET_PDEATHSIG = 1
# Said in a failed or timed-out run's warnings when its handler had written the generated
# data before it was stopped (the run's freshness then names what was written).
WRITTEN_BEFORE_STOP = "generated data was written before the stop"


Observer = Callable[[str, Mapping[str, object]], None]
"""Called in the runner process for operator-facing events (``start``, ``stale-lock``,
``blocked``, ``tick``, ``stopping``, ``finish``); values are labels and numbers only."""


def _quiet(_event: str, _fields: Mapping[str, object]) -> None:
    return None


class RunOutcome(Record):
    record: state_mod.RunRecord
    exit_code: ExitCode


# What aios-run exits with when a stop ends the run (or the attempt, before it recorded).
STOP_EXIT_CODES = MappingProxyType(
    {
        StopReason.INTERRUPTED: ExitCode.INTERRUPTED,
        StopReason.TERMINATED: ExitCode.TERMINATED,
        StopReason.TIMEOUT: ExitCode.TIMEOUT,
    }
)


class Stopped(AiosError):
    """A stop signal came before the run recorded anything: nothing ran, nothing is recorded."""

    def __init__(self, job_id: str, reason: StopReason) -> None:
        name = "SIGINT" if reason is StopReason.INTERRUPTED else "SIGTERM"
        super().__init__(
            f"stopped by {name} before job {job_id} started; nothing was run or recorded",
            f"rerun when ready: aios-run {job_id}",
            exit_code=STOP_EXIT_CODES[reason],
        )


def _prepare_dirs(ctx: Context) -> None:
    fsio.ensure_private_dir(ctx.scheduler_root, "the scheduler root")
    for sub, label in (
        (ctx.state_dir, "the scheduler state directory"),
        (ctx.locks_dir, "the scheduler locks directory"),
        (ctx.logs_dir, "the scheduler logs directory"),
    ):
        fsio.ensure_private_dir(sub, label)
        fsio.sweep_stale_temps(sub)


class _Monitor:
    """A run's healthcheck pings and metrics file (``AIOS_PING_URL_<JOB>``,
    ``AIOS_METRICS_FILE``).  What goes wrong with them is a warning of the run and never
    changes its state or exit code."""

    __slots__ = ("ended", "metrics", "pinger", "registry", "warnings")

    def __init__(self, registry: Registry, metrics: str | None) -> None:
        self.registry = registry
        self.metrics = metrics
        self.pinger: Pinger | None = None
        self.warnings: list[str] = []
        self.ended = False  # the exit-status ping went out

    def start(self, log: RunLog) -> None:
        if self.pinger is not None:
            self._note(log, "start", self.pinger.start())

    def finish(self, ctx: Context, record: state_mod.RunRecord, log: RunLog) -> tuple[str, ...]:
        """The exit-status ping and the metrics for ``record``, before it is written; the
        warnings to add to it."""
        code = record.exit_code if record.exit_code is not None else int(ExitCode.FAILED)
        if self.pinger is not None:
            from ..ping import summary_line

            self.ended = True
            body = summary_line(record.job, str(record.state), record.duration_ms, code)
            self._note(log, "exit-status", self.pinger.finish(code, body))
        self.write_metrics(ctx, log, record)
        return tuple(self.warnings)

    def abandon(self, exit_code: int, log: RunLog) -> None:
        """The run ends by an error of the runner itself: its start ping still gets an end."""
        if self.pinger is not None and not self.ended:
            self.ended = True
            self._note(log, "exit-status", self.pinger.finish(exit_code, ""))

    def write_metrics(self, ctx: Context, log: RunLog, record: state_mod.RunRecord | None = None) -> None:
        if self.metrics is None:
            return
        from ..status import metrics

        problem = metrics.update(ctx, self.registry, self.metrics, latest=record)
        log.event("metrics", written=problem is None)
        if problem is not None:
            self.warnings.append(problem)

    def _note(self, log: RunLog, kind: str, problem: str | None) -> None:
        log.event("ping", kind=kind, rid=self.pinger.rid if self.pinger else None, sent=problem is None)
        if problem is not None:
            self.warnings.append(problem)


def _monitor(ctx: Context, job: Job, registry: Registry) -> _Monitor | None:
    """The run's monitoring when ``.env.local`` or the environment configures any; the
    settings table, the HTTP client and the Prometheus client load only then."""
    from .. import envfile

    env_local = envfile.load(ctx.env_local_path)
    if not any(n.startswith(PING_URL_PREFIX) or n == METRICS_FILE_VAR for n in (*ctx.env, *env_local)):
        return None
    from .. import settings

    metrics = (settings.value(settings.METRICS_FILE, ctx.env, env_local) or "").strip() or None
    name, url = settings.ping_url(job.id, ctx.env, env_local)
    monitor = _Monitor(registry, metrics)
    if url:
        from .. import ping

        try:
            monitor.pinger = ping.Pinger(name, ping.check_url(name, url))
        except ping.PingUrlError as exc:
            monitor.warnings.append(str(exc))
    return monitor if monitor.metrics or url else None


def resolve(registry: Registry, handlers: Mapping[str, Handler], job_id: str) -> tuple[Job, Handler]:
    """The job and its handler, or a usage error (exit 2) before anything runs."""
    job = registry.get(job_id)
    if not job.available:
        raise UsageError(
            f"job {job.id} is unavailable in this release and cannot run",
            "run one of the available jobs; see aios-status",
        )
    handler = handlers.get(str(job.handler))
    if handler is None:
        raise UsageError(
            f"job {job.id} has no handler installed in this build",
            "this build cannot run it; upgrade aios-systemd or run another job",
        )
    return job, handler


def _child(
    rc: RunContext, handler: Handler, write_fd: int, output_fd: int, parent: int, unblocked: set[int | signal.Signals]
) -> None:
    """Body of the forked handler process; never returns."""
    code = 0
    try:
        # The stop signals are blocked (see _supervise): default actions first, then let
        # any that came since the fork kill this process.
        stops.default_actions()
        stops.unblock(unblocked)
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            # The runner died before the parent-death signal was armed: a handler left
            # running now would hold the job lock (its fd came with the fork) with no one
            # to stop it.
            os._exit(70)
        os.setpgid(0, 0)
        # Handlers must not print; whatever they or their libraries print goes to the
        # private log through the runner, never to the operator's terminal or journal.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(null)
        os.close(output_fd)
        try:
            result = handler(rc)
            if not isinstance(result, HandlerResult):
                raise TypeError("handler returned something other than a HandlerResult")
            payload = {
                "outcome": str(result.outcome),
                "warnings": list(result.warnings),
                "freshness": dict(result.freshness),
                "reason": result.reason,
            }
        except AiosError as exc:
            rc.log.event("handler-error", error=type(exc).__name__, message=exc.message)
            payload = {
                "outcome": "failed",
                "warnings": [exc.message],
                "freshness": {},
                "reason": getattr(exc, "reason", None) or "handler-error",
            }
        except Exception as exc:  # noqa: BLE001 - any handler crash is a failed run, not a runner crash
            import traceback  # only a crash pays for it

            rc.log.event("handler-crash", error=type(exc).__name__, traceback=traceback.format_exc())
            payload = {
                "outcome": "failed",
                "warnings": [f"handler crashed ({type(exc).__name__})"],
                "freshness": {},
                "reason": "handler-crash",
            }
        data = json.dumps(payload).encode()[:MAX_RESULT_BYTES]
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    except BaseException:  # noqa: BLE001 - the child must never fall back into the runner's code
        code = 70
    finally:
        os._exit(code)


def _parse_result(raw: bytes) -> tuple[HandlerResult, dict[str, str]]:
    """The handler's result (its last line) and the freshness of the data it said it wrote
    (its notes, one line each, sent as it went)."""
    written: dict[str, str] = {}
    lines = raw.split(b"\n")
    for line in lines[:-1]:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            note = json.loads(line)
            if note.get("note") == DATA_WRITTEN:
                written.update({str(k): str(v) for k, v in note["freshness"].items()})
    return _result(lines[-1]), written


def _result(raw: bytes) -> HandlerResult:
    try:
        doc = json.loads(raw)
        return HandlerResult(
            outcome=HandlerOutcome(doc["outcome"]),
            warnings=tuple(str(w) for w in doc.get("warnings") or ()),
            freshness=MappingProxyType({str(k): str(v) for k, v in (doc.get("freshness") or {}).items()}),
            reason=str(doc["reason"]) if doc.get("reason") else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return HandlerResult(HandlerOutcome.FAILED, ("handler exited without a result",), reason="no-result")


def _final_state(result: HandlerResult, recovered: bool) -> RunState:
    outcome = result.outcome
    if outcome is HandlerOutcome.SUCCESS and result.warnings:
        outcome = HandlerOutcome.WARNING_ONLY
    if recovered and outcome is not HandlerOutcome.FAILED:
        return RunState.STALE_LOCK
    return RunState(str(outcome))


def _previous_summary(previous: state_mod.StateRead) -> Mapping[str, object] | None:
    record = previous.record
    if record is None:
        return None
    if record.state is RunState.RUNNING:
        return record.previous  # a run that died: keep what it had kept
    return state_mod.summary(record)


def run_job(
    ctx: Context,
    job_id: str,
    *,
    registry: Registry,
    handlers: Mapping[str, Handler],
    grace: float = STOP_GRACE_SECONDS,
    observe: Observer = _quiet,
) -> RunOutcome:
    """Run one job to completion and return its final record and exit code.  Raises
    :class:`Stopped` when a stop signal came before the run recorded anything."""
    job, handler = resolve(registry, handlers, job_id)
    replaced = stops.install()  # aios-run's entry point noted them already: then None
    try:
        run = _begin(ctx, job, registry, observe)
        lock = RunLock(ctx.lock_path(job.id), "the job lock")
        got = lock.try_acquire()
        if not got.acquired:
            return _blocked(run, got)
        try:
            _stop_before_start(job, run.rc.log)  # the lock is ours, nothing recorded yet: release it and stop
            running, recovered = _record_running(run, got, lock)
            try:
                ended = _supervise(run, handler, grace)
                return _finish(run, running, _decide(run, ended, recovered))
            except Exception as exc:
                if run.monitor is not None:  # the runner's own error: its start ping still gets an end
                    code = exc.exit_code if isinstance(exc, AiosError) else ExitCode.FAILED
                    run.monitor.abandon(int(code), run.rc.log)
                raise
        finally:
            lock.release()
    finally:
        stops.restore(replaced)


class _Run(Record):
    """One attempt at a run, as the runner's steps share it."""

    rc: RunContext  # what the handler gets: the job, run id, trigger, context, deadline, log
    started_at: str
    t0: float  # time.monotonic() when it started; the deadline counts from here
    observe: Observer
    monitor: _Monitor | None


def _begin(ctx: Context, job: Job, registry: Registry, observe: Observer) -> _Run:
    """The run's private directories, id, trigger, log and monitoring, nothing recorded yet;
    :class:`Stopped` when a stop came already."""
    _prepare_dirs(ctx)
    run_id = new_run_id()
    trigger = trigger_from(ctx.env)
    invocation = invocation_id(ctx.env) if trigger == "systemd" else None
    log = RunLog(ctx.log_path(job.id), run_id, job.id, ctx.privacy, invocation)
    started_at = now_iso()
    t0 = time.monotonic()
    _stop_before_start(job, log)
    rc = RunContext(job, run_id, trigger, ctx, registry, t0 + job.timeout_seconds, log)
    return _Run(rc, started_at, t0, observe, _monitor(ctx, job, registry))


def _stop_before_start(job: Job, log: RunLog) -> None:
    reason = stops.received()
    if reason is not None:
        log.event("stopped-before-start", reason=reason)
        raise Stopped(job.id, reason)


def _blocked(run: _Run, got: Acquired) -> RunOutcome:
    """A live run holds the job lock: this attempt is recorded beside that run's state."""
    rc = run.rc
    record = state_mod.RunRecord(
        job=rc.job.id,
        run_id=rc.run_id,
        state=RunState.BLOCKED,
        trigger=rc.trigger,
        lock_outcome=state_mod.LockOutcome.HELD,
        started_at=run.started_at,
        finished_at=now_iso(),
        duration_ms=int((time.monotonic() - run.t0) * 1000),
        exit_code=int(ExitCode.BLOCKED),
        reason="job-lock-held",
        blocked_by=got.holder.run_id if got.holder else None,
        project=rc.ctx.project_key,
    )
    rc.log.event("blocked", blockedBy=record.blocked_by)
    if run.monitor is not None:
        # No ping: the live run's own pings report the check (this attempt ran nothing).
        run.monitor.write_metrics(rc.ctx, rc.log)
        record = record._replace(warnings=tuple(run.monitor.warnings), warning_count=len(run.monitor.warnings))
    # Beside the live run's state, never over it: that run may be writing its final
    # record right now, and it must not be lost to this attempt.
    state_mod.write_blocked(rc.ctx, record)
    run.observe("blocked", {"job": rc.job.id, "runId": rc.run_id, "blockedBy": record.blocked_by or "unknown"})
    return RunOutcome(record, ExitCode.BLOCKED)


def _record_running(run: _Run, got: Acquired, lock: RunLock) -> tuple[state_mod.RunRecord, bool]:
    """Recover a dead run's lock, record the holder and the ``running`` state; from here on
    a stop ends the run with a final state.  Returns that state and whether it recovered."""
    rc, job = run.rc, run.rc.job
    previous = state_mod.read(rc.ctx, job.id)
    recovered = got.stale is not None or previous.state is RunState.RUNNING
    lock_outcome = state_mod.LockOutcome.RECOVERED_STALE if recovered else state_mod.LockOutcome.ACQUIRED
    if recovered:
        run.observe("stale-lock", {"job": job.id})
        rc.log.event(
            "stale-lock-recovered",
            previousRunId=got.stale.run_id if got.stale else (previous.record.run_id if previous.record else None),
        )
    holder = Holder(os.getpid(), rc.run_id, run.started_at, boot_id())
    lock.record_holder(holder)
    running = state_mod.RunRecord(
        job=job.id,
        run_id=rc.run_id,
        state=RunState.RUNNING,
        trigger=rc.trigger,
        lock_outcome=lock_outcome,
        started_at=run.started_at,
        pid=os.getpid(),
        boot_id=holder.boot_id,
        previous=_previous_summary(previous),
        last_success_at=state_mod.last_success(previous.record) if previous.record else None,
        project=rc.ctx.project_key,
    )
    state_mod.write(rc.ctx, running)
    rc.log.event("start", trigger=rc.trigger, lockOutcome=lock_outcome, timeoutSeconds=job.timeout_seconds)
    run.observe(
        "start",
        {
            "job": job.id,
            "runId": rc.run_id,
            "trigger": rc.trigger,
            "lockOutcome": lock_outcome,
            "timeoutSeconds": job.timeout_seconds,
        },
    )
    if run.monitor is not None:
        run.monitor.start(rc.log)
    return running, recovered


class _Ended(Record):
    """How the handler's process ended: its result, why it was stopped (if it was) and the
    freshness of the generated data it said it wrote."""

    result: HandlerResult
    stop: StopReason | None
    written: Mapping[str, str]


class _Decided(Record):
    """The run's outcome, decided once: a stop that comes after this does not change it."""

    state: RunState
    exit_code: ExitCode
    result: HandlerResult


def _decide(run: _Run, ended: _Ended, recovered: bool) -> _Decided:
    rc = run.rc
    stop = ended.stop or stops.received()
    result = ended.result
    # A refused .env.local (every job reads it for settings and secrets) or a planted
    # log must not go unnoticed, whatever the handler made of it (a stopped run says
    # why it stopped instead).
    noticed = tuple(w for w in (rc.ctx.env_local_warning(), rc.log.refused) if w is not None)
    if noticed:
        result = result._replace(warnings=(*result.warnings, *noticed))
    if stop is StopReason.TIMEOUT:
        state = RunState.TIMEOUT
        result = HandlerResult(
            HandlerOutcome.FAILED, (f"run exceeded the {rc.job.timeout_seconds}s job timeout",), reason=stop
        )
    elif stop is not None:
        state = RunState.FAILED
        result = HandlerResult(HandlerOutcome.FAILED, (f"run was stopped by a signal ({stop})",), reason=stop)
    else:
        state = _final_state(result, recovered)
    if ended.written and stop is not None:
        # Stopped, but the data it had written stays: say so, and how fresh it is.
        rc.log.event("written-before-stop", freshness=ended.written)
        result = result._replace(
            warnings=(*result.warnings, WRITTEN_BEFORE_STOP), freshness={**ended.written, **result.freshness}
        )
    return _Decided(state, STOP_EXIT_CODES[stop] if stop is not None else exit_code_for(state), result)


def _finish(run: _Run, running: state_mod.RunRecord, decided: _Decided) -> RunOutcome:
    """The final record: pings and metrics, the state, the log line; what the caller shows."""
    rc, result, code = run.rc, decided.result, decided.exit_code
    record = running._replace(
        state=decided.state,
        finished_at=now_iso(),
        duration_ms=int((time.monotonic() - run.t0) * 1000),
        exit_code=int(code),
        handler_outcome=str(result.outcome),
        reason=result.reason,
        warnings=result.warnings,
        warning_count=len(result.warnings),
        freshness=result.freshness,
        pid=None,
        boot_id=None,
        previous=None,
    )
    record = record._replace(last_success_at=state_mod.last_success(record))
    if run.monitor is not None:
        # Sent before the state is written, so that what went wrong with them is in it.
        extra = run.monitor.finish(rc.ctx, record, rc.log)
        if extra:
            warnings = (*record.warnings, *extra)
            record = record._replace(warnings=warnings, warning_count=len(warnings))
    state_mod.write(rc.ctx, record)
    rc.log.event(
        "finish",
        state=str(decided.state),
        exitCode=int(code),
        durationMs=record.duration_ms,
        warningCount=record.warning_count,
        warnings=record.warnings,
        reason=record.reason,
    )
    clean = state_mod.sanitize(record, rc.ctx.privacy)
    run.observe(
        "finish",
        {
            "job": rc.job.id,
            "runId": rc.run_id,
            "state": str(decided.state),
            "exitCode": int(code),
            "durationMs": clean.duration_ms or 0,
            "warnings": clean.warnings,
            "reason": clean.reason or "",
        },
    )
    return RunOutcome(clean, code)


class _Channels:
    """The pipes between the runner and its handler's process: the result (and the notes
    sent before it), the handler's output (its tail is kept for the log), and the wake-up
    a stop signal writes to end the wait at once."""

    __slots__ = ("chunks", "open", "output", "output_write", "result", "result_write", "tail", "wake", "wake_write")

    def __init__(self) -> None:
        self.result, self.result_write = os.pipe()
        self.output, self.output_write = os.pipe()
        self.wake, self.wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.chunks: list[bytes] = []
        self.tail = bytearray()
        self.open = [self.result, self.output]

    def read(self, fd: int) -> None:
        chunk = os.read(fd, 65536)
        if not chunk:
            self.open.remove(fd)
        elif fd == self.result:
            self.chunks.append(chunk)
        else:
            self.tail += chunk
            del self.tail[:-MAX_OUTPUT_TAIL]

    def close_write_ends(self) -> None:
        """In the runner once the handler has them: its exit then ends the pipes."""
        os.close(self.result_write)
        os.close(self.output_write)
        self.result_write = self.output_write = -1  # never closed twice: the number may be reused

    def close(self) -> None:
        for fd in (self.result, self.result_write, self.output, self.output_write, self.wake, self.wake_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _supervise(run: _Run, handler: Handler, grace: float) -> _Ended:
    """Fork the handler and wait for it until it is done, the deadline or a stop; then stop
    whatever it left running."""
    early = stops.received()
    if early is not None:  # stopped between the running state and here: nothing to start
        return _Ended(HandlerResult(HandlerOutcome.FAILED, reason=early), early, {})
    proc.set_child_subreaper()
    # Children we already had (a test harness's, say) are not part of this run's tree.
    foreign = frozenset(proc.children_of(os.getpid()))
    channels = _Channels()
    woken = _wake_on_signal(channels.wake_write)
    try:
        pid = _fork(run.rc._replace(notes_fd=channels.result_write), handler, channels)
        stop = _wait(run, channels)
        log = run.rc.log
        if channels.tail:
            log.event("handler-output", tail=channels.tail.decode("utf-8", "replace"))
        if stop is not None:
            log.event("stopping", reason=stop)
            run.observe("stopping", {"reason": stop})
        # Whatever happened, nothing the handler started outlives the run.
        killed = proc.terminate_tree(os.getpid(), grace if stop else 0.5, skip=foreign)
        if killed:
            log.event("killed-leftovers", count=killed)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if channels.result in channels.open:
            channels.chunks.append(_drain(channels.result))  # what it said before it was stopped (a data write)
        result, written = _parse_result(b"".join(channels.chunks))
        return _Ended(result, stop, written)
    finally:
        _wake_on_signal(woken)
        channels.close()


def _fork(rc: RunContext, handler: Handler, channels: _Channels) -> int:
    """The handler's process, started with the stop signals held back (see _child)."""
    parent = os.getpid()
    mask = stops.block()
    try:
        pid = os.fork()
        if pid == 0:
            for fd in (channels.result, channels.output, channels.wake, channels.wake_write):
                os.close(fd)
            _child(rc, handler, channels.result_write, channels.output_write, parent, mask)
    finally:
        stops.unblock(mask)  # in the runner: a stop that came meanwhile is noted now
    channels.close_write_ends()
    return pid


def _wait(run: _Run, channels: _Channels) -> StopReason | None:
    """Until the handler closes its result pipe, the deadline passes or a stop comes."""
    while True:
        stop = stops.received()
        if stop is not None:
            return stop
        left = run.rc.deadline - time.monotonic()
        if left <= 0:
            return StopReason.TIMEOUT
        run.observe("tick", {"elapsedSeconds": time.monotonic() - run.t0})
        ready, _, _ = select.select([*channels.open, channels.wake], [], [], min(left, 0.5))
        for fd in ready:
            if fd == channels.wake:
                _drain(channels.wake)  # a signal woke us: the loop reads the note
            else:
                channels.read(fd)
        if channels.result not in channels.open:
            # Done.  systemd signals the whole unit at once: the handler can die of that
            # SIGTERM and close its pipe before the loop sees ours; the run was stopped.
            return stops.received()


def _wake_on_signal(fd: int) -> int:
    """Make a signal wake the wait loop's ``select`` through ``fd`` (``-1``: stop); returns
    the previous wake-up descriptor.  Only the main thread can: elsewhere the loop notices a
    stop within its half-second poll."""
    try:
        return signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except ValueError:
        return -1


def _drain(fd: int) -> bytes:
    """What ``fd`` holds now, without waiting (the writers are gone or do not matter)."""
    data = bytearray()
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
        del data[:-MAX_RESULT_BYTES]
    return bytes(data)
