"""Private artifacts out of git, proven from git metadata alone (``aios-check-private``).

Counterpart of ``bun run runtime:check-private``.  :func:`check` asks git, never the files: ``git
ls-files`` for what is tracked or present-but-unignored, ``git check-ignore --no-index`` for
whether the ignore rules cover the private paths even before they exist.  Nothing here opens
an artifact.

Private artifacts (the runbook's "Private Files" and the unit renderer's output):
``src/data/live-data.json`` and the temp files of its atomic writes
(``src/data/.live-data.json.<pid>.tmp``, a full copy that a killed write leaves until the
next write sweeps it), ``logs/*.jsonl``, ``.env.local``, ``data/ai-os.scheduler.json`` and
generated unit files (``ai-os-*.service`` / ``ai-os-*.timer`` anywhere in the tree).  The
fixed paths must be covered by an ignore rule; unit files are judged where they exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import ProcessFailedError, UsageError
from .record import Record
from .registry import UNIT_PREFIX

if TYPE_CHECKING:
    from .context import Context


class Artifact(Record):
    label: str
    pathspecs: tuple[str, ...]  # what ``git ls-files`` looks for
    probes: tuple[str, ...]  # representative paths the ignore rules must cover
    ignore_line: str  # the .gitignore line we suggest
    display: str  # how a missing rule is named


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "generated data",
        ("src/data/live-data.json",),
        ("src/data/live-data.json",),
        "/src/data/live-data.json",
        "src/data/live-data.json",
    ),
    Artifact(
        "generated data temp file",
        (":(glob)src/data/.live-data.json.*.tmp",),
        ("src/data/.live-data.json.12345.tmp",),
        "/src/data/.live-data.json.*.tmp",
        "src/data/.live-data.json.<pid>.tmp",
    ),
    Artifact(
        "diagnostic logs",
        (":(glob)logs/**/*.jsonl",),
        ("logs/aggregate.latest.jsonl", "logs/aggregate-20260101T000000.000Z-000000.jsonl"),
        "/logs/",
        "logs/*.jsonl",
    ),
    Artifact("local secrets", (":(glob)**/.env.local",), (".env.local",), ".env.local", ".env.local"),
    Artifact(
        "local scheduler config",
        ("data/ai-os.scheduler.json",),
        ("data/ai-os.scheduler.json",),
        "/data/ai-os.scheduler.json",
        "data/ai-os.scheduler.json",
    ),
    *(
        Artifact(
            "generated unit files",
            (f":(glob)**/{UNIT_PREFIX}*{kind}",),
            (),
            f"{UNIT_PREFIX}*{kind}",
            f"{UNIT_PREFIX}*{kind}",
        )
        for kind in (".service", ".timer")
    ),
)

TRACKED = "tracked"
NOT_IGNORED = "not-ignored"
GIT_TIMEOUT = 30.0


class Finding(Record):
    path: str  # relative to the project root
    problem: str  # "tracked" | "not-ignored"
    artifact: str
    fix: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem, "artifact": self.artifact, "fix": self.fix}


def _git(
    ctx: Context,
    args: Sequence[str],
    *,
    ok_codes: tuple[int, ...] = (0,),
    stdin: bytes | None = None,
) -> list[str]:
    from . import proc

    try:
        result = proc.run(
            ["git", *args],
            cwd=ctx.project_root,
            env=proc.clean_env(ctx.env),
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=stdin,
        )
    except ProcessFailedError:
        raise UsageError("git could not be started", "install git (e.g. apt install git) and rerun") from None
    if result.returncode not in ok_codes:
        raise UsageError(
            "the project root is not a git work tree (or git refused it)",
            "run this from an AI OS checkout, or pass --project-root DIR",
        )
    return [p for p in result.stdout.decode("utf-8", "replace").split("\0") if p]


def _shown(path: str) -> str:
    # Git -z output is raw bytes; keep what we print on one safe line.
    return "".join(c if c.isprintable() else "?" for c in path)


def check(ctx: Context) -> list[Finding]:
    """Every private artifact that is tracked, present and unignored, or not covered by an
    ignore rule.  Raises :class:`~aios_systemd.errors.UsageError` outside a work tree or
    without git."""
    if not ctx.project_root.is_dir():
        raise UsageError("the project root does not exist", "pass --project-root DIR of an AI OS checkout")
    inside = _git(ctx, ["rev-parse", "--is-inside-work-tree"])
    if not inside or inside[0].strip() != "true":
        raise UsageError(
            "the project root is not inside a git work tree",
            "run this from an AI OS checkout, or pass --project-root DIR",
        )
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()

    def add(path: str, problem: str, artifact: Artifact) -> None:
        if (path, problem) in seen or (path, TRACKED) in seen:
            return  # the fix for a tracked file already adds the ignore rule
        seen.add((path, problem))
        if problem == TRACKED:
            fix = f"git rm --cached -- '{path}' and add '{artifact.ignore_line}' to .gitignore"
        else:
            fix = f"add '{artifact.ignore_line}' to .gitignore"
        findings.append(Finding(_shown(path), problem, artifact.label, fix))

    for artifact in ARTIFACTS:
        for path in _git(ctx, ["ls-files", "-z", "--cached", "--", *artifact.pathspecs]):
            add(path, TRACKED, artifact)
        # Present but not ignored: one `git add .` away from being committed.
        for path in _git(ctx, ["ls-files", "-z", "--others", "--exclude-standard", "--", *artifact.pathspecs]):
            add(path, NOT_IGNORED, artifact)
        if artifact.probes:
            # --no-index judges the rules themselves, even for a path that is tracked.
            ignored = set(
                _git(
                    ctx,
                    ["check-ignore", "-z", "--stdin", "--no-index"],
                    ok_codes=(0, 1),
                    stdin=b"".join(p.encode() + b"\0" for p in artifact.probes),
                )
            )
            if any(probe not in ignored for probe in artifact.probes):
                add(artifact.display, NOT_IGNORED, artifact)
    return findings
