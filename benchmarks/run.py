"""Issue 6 benchmarks: every figure side by side with the floor it is judged against.

Each figure is a median over repeated whole-process runs, divided by a reference measured
in the same run (commands take turns, so both see the same machine):

* ``aios-status --json`` (all jobs, our timers installed in a private ``systemd --user``
  manager so the timer facts are filled) against bare ``python -c pass`` (this install's
  interpreter) and ``systemctl --user list-timers --all`` on the same manager;
* ``aios-units diff`` (default jobs, installed) against the same references;
* ``aios-run`` overhead with a no-op handler: the reviewed registry has no such job, so the
  test-job harness (``python -m tests.support.testjobs skip``, the real runner code path)
  runs it, plus the same ``execute()`` call with no argv dispatch at all;
* the call shell completion makes for ``aios-units <Tab>`` (``AIOS_COMPLETE=bash``);
* ``aios-units diff --json`` with 50, 500 and 2,000 timers loaded (a few ours, the rest
  foreign): time and D-Bus calls;
* a scoped generated-data write into 1, 10 and 50 MB artifacts (time and peak RSS above
  the interpreter's own after imports, in a fresh process per run) against a plain
  ``json.load`` + ``json.dump`` of the same file.

    .venv/bin/python benchmarks/run.py                   # full report (several minutes)
    .venv/bin/python benchmarks/run.py --quick           # CI: proves it works (< 1 min)
    .venv/bin/python benchmarks/run.py --json            # machine-readable
    .venv/bin/python benchmarks/run.py --bin /other/venv/bin   # another install's CLIs
    .venv/bin/python benchmarks/run.py --only write --sizes 10,50   # one section (cli, scaling, write)
    .venv/bin/python benchmarks/run.py --only cli --compare /old/venv/bin   # an A/B of the start-up figures

Targets are reported, never asserted: the exit status is 0 unless the script itself
failed.  Must run as a user allowed to ``unshare -m`` (root in the project VM or CI).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.diff_scaling import LIST_TIMERS, Cmd, Sample, Sandbox, sandbox, time_interleaved  # noqa: E402

MB = 1_000_000
BENCH_EXTENSION = "bench-notes"


# -- what is measured -------------------------------------------------------------------
@dataclass(frozen=True)
class Install:
    """The CLIs under test: a bin directory, its interpreter and the source tree behind it."""

    bin_dir: Path
    root: Path
    commit: str
    completion: bool
    testjobs: bool

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


_PROBE = (
    "import importlib.util, json, os, aios_systemd\n"
    "print(json.dumps({'root': os.path.dirname(os.path.dirname(os.path.abspath(aios_systemd.__file__))),\n"
    "  'completion': importlib.util.find_spec('aios_systemd.cli.completion') is not None}))\n"
)


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def describe_commit(root: Path) -> str:
    commit = _git(root, "rev-parse", "--short", "HEAD") or "unknown"
    # The lead edits the tree while benchmarks run: say when the figures are not of a commit.
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "aios_systemd")
    return commit + (" + uncommitted aios_systemd changes" if dirty else "")


def probe_install(bin_dir: Path) -> Install:
    python = bin_dir / "python"
    if not python.exists() or not (bin_dir / "aios-units").exists():
        raise SystemExit(f"{bin_dir} has no python or aios-units: pass an install's bin directory")
    with tempfile.TemporaryDirectory() as cwd:  # not the repo: -c puts the cwd on sys.path
        done = subprocess.run([str(python), "-c", _PROBE], cwd=cwd, capture_output=True, text=True, check=True)
    info = json.loads(done.stdout)
    root = Path(info["root"])
    return Install(
        bin_dir,
        root,
        describe_commit(root),
        bool(info["completion"]),
        (root / "tests" / "support" / "testjobs.py").exists(),
    )


def machine() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # The figures are ratios to references timed alongside, but a busy machine still
        # widens them: say how busy it was.
        "load avg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "benchmark commit": describe_commit(REPO),
    }


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    reference: str
    ref_value: float | None
    target: str = ""
    limit: float | None = None  # the ratio the target allows (inclusive unless strict)
    strict: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.ref_value:
            return None
        return self.value / self.ref_value

    @property
    def result(self) -> str:
        if self.value is None:
            return "n/a"
        if self.limit is None or self.ratio is None:
            return "info"
        ok = self.ratio < self.limit if self.strict else self.ratio <= self.limit
        return "pass" if ok else "MISS"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "result": self.result}


@dataclass(frozen=True)
class Plan:
    quick: bool
    repeat: int
    scaling_repeat: int
    write_repeat: int
    timers: tuple[int, ...]
    sizes_mb: tuple[int, ...]
    target_size_mb: int = 10


def plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(True, args.repeat or 3, args.repeat or 3, 2, (50, 200), (1,))
    timers = tuple(int(n) for n in args.timers.split(","))
    sizes = tuple(int(n) for n in args.sizes.split(","))
    return Plan(False, args.repeat or 21, args.repeat or 11, args.write_repeat, timers, sizes)


# -- CLI figures ---------------------------------------------------------------------------
_DIRECT_RUN = (
    "import sys\n"
    "from aios_systemd.cli.run import execute\n"
    "from aios_systemd.context import Context\n"
    "from tests.support.testjobs import TEST_HANDLERS, TEST_REGISTRY\n"
    "sys.exit(execute(Context.from_environ(), 'skip', registry=TEST_REGISTRY, handlers=TEST_HANDLERS,"
    " as_json=False))\n"
)
RUN_OK = (0,)  # "skipped" is a success exit


def _prime(box: Sandbox, inst: Install, log: _Log) -> None:
    """One real run of the main job, so status reads a latest run and fresh data, as it
    does on a machine in use (it is not timed)."""
    log(f"priming: aios-run agent-aggregate ({inst.commit})")
    prime = subprocess.run(
        [inst.tool("aios-run"), "agent-aggregate"],
        env=box.env,
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if prime.returncode != 0:
        raise RuntimeError(f"aios-run agent-aggregate exited {prime.returncode}: {prime.stderr[-2000:]}")


def _cli_cmds(box: Sandbox, inst: Install, tag: str = "") -> dict[str, Cmd]:
    cmds: dict[str, Cmd] = {
        f"floor{tag}": box.cmd(inst.python, "-c", "pass"),
        f"status{tag}": box.cmd(inst.tool("aios-status"), "--json"),
        f"diff{tag}": box.cmd(inst.tool("aios-units"), "diff", ok=(0, 1)),
    }
    if inst.completion:
        cmds[f"complete{tag}"] = box.cmd(inst.tool("aios-units"), "", extra_env={"AIOS_COMPLETE": "bash"})
    if inst.testjobs:
        # The harness imports tests.support from its source tree: run it from there.
        cmds[f"run{tag}"] = Cmd([inst.python, "-m", "tests.support.testjobs", "skip"], box.env, inst.root, RUN_OK)
        cmds[f"run-direct{tag}"] = Cmd([inst.python, "-c", _DIRECT_RUN], box.env, inst.root, RUN_OK)
    return cmds


COMPARE = "@compare"


def cli_rows(
    box: Sandbox, inst: Install, p: Plan, log: _Log, compare: tuple[Sandbox, Install] | None = None
) -> list[Row]:
    """The start-up figures.  With ``compare``, another install's commands take turns with
    these in the same rounds, each install in its own private manager with its own units
    installed and primed, so both do the same work (an install reading units another one
    rendered would see drift and do more)."""
    _prime(box, inst, log)
    cmds = {"list": box.cmd(*LIST_TIMERS), **_cli_cmds(box, inst)}
    if compare is not None:
        _prime(*compare, log)
        cmds.update(_cli_cmds(*compare, COMPARE))
    log(f"timing {', '.join(cmds)} ({p.repeat} rounds)")
    s = time_interleaved(cmds, p.repeat)
    rows = _cli_table(s, box, inst)
    if compare is not None:
        rows += _compare_rows(s, compare[1])
    return rows


def _cli_table(s: dict[str, Sample], box: Sandbox, inst: Install) -> list[Row]:
    status = json.loads(s["status"].stdout)
    jobs = status.get("jobs", [])
    with_timer = sum(1 for j in jobs if j.get("timer"))
    f_ms, l_ms = s["floor"].median_ms, s["list"].median_ms
    floor_ref, list_ref = "python -c pass", "systemctl --user list-timers --all"

    def opt(name: str) -> float | None:
        return s[name].median_ms if name in s else None

    missing = "" if inst.testjobs else "n/a: this tree has no test-job harness"
    return [
        Row("python -c pass (floor)", f_ms, "ms", "", None),
        Row("systemctl --user list-timers --all", l_ms, "ms", "", None),
        Row(
            f"aios-status --json ({len(jobs)} jobs, {with_timer} with timer facts)",
            s["status"].median_ms,
            "ms",
            floor_ref,
            f_ms,
            "≤6×",
            6.0,
        ),
        Row("aios-status --json", s["status"].median_ms, "ms", list_ref, l_ms),
        Row(
            f"aios-units diff ({len(box.jobs)} default jobs installed)",
            s["diff"].median_ms,
            "ms",
            floor_ref,
            f_ms,
            "≤10×",
            10.0,
        ),
        Row("aios-units diff", s["diff"].median_ms, "ms", list_ref, l_ms),
        Row(
            "aios-run overhead (no-op handler)",
            opt("run"),
            "ms",
            floor_ref,
            f_ms,
            "≤6×",
            6.0,
            note=missing or "python -m tests.support.testjobs skip: the aios-run dispatch and runner, test registry",
        ),
        Row(
            "aios-run overhead (no-op handler, execute() only)",
            opt("run-direct"),
            "ms",
            floor_ref,
            f_ms,
            note=missing or "execute() called directly: the runner without any argv dispatch",
        ),
        Row(
            "completion: aios-units <Tab>",
            opt("complete"),
            "ms",
            floor_ref,
            f_ms,
            "≤3×",
            3.0,
            note="" if inst.completion else "n/a: this tree has no AIOS_COMPLETE completion",
        ),
    ]


def _compare_rows(s: dict[str, Sample], other: Install) -> list[Row]:
    """The compared install's figures, each against its own floor of the same rounds."""
    floor = s[f"floor{COMPARE}"].median_ms
    note = f"{other.root} @ {other.commit}, timed in the same rounds in its own private manager"

    def row(label: str, name: str) -> Row:
        sample = s.get(f"{name}{COMPARE}")
        return Row(f"compared: {label}", sample.median_ms if sample else None, "ms", "python -c pass", floor, note=note)

    return [
        row("aios-status --json", "status"),
        row("aios-units diff", "diff"),
        row("aios-run overhead (no-op handler)", "run"),
        row("completion: aios-units <Tab>", "complete"),
    ]


def scaling_rows(inst: Install, p: Plan, log: _Log) -> list[Row]:
    """One manager per size, all running at once, so every size's diff takes turns with
    the others and the floor in the same rounds: the machine's load then drifts alike for
    all of them (one manager grown between sizes let a busy minute pass for scaling)."""
    with contextlib.ExitStack() as stack:
        boxes = []
        for n in p.timers:
            log(f"starting a manager with {n} timers loaded")
            box = stack.enter_context(sandbox(inst.bin_dir))
            box.grow_to(n)
            boxes.append(box)
        cmds = {f"diff-{b.timers}": b.cmd(inst.tool("aios-units"), "diff", "--json", ok=(0, 1)) for b in boxes}
        cmds["floor"] = boxes[0].cmd(inst.python, "-c", "pass")
        log(
            f"timing aios-units diff --json at {', '.join(str(b.timers) for b in boxes)} timers "
            f"({p.scaling_repeat} rounds)"
        )
        s = time_interleaved(cmds, p.scaling_repeat)
    f_ms = s["floor"].median_ms
    rows: list[Row] = []
    points: list[tuple[int, float, int]] = []
    for box in boxes:
        sample = s[f"diff-{box.timers}"]
        calls = int(json.loads(sample.stdout)["dbusCalls"])
        points.append((box.timers, sample.median_ms, calls))
        rows.append(
            Row(
                f"aios-units diff --json, {box.timers} timers loaded",
                sample.median_ms,
                "ms",
                "python -c pass",
                f_ms,
                note=f"{calls} D-Bus calls",
            )
        )
    (n0, ms0, c0), (n1, ms1, c1) = points[0], points[-1]
    rows.append(Row(f"diff({n1}) / diff({n0})", ms1, "ms", f"diff({n0})", ms0, "<2×", 2.0, strict=True))
    rows.append(
        Row(
            f"D-Bus calls, {n1} vs {n0} timers",
            float(c1),
            "calls",
            f"calls with {n0}",
            float(c0),
            "constant",
            1.0,
            note=" → ".join(str(c) for _, _, c in points),
        )
    )
    return rows


# -- generated-data writes ----------------------------------------------------------------
# Runs in the install's own interpreter, one operation per process.  Imports and the
# write's input (the branch, which the caller holds) come before the baseline, so the
# figures are the write itself; peak RSS is VmHWM after a clear_refs reset (see rss_kb).
# The artifact is written by the writer at setup, so a write finds a file it wrote (the
# steady state); "-cold" runs first forget that, "-input" runs also load the branch.
_WORKER = r"""
import json, os, sys, time
from pathlib import Path

mode, work = sys.argv[1], Path(sys.argv[2])
project = work / "project"
live = project / "src" / "data" / "live-data.json"


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/self/status")


def rss_kb():
    # getrusage's ru_maxrss survives execve on Linux: it would report the forking
    # harness's peak.  VmHWM belongs to this process image; clear_refs 5 resets it to the
    # resident size now, so start-up peaks do not hide a small operation's growth either.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status_kb("VmRSS")


def peak_kb():
    return _status_kb("VmHWM")


if mode == "setup":
    from aios_systemd.data import writer
    size, ext = int(sys.argv[3]), sys.argv[4]
    words = ("amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "harbor", "indigo", "juniper",
             "kepler", "lumen", "maple", "nectar", "orbit", "prism", "quartz", "ridge", "sierra", "tundra")

    def row(i, salt):
        w = [words[(i * k + salt) % len(words)] for k in (1, 3, 7, 11)]
        return {"id": f"row-{i:07d}", "title": f"Signal {i} on {w[0]} {w[1]}", "score": (i * 31 + salt) % 997,
                "rank": i, "tags": [w[2], w[3]], "seenAt": "2026-11-26T05:00:00Z",
                "summary": f"{w[0].title()} and {w[1]} moved together with {w[2]} near {w[3]} in sample {i}."}

    def item(salt):
        # Rows grow with their index: size them from a sample spread over the range.
        guess = max(1, size // 200)
        sample = [row(i, salt) for i in range(0, guess, max(1, guess // 200))]
        one = len(json.dumps(sample, ensure_ascii=False, separators=(",", ":"))) / len(sample)
        base = len(writer.packaged_example_bytes())
        return {"generatedAt": "2026-11-26T05:00:00.000Z", "title": "Benchmark notes",
                "rows": [row(i, salt) for i in range(max(1, int((size - base) / one)))]}

    doc = json.loads(writer.packaged_example_bytes())
    doc["extensions"] = {"items": {ext: item(0)}}
    # Written by the writer itself (a full-scope write), as on a machine in use: the file
    # a scoped write finds is the one the last write left.
    from aios_systemd.context import Context
    from aios_systemd.registry import ScopeKind, WriteScope
    result = writer.write_live_data_for_scope(Context.from_environ(os.environ), WriteScope(ScopeKind.FULL), doc)
    if not result.ok:
        sys.exit(f"setup write refused: {result.outcome} {result.rule}")
    (work / "item.json").write_text(json.dumps(item(1), ensure_ascii=False))
    host = {k: doc[k] for k in ("host", "scheduler", "agents", "dream") if k in doc}
    (work / "host-local.json").write_text(json.dumps(host))
    print(json.dumps({"bytes": live.stat().st_size}))
    sys.exit(0)

if mode in ("plain", "plain-c"):
    base = rss_kb()
    start = time.perf_counter()
    if mode == "plain":
        with live.open() as fh:
            doc = json.load(fh)
        with (work / "plain-out.json").open("w") as fh:
            json.dump(doc, fh)  # json.dump streams through the pure-Python encoder
    else:
        doc = json.loads(live.read_bytes())
        (work / "plain-out.json").write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
else:
    from aios_systemd.context import Context
    from aios_systemd.data import schema, writer  # noqa: F401 - imported before the baseline
    from aios_systemd.registry import ScopeKind, WriteScope
    from aios_systemd import locks  # noqa: F401
    import pydantic  # noqa: F401
    ctx = Context.from_environ(os.environ)
    _ = ctx.privacy
    ext_mode = mode.startswith("write-ext")
    if mode.endswith("-cold"):
        # A file this writer did not write (hand-edited, an older release, another tool):
        # forget the digests it recorded, so the write parses and validates the file
        # (a release without the digest memo always does).
        namespace = getattr(writer, "MEMO_NAMESPACE", None)
        for entry in ctx.cache_dir.glob(f"{namespace}-*.json") if namespace else ():
            entry.unlink()

    def load_branch():
        with (work / ("item.json" if ext_mode else "host-local.json")).open() as fh:
            return json.load(fh)

    # The branch is the caller's: it exists before the write (as the collector's result),
    # so it is loaded before the baseline.  "-input" also counts loading it (~5x its size
    # as objects), as the figures before this change did.
    branch = None if mode.endswith("-input") else load_branch()
    base = rss_kb()
    start = time.perf_counter()
    if branch is None:
        branch = load_branch()
    scope = WriteScope(ScopeKind.EXTENSION_ITEM, sys.argv[3]) if ext_mode else WriteScope(ScopeKind.HOST_LOCAL)
    result = writer.write_live_data_for_scope(ctx, scope, branch)
    if not result.ok:
        sys.exit(f"write refused: {result.outcome} {result.rule}")
elapsed = (time.perf_counter() - start) * 1000
print(json.dumps({"ms": elapsed, "peak_kb": peak_kb() - base}))
"""


@contextlib.contextmanager
def _data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="aios-bench-data-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _worker(inst: Install, work: Path, *args: str) -> dict[str, float]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(Path.home())),
        "LANG": "C.UTF-8",
        "AIOS_PROJECT_ROOT": str(work / "project"),
        "AIOS_SCHEDULER_ROOT": str(work / "sched"),
    }
    done = subprocess.run(
        [inst.python, "-c", _WORKER, args[0], str(work), *args[1:]],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"data worker {args[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def write_rows(inst: Install, p: Plan, log: _Log) -> list[Row]:
    rows: list[Row] = []
    for size_mb in p.sizes_mb:
        # One 50 MB round is over a minute of json work: fewer rounds there.
        repeat = p.write_repeat if size_mb < 50 else min(p.write_repeat, 3)
        with _data_dir() as work:
            log(f"building a {size_mb} MB artifact")
            size = int(_worker(inst, work, "setup", str(size_mb * MB), BENCH_EXTENSION)["bytes"])
            ext = [BENCH_EXTENSION]
            modes = {
                "write-ext": ext,
                "write-host": [],
                "plain": [],
                "plain-c": [],
                "write-ext-input": ext,
                "write-ext-cold": ext,
                "write-host-cold": [],
            }
            got: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
            log(f"timing writes into {size / MB:.1f} MB ({repeat} rounds)")
            for _ in range(repeat):
                for mode, extra in modes.items():
                    got[mode].append(_worker(inst, work, mode, *extra))
        ms = {m: _median([r["ms"] for r in got[m]]) for m in modes}
        mem = {m: _median([r["peak_kb"] for r in got[m]]) * 1024 / MB for m in modes}
        at_target = size_mb == p.target_size_mb
        t_time = ("≤2×", 2.0) if at_target else ("", None)
        t_mem = ("≤3×", 3.0) if at_target else ("", None)
        art = f"{size / MB:.1f} MB artifact"
        plain, fast = "json.load + json.dump", "json.loads + json.dumps"
        input_note = "the branch json.load-ed inside the measured part (its objects are ~5x the file)"
        cold_note = "a file the writer did not write (no digest recorded): parsed and validated whole"
        rows += [
            Row(f"write extension-item ({art}, item is all of it)", ms["write-ext"], "ms", plain, ms["plain"], *t_time),
            Row(f"write host-local ({art}, small branch)", ms["write-host"], "ms", plain, ms["plain"], *t_time),
            Row(
                f"write extension-item ({art})",
                ms["write-ext"],
                "ms",
                fast,
                ms["plain-c"],
                note="json.dumps without indent uses the C encoder; json.dump streams through the Python one",
            ),
            Row(f"peak RSS, write extension-item ({art})", mem["write-ext"], "MB", "artifact size", size / MB, *t_mem),
            Row(f"peak RSS, write host-local ({art})", mem["write-host"], "MB", "artifact size", size / MB, *t_mem),
            Row(f"peak RSS, {plain} ({art})", mem["plain"], "MB", "artifact size", size / MB),
            Row(
                f"peak RSS, write extension-item incl. loading its input ({art})",
                mem["write-ext-input"],
                "MB",
                "artifact size",
                size / MB,
                note=input_note,
            ),
            Row(f"write extension-item, cold ({art})", ms["write-ext-cold"], "ms", plain, ms["plain"], note=cold_note),
            Row(f"write host-local, cold ({art})", ms["write-host-cold"], "ms", plain, ms["plain"], note=cold_note),
            Row(
                f"peak RSS, write extension-item, cold ({art})",
                mem["write-ext-cold"],
                "MB",
                "artifact size",
                size / MB,
                note=cold_note,
            ),
            Row(
                f"peak RSS, write host-local, cold ({art})",
                mem["write-host-cold"],
                "MB",
                "artifact size",
                size / MB,
                note=cold_note,
            ),
        ]
    return rows


# -- report ------------------------------------------------------------------------------
class _Log:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.start:6.1f}s] {message}", file=sys.stderr, flush=True)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if unit == "calls" else f"{value:.1f}"


def table(meta: dict[str, str], rows: list[Row]) -> str:
    lines = [" · ".join(f"{k}: {v}" for k, v in meta.items()), ""]
    head = ("figure", "median", "unit", "reference", "ref", "ratio", "target", "result")
    body = [
        (
            r.figure,
            _fmt(r.value, r.unit),
            r.unit,
            r.reference,
            _fmt(r.ref_value, r.unit),
            f"{r.ratio:.2f}×" if r.ratio is not None else "",
            r.target,
            r.result,
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    right = {1, 4, 5}
    for line in [head, *body]:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    notes = [f"  {r.figure}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    missed = [r.figure for r in rows if r.result == "MISS"]
    judged = [r for r in rows if r.result in ("pass", "MISS")]
    if not missed:
        return f"summary: all {len(judged)} targets met"
    return f"summary: {len(missed)} of {len(judged)} targets missed: " + "; ".join(missed)


SECTIONS = ("cli", "scaling", "write")


def _sections(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}: choose from {', '.join(SECTIONS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--bin",
        type=Path,
        default=Path(sys.executable).parent,
        help="bin directory of the install to measure (default: this interpreter's)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="BIN",
        help="another install's bin directory whose start-up figures take turns with these (an A/B)",
    )
    parser.add_argument("--quick", action="store_true", help="few repeats, small sizes: proves the script works")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table")
    parser.add_argument("--repeat", type=int, default=0, help="whole-process rounds per CLI figure")
    parser.add_argument("--write-repeat", type=int, default=5, help="processes per write figure (full mode)")
    parser.add_argument("--timers", default="50,500,2000", help="timer counts for the diff scaling (full mode)")
    parser.add_argument("--sizes", default="1,10,50", help="artifact sizes in MB (full mode)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--render", type=Path, metavar="FILE", help="print the table of a saved --json report")
    parser.add_argument(
        "--only",
        type=_sections,
        default=SECTIONS,
        metavar="SECTION[,SECTION]",
        help=f"measure only these sections ({', '.join(SECTIONS)}; default: all)",
    )
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        fields = {f.name for f in dataclasses.fields(Row)}
        saved_rows = [Row(**{k: v for k, v in r.items() if k in fields}) for r in saved["rows"]]
        print(table(saved["meta"], saved_rows))
        print()
        print(summary(saved_rows))
        return 0
    p = plan(args)
    log = _Log(args.quiet)
    inst = probe_install(args.bin.absolute())
    meta = {**machine(), "measured tree": f"{inst.root} @ {inst.commit}", "mode": "quick" if p.quick else "full"}
    other = probe_install(args.compare.absolute()) if args.compare else None
    if other is not None:
        meta["compared tree"] = f"{other.root} @ {other.commit}"

    rows: list[Row] = []
    if "cli" in args.only:
        log(f"starting a private user manager; installing the default jobs with {inst.tool('aios-units')}")
        with sandbox(inst.bin_dir) as box, contextlib.ExitStack() as stack:
            compare = None
            if other is not None:
                log(f"and another one for the compared install ({other.tool('aios-units')})")
                compare = (stack.enter_context(sandbox(other.bin_dir)), other)
            rows += cli_rows(box, inst, p, log, compare)
    if "scaling" in args.only:
        rows += scaling_rows(inst, p, log)
    if "write" in args.only:
        rows += write_rows(inst, p, log)

    if args.json:
        print(
            json.dumps(
                {
                    "meta": meta,
                    "rows": [r.to_json() for r in rows],
                    "missed": [r.figure for r in rows if r.result == "MISS"],
                },
                indent=2,
            )
        )
    else:
        print(table(meta, rows))
        print()
        print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
