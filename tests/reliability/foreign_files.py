"""Scenario 15: files and directories that another user owns or can change.

One try plants one of them in a fresh project and scheduler root (ownership is real: a
``chown`` to an unused uid; the group cases use a real group with another member), then
runs the real CLIs.  A ``.env.local`` or local config that another user controls is
ignored with a warning naming it by role (the Apify token never reaches the base URL it
names: a loopback listener counts connections); a cache entry, state, holder record or
log of another user is not believed and never written through; a scheduler root or
project root that is not private is refused with ``error:``/``hint:`` and left exactly as
it was (owner, mode, setgid, contents).  No output carries a canary or a private path.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.reliability.common import BIN, Attempt, Counts, Tally, clean_env, cli_problems, run
from tests.support.groups import give_to_group, real_group
from tests.support.safe_dirs import safe_directory

OTHER_UID = 4242
TARGETS = (
    ".env.local of another user",
    ".env.local writable by all",
    ".env.local writable by a shared group",
    "config of another user",
    "config cache entry of another user",
    "state of another user",
    "holder of another user",
    "log of another user",
    "scheduler root of another user",
    "scheduler root writable by all",
    "scheduler root shared 2775",
    "project root writable by all",
    "project root of another user",
)


@contextmanager
def listener() -> Iterator[socket.socket]:
    """A loopback port that counts who connects (the base URL a planted file would choose)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def connections(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


class Try:
    def __init__(self, a: Attempt, base: Path, shared_gid: int) -> None:
        self.a, self.base, self.shared = a, base, shared_gid
        self.home, self.project, self.sched = base / "home", base / "project", base / "sched"
        for d in (self.home, self.project):
            d.mkdir(parents=True)
        self.tag = uuid.uuid4().hex[:12]
        self.env = clean_env(
            HOME=str(self.home), AIOS_SCHEDULER_ROOT=str(self.sched), AIOS_PROJECT_ROOT=str(self.project)
        )
        self.outputs: list[str] = []

    def cli(self, name: str, *argv: str, allowed: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        done = run([str(BIN / name), *argv], self.env, cwd=self.project, timeout=180)
        for problem in cli_problems(done, allowed=allowed):
            self.a.lose(f"{name} {' '.join(argv[:1])}: {problem}")
        self.outputs.append(done.stdout + done.stderr)
        return done

    def state(self, job: str) -> dict[str, object]:
        doc: dict[str, object] = json.loads((self.sched / "state" / f"{job}.json").read_text())
        return doc

    def leaks(self, *canaries: str) -> None:
        text = "\n".join(self.outputs)
        for canary in (*canaries, str(self.base)):
            if canary in text:
                self.a.leak(f"output carries {'a private path' if canary == str(self.base) else 'a canary'}")


def _env_local(t: Try, target: str) -> None:
    token = f"apify_api_{t.tag}CANARY"
    with listener() as sock:
        port = sock.getsockname()[1]
        env_local = t.project / ".env.local"
        env_local.write_text(
            "VITE_CLAUDE_OS_ENABLED_EXTENSIONS=trend-finder\n"
            f"APIFY_TOKEN={token}\nFINDTREND_APIFY_DATASET_IDS=ds{t.tag}\n"
            f"FINDTREND_APIFY_BASE_URL=http://127.0.0.1:{port}\nFINDTREND_APIFY_COLLECTION_BUDGET_SECS=3\n"
        )
        env_local.chmod(0o600)
        if target == ".env.local of another user":
            os.chown(env_local, OTHER_UID, OTHER_UID)
        elif target == ".env.local writable by all":
            env_local.chmod(0o666)
        else:
            give_to_group(env_local, t.shared, 0o660)
        t.cli("aios-run", "trend-finder", "--json")
        agg = t.cli("aios-aggregate", "--json")
        t.a.check(connections(sock) == 0, f"{target}: the token went to the base URL it names")
    state = t.state("trend-finder")
    t.a.check(state.get("reason") == "extension-disabled", f"{target}: its enablement was honoured")
    warned = [w for w in state.get("warnings", []) if str(w).startswith(".env.local is ")]  # type: ignore[union-attr]
    t.a.check(len(warned) == 1 and "so it is ignored" in warned[0], f"{target}: no warning naming .env.local")
    if agg.returncode == 0:
        t.a.check(
            any(str(w).startswith(".env.local is ") for w in json.loads(agg.stdout)["warnings"]),
            f"{target}: aios-aggregate did not warn",
        )
    t.a.check(env_local.read_text().count(token) == 1, f"{target}: the planted file changed")
    t.leaks(token, f"ds{t.tag}")


def _status_json(t: Try) -> dict[str, object]:
    doc: dict[str, object] = json.loads(t.cli("aios-status", "--json", "--no-timers").stdout)
    return doc


def _job(doc: dict[str, object], job: str) -> dict[str, object]:
    found: dict[str, object] = next(j for j in doc["jobs"] if j["job"] == job)  # type: ignore[attr-defined]
    return found


def _config(t: Try, target: str) -> None:
    path = t.project / "data" / "ai-os.scheduler.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"schemaVersion": 1, "jobs": {"agent-aggregate": {"cadence": "hourly"}}}))
    path.chmod(0o600)
    if target == "config of another user":
        os.chown(path, OTHER_UID, OTHER_UID)
        doc = _status_json(t)
        t.a.check(
            doc["config"]["warnings"][0].startswith("$: the local scheduler config is owned by another user"),  # type: ignore[index]
            "no warning naming the local scheduler config",
        )
        rendered = t.cli("aios-units", "render", "--dry-run", "agent-aggregate").stdout
        t.a.check("OnCalendar=*-*-* 0/4:00:00" in rendered, "render used the planted cadence")
    else:  # a cache entry of another user that lies about the validated config
        _status_json(t)
        (entry,) = (t.sched / "cache").glob("config-*.json")
        doc = json.loads(entry.read_text())
        doc["jobs"]["agent-aggregate"][0] = "every-2-hours"
        entry.write_text(json.dumps(doc))
        os.chown(entry, OTHER_UID, OTHER_UID)
    cadence = _job(_status_json(t), "agent-aggregate")["cadence"]
    want = "every-4-hours" if target == "config of another user" else "hourly"
    t.a.check(cadence["id"] == want, f"{target}: cadence {cadence['id']}, not {want}")  # type: ignore[index]


def _private_file(t: Try, target: str) -> None:
    t.cli("aios-run", "agent-aggregate")
    canary = f"run{t.tag}"
    if target == "state of another user":
        path = t.sched / "state" / "agent-aggregate.json"
        doc = t.state("agent-aggregate") | {"runId": canary, "warnings": [canary]}
        path.write_text(json.dumps(doc))
    elif target == "holder of another user":
        path = t.sched / "locks" / "agent-aggregate.holder.json"
        path.write_text(json.dumps({"pid": os.getpid(), "runId": canary, "startedAt": "x", "bootId": "y"}))
    else:
        path = t.sched / "logs" / "agent-aggregate.jsonl"
        path.write_text(canary + "\n")
    os.chown(path, OTHER_UID, OTHER_UID)
    planted = path.read_bytes()
    job = _job(_status_json(t), "agent-aggregate")
    t.a.check(job.get("activeRun") is None, f"{target}: status believes a planted live run")
    done = t.cli("aios-run", "agent-aggregate", "--json")
    t.a.check(done.returncode == 0, f"{target}: the next run did not run")
    if target == "log of another user":
        t.a.check(path.read_bytes() == planted, "a line went into the planted log")
        t.a.check(
            any("private run log is owned by another user" in str(w) for w in json.loads(done.stdout)["warnings"]),
            "the run did not say its log was refused",
        )
    else:
        t.a.check(not path.exists() or os.lstat(path).st_uid == os.getuid(), f"{target}: still there after a run")
    _status_json(t)
    t.leaks(canary)


def _root(t: Try, target: str) -> None:
    victim = t.project if target.startswith("project") else t.sched
    victim.mkdir(exist_ok=True)
    (victim / "keep").write_text("keep")
    if target.endswith("of another user"):
        os.chown(victim, OTHER_UID, OTHER_UID)
    elif target.endswith("writable by all"):
        victim.chmod(0o777)
    else:
        give_to_group(victim, t.shared, 0o2775)
    before = os.lstat(victim)
    listing = sorted(os.listdir(victim))
    for name, argv in (("aios-run", ("agent-aggregate",)), ("aios-aggregate", ())):
        done = t.cli(name, *argv, allowed=(2,))  # usage: the fix is the user's
        t.a.check("error: " in done.stderr and "hint: " in done.stderr, f"{target}: {name} gave no error and hint")
    after = os.lstat(victim)
    same = (before.st_uid, before.st_gid, before.st_mode) == (after.st_uid, after.st_gid, after.st_mode)
    t.a.check(same, f"{target}: owner or mode changed")
    t.a.check(sorted(os.listdir(victim)) == listing, f"{target}: something was written into it")
    if victim == t.sched:
        t.cli("aios-status", "--json", "--no-timers")  # reports it, never crashes
    t.leaks()


def one(a: Attempt, base: Path, target: str, shared: int) -> None:
    t = Try(a, base, shared)
    if target.startswith(".env.local"):
        _env_local(t, target)
    elif target.startswith("config"):
        _config(t, target)
    elif "root" in target:
        _root(t, target)
    else:
        _private_file(t, target)


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("foreign-files")
    with safe_directory("campaign-foreign-") as base, real_group(other_member=True) as shared:
        n = 0
        for _round in range(counts.foreign_file_rounds):
            for target in rng.sample(TARGETS, len(TARGETS)):
                n += 1
                with tally.attempt() as a:
                    one(a, base / f"t{n}", target, shared)
    return tally
