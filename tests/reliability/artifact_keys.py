"""Scenario: generated data files with unknown keys, invalid parts, newer versions and junk.

Each try plants a ``src/data/live-data.json`` a newer release, another tool or a hand edit
could have left (unknown members at the root, beside the items, inside a branch; an
invalid item; ``schemaVersion`` above 1; not JSON at all), with canaries in the values and
in untame keys, then makes a scoped write (host-local without the host branch, or an
extension item) through the real writer; every tenth try runs the real
``aios-run agent-aggregate`` instead.  Invariants: a newer or unusable file is refused and
left byte for byte, with the reason and its hint; otherwise every part of the old file is in
the new one unchanged, replaced by the write, or named as not kept, the result validates,
nothing of an example shows up, and no canary reaches a warning, the output or the state.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

from aios_systemd.context import Context
from aios_systemd.data import schema, writer
from aios_systemd.registry import ScopeKind, WriteScope
from tests.reliability.common import BIN, Attempt, Counts, Tally, clean_env
from tests.support.safe_dirs import safe_directory

CANARY = "zqartifactcanary"
HOST = WriteScope(ScopeKind.HOST_LOCAL)
STAMP = "2026-11-26T05:00:00.000Z"
JUNK = [
    b"{not json",
    b"",
    b'{"schemaVersion": 1, "generatedAt": NaN}',
    b"[]",
    b'{"schemaVersion": 0}',
    b'{"schemaVersion": "1"}',
    b'{"schemaVersion": true}',
    b"\xff\xfe\x00",
    b'{"schemaVersion": 1, "generatedAt": "2026-11-26T05:00:00Z", "extensions": {"items": {',
]
MUTATIONS = ("unknown-root", "unknown-extensions", "unknown-branch", "bad-item", "bad-stamp")


def _item(rng: random.Random, n: int) -> dict[str, Any]:
    return {"generatedAt": STAMP, "status": "ok", "count": n, "rows": [rng.randrange(100) for _ in range(3)]}


def _key(rng: random.Random) -> str:
    return rng.choice(["futureThing", "x2", "hostId", f"{CANARY} key/with space", f"/home/{CANARY}"])


def _document(rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    doc: dict[str, Any] = json.loads(writer.packaged_example_bytes())
    doc["host"]["kernel"] = "6.1.0-real"
    doc["host"]["generatedAt"] = doc["generatedAt"] = "2026-11-26T01:00:00.000Z"
    doc["extensions"]["items"] = {f"ext-{i}": _item(rng, i) for i in range(rng.randrange(6))}
    applied = rng.sample(MUTATIONS, rng.randrange(1, 4))
    value = {"note": f"{CANARY}-value", "n": rng.randrange(10**6)}
    for mutation in applied:
        if mutation == "unknown-root":
            doc[_key(rng)] = value
        elif mutation == "unknown-extensions":
            doc["extensions"][_key(rng)] = value
        elif mutation == "unknown-branch":
            doc[rng.choice(["host", "scheduler", "agents", "dream"])][_key(rng)] = value
        elif mutation == "bad-item":
            doc["extensions"]["items"]["Bad Id"] = _item(rng, 9)
        else:
            items = doc["extensions"]["items"]
            if items:
                items[rng.choice(sorted(items))]["generatedAt"] = f"{CANARY} yesterday"
    return doc, applied


class _Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "project"
        (self.project / "src" / "data").mkdir(parents=True, exist_ok=True)
        (root / "home").mkdir(exist_ok=True)
        self.env = clean_env(AIOS_SCHEDULER_ROOT=str(root / "sched"), HOME=str(root / "home"))
        self.ctx = Context.from_environ(self.env, project_root=self.project)


def _check_kept(
    a: Attempt,
    old: dict[str, Any],
    new: dict[str, Any],
    result: writer.WriteResult,
    scope: WriteScope,
    branch: dict[str, Any],
) -> None:
    named = "\n".join(result.dropped)
    a.check(CANARY not in named, "a drop echoes a value or an untame key")
    replaced = set(branch) if scope is HOST else set()
    for key, value in old.items():
        if key == "schemaVersion" or key in replaced:
            continue
        if key == "extensions":
            for ext_id, item in value.get("items", {}).items():
                where = schema.location("$.extensions.items", ext_id)
                a.check(new["extensions"]["items"].get(ext_id) == item or where in named, "item silently dropped")
            for other in set(value) - {"items"}:
                a.check(schema.location("$.extensions", other) in named, "unknown extensions member silently dropped")
        elif new.get(key) != value:
            a.check(schema.location("$", key) in named, "root member silently dropped")
    if scope is HOST and "host" in new:
        a.check(new["host"]["generatedAt"] < new["generatedAt"], "kept host branch not older than the root")


def _in_process(
    a: Attempt, p: _Project, rng: random.Random, text: bytes, old: dict[str, Any] | None, kind: str
) -> None:
    if rng.random() < 0.5:
        scope = HOST
        branch: dict[str, Any] = {"schemaVersion": 1, "generatedAt": "2026-11-26T05:00:00.000Z"}
        branch["dream"] = {"generatedAt": "2026-11-26T05:00:01.000Z", "lastRunAt": None}
    else:
        scope, branch = WriteScope(ScopeKind.EXTENSION_ITEM, "new-one"), _item(rng, 42)
    result = writer.write_live_data_for_scope(p.ctx, scope, branch, lock_timeout=10)
    after = p.ctx.live_data_path.read_bytes()
    if kind in ("newer", "junk"):
        want = "newer-version" if kind == "newer" else "unusable"
        a.check(result.outcome == want, f"{kind} file: {result.outcome}")
        a.check(after == text, f"{kind} file changed")
        a.note(f"refused a {kind} file")
        return
    if not a.check(result.outcome == "written", f"salvage: {result.outcome} {result.rule}"):
        return
    new = json.loads(after)
    schema.validate_document(new)
    a.check(b"example-amd64" not in after, "an example placeholder was written")
    assert old is not None
    _check_kept(a, old, new, result, scope, branch)
    a.note("kept what validates, named the rest" if result.dropped else "nothing to drop (the write replaced it)")


def _through_aios_run(a: Attempt, p: _Project, text: bytes, kind: str) -> None:
    done = subprocess.run(
        [str(BIN / "aios-run"), "agent-aggregate", "--project-root", str(p.project)],
        env=p.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = done.stdout + done.stderr
    a.check("Traceback" not in shown, "traceback")
    for where, content in (("output", shown), ("state", _read(p.ctx.state_path("agent-aggregate")))):
        if CANARY in content:
            a.leak(f"canary in the run's {where}")
    after = p.ctx.live_data_path.read_bytes()
    if kind in ("newer", "junk"):
        reason = "data-newer-version" if kind == "newer" else "data-file-unusable"
        a.check(done.returncode == 1 and f"reason {reason}" in done.stdout, f"{kind}: exit {done.returncode}")
        a.check("\nhint: " in done.stderr, f"{kind}: no hint")
        a.check(after == text, f"{kind}: file changed")
        a.note(f"aios-run refused a {kind} file")
        return
    a.check(done.returncode == 0, f"salvage through aios-run: exit {done.returncode}")
    a.check("not kept from the previous file" in done.stdout or "degraded" not in done.stdout, "drop not said")
    a.check(b"example-amd64" not in after, "an example placeholder was written")
    a.note("aios-run kept what validates")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("artifact-keys")
    with safe_directory("campaign-artifact-") as root:
        for i in range(counts.artifact_docs):
            with tally.attempt() as a:
                p = _Project(root / f"t{i}")
                pick = rng.random()
                old: dict[str, Any] | None = None
                if pick < 0.15:
                    kind, text = (
                        "newer",
                        json.dumps({**_document(rng)[0], "schemaVersion": rng.choice([2, 3, 10**30])}).encode(),
                    )
                elif pick < 0.3:
                    kind, text = "junk", rng.choice(JUNK)
                else:
                    old, _ = _document(rng)
                    kind, text = "salvage", json.dumps(old).encode()
                p.ctx.live_data_path.write_bytes(text)
                if i % 10 == 0:
                    _through_aios_run(a, p, text, kind)
                else:
                    _in_process(a, p, rng, text, old, kind)
    return tally
