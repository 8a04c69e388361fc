"""Metrics for node_exporter's textfile collector: every job's latest run, the timers and
the generated data's freshness, in the Prometheus text format.

:func:`exposition` builds the text (``aios-status --metrics`` prints it); :func:`update`
writes it to ``AIOS_METRICS_FILE``, which every ``aios-run`` does at the end of a run.
The text holds job ids, state labels, data branch names and numbers: never a warning,
a reason, a path or a setting's value.  Series follow the Prometheus conventions:
seconds, Unix timestamps, and ``aios_job`` for the job (``job`` is the scrape target's).

Imported only when metrics are asked for: the Prometheus client is no part of the start
of ``aios-run`` or ``aios-status``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from .. import fsio, state
from .._typing import TYPE_CHECKING
from ..errors import AiosError, UnsafePathError
from ..outcomes import RunState
from ..perms import OTHERS, writable_by_others

if TYPE_CHECKING:
    from ..context import Context
    from ..registry import Registry

FILE_MODE = 0o644  # node_exporter runs as its own user: it must be able to read the file
SUFFIX = ".prom"  # the only files the textfile collector reads
# Every state label a latest run can have (``running`` is no outcome: a run in flight
# shows the run before it).
STATE_LABELS = tuple(s for s in RunState if s is not RunState.RUNNING)
_BRANCH = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class MetricsFileError(UnsafePathError):
    """``AIOS_METRICS_FILE`` names a place the metrics may not be written."""


def _epoch(iso: object) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None


class _LastRun:
    """The latest finished run of a job as the metrics show it."""

    def __init__(self, read: state.StateRead) -> None:
        record = read.record
        self.state = read.state
        self.finished_at: str | None = None
        self.duration_ms: int | None = None
        self.exit_code: int | None = None
        self.last_success_at = state.last_success(record) if record is not None else None
        if record is None:
            return
        if read.state is RunState.RUNNING:
            # A run in flight: the latest finished one is the summary its record keeps.
            previous = record.previous or {}
            label = previous.get("state")
            self.state = RunState(str(label)) if label else RunState.FIRST_RUN
            finished, code = previous.get("finishedAt"), previous.get("exitCode")
            self.finished_at = finished if isinstance(finished, str) else None
            self.exit_code = code if isinstance(code, int) else None
            return
        self.finished_at = record.finished_at
        self.duration_ms = record.duration_ms
        self.exit_code = record.exit_code


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ("aios_job",)) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _families(
    runs: Mapping[str, _LastRun], next_elapse: Mapping[str, str], branches: Mapping[str, str]
) -> Iterator[Metric]:
    finished = _gauge("aios_job_last_run_timestamp_seconds", "When the job's latest run finished (Unix time).")
    success = _gauge(
        "aios_job_last_success_timestamp_seconds", "When the job's latest run that exited 0 finished (Unix time)."
    )
    duration = _gauge("aios_job_last_run_duration_seconds", "How long the job's latest run took.")
    code = _gauge("aios_job_last_run_exit_code", "The exit code of the job's latest run (aios-run's exit codes).")
    states = _gauge(
        "aios_job_last_run_state",
        "The state label of the job's latest run: 1 for its state, 0 for the others.",
        ("aios_job", "state"),
    )
    for job_id, run in runs.items():
        for family, value in (
            (finished, _epoch(run.finished_at)),
            (success, _epoch(run.last_success_at)),
            (duration, run.duration_ms / 1000 if run.duration_ms is not None else None),
            (code, run.exit_code),
        ):
            if value is not None:
                family.add_metric([job_id], value)
        for label in STATE_LABELS:
            states.add_metric([job_id, str(label)], 1 if label is run.state else 0)
    timers = _gauge(
        "aios_timer_next_elapse_timestamp_seconds", "When the job's timer elapses next, as the user manager says."
    )
    for job_id, iso in next_elapse.items():
        when = _epoch(iso)
        if when is not None:
            timers.add_metric([job_id], when)
    data = _gauge(
        "aios_data_generated_timestamp_seconds",
        "When each branch of the generated data was generated (Unix time).",
        ("branch",),
    )
    for branch, iso in branches.items():
        when = _epoch(iso)
        if when is not None:
            data.add_metric([branch], when)
    # A family with no series is left out: nothing is known about it.
    yield from (f for f in (finished, success, duration, code, states, timers, data) if f.samples)


class _Collector:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(
    ctx: Context,
    registry: Registry,
    *,
    latest: state.RunRecord | None = None,
    with_timers: bool = True,
) -> str:
    """The metrics of every job in ``registry``, in the Prometheus text format.

    Runs come from each job's latest-run state (``latest`` stands in for its job's state,
    for a run that has not written it yet), data freshness from the project's generated
    data file, and timers from the user manager when it answers (``with_timers``)."""
    from .. import config
    from ..data import freshness
    from ..data.collectors.scheduler import timer_facts

    runs: dict[str, _LastRun] = {}
    for job in registry:
        if not job.available:
            continue  # it cannot run: nothing to watch
        if latest is not None and latest.job == job.id:
            runs[job.id] = _LastRun(state.StateRead(latest.state, latest))
        else:
            runs[job.id] = _LastRun(state.read(ctx, job.id))
    next_elapse: dict[str, str] = {}
    if with_timers:
        facts, _ = timer_facts(ctx, registry, config.load(ctx.config_path, registry, ctx.cache_dir))
        for job_id, view in facts.items():
            when = view.get("nextElapse") if isinstance(view, Mapping) else None
            if isinstance(when, str):
                next_elapse[job_id] = when
    branches = {
        name: iso
        for name, iso in freshness.read(ctx.live_data_path).branches.items()
        # An artifact edited by hand could name a branch anything: only names that are
        # plainly names, and private to no one, become a label.
        if _BRANCH.fullmatch(name) and not any(ctx.privacy.text_rules(name))
    }
    collected = CollectorRegistry(auto_describe=False)
    collected.register(_Collector(list(_families(runs, next_elapse, branches))))
    return generate_latest(collected).decode("utf-8")


def check_target(raw: str) -> Path:
    """The metrics file ``raw`` names, or :class:`MetricsFileError` saying what is wrong
    with it and how to fix it (never the path itself)."""
    if not raw.startswith("/"):
        raise MetricsFileError(
            "AIOS_METRICS_FILE is not an absolute path", "set it to an absolute path, in a directory you own"
        )
    path = Path(os.path.normpath(raw))
    if not path.name.endswith(SUFFIX) or path.name == SUFFIX:
        raise MetricsFileError(
            f"AIOS_METRICS_FILE does not name a {SUFFIX} file",
            f"node_exporter's textfile collector reads only *{SUFFIX} files: name it, say, aios{SUFFIX}",
        )
    where = "the directory of AIOS_METRICS_FILE"
    try:
        st = os.lstat(path.parent)
    except FileNotFoundError:
        raise MetricsFileError(f"{where} does not exist", "create it (mkdir), or point the setting elsewhere") from None
    except OSError as exc:
        raise MetricsFileError(
            f"{where} cannot be inspected ({exc.strerror or 'I/O error'})", "check the permissions on the way to it"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise MetricsFileError(f"{where} is not a directory (or is a symlink)", "name the file in a real directory")
    if st.st_uid != os.getuid():
        raise MetricsFileError(f"{where} is not yours", "use a directory you own (node_exporter only reads it)")
    if writable_by_others(st, str(path.parent)):
        raise MetricsFileError(
            f"{where} is writable by {OTHERS}", "remove those write bits (chmod go-w), or use another directory"
        )
    return path


def write(raw: str, text: str) -> None:
    """Replace the metrics file ``raw`` names with ``text``, atomically (a temporary file in
    the same directory, then a rename: the collector never reads a torn file)."""
    path = check_target(raw)
    fsio.sweep_stale_temps(path.parent, path.name)  # a killed run's temporary copy
    fsio.atomic_write(path, text.encode("utf-8"), "the metrics file", FILE_MODE)


def update(ctx: Context, registry: Registry, raw: str, *, latest: state.RunRecord | None = None) -> str | None:
    """Rewrite the metrics file; a warning when it was not written (never raises for that:
    metrics must not change a run's outcome)."""
    try:
        write(raw, exposition(ctx, registry, latest=latest))
    except AiosError as exc:
        return f"metrics file not written: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")
    except Exception as exc:  # noqa: BLE001 - a metrics bug must not fail the run it reports
        return f"metrics file not written (internal error {type(exc).__name__})"
    return None
