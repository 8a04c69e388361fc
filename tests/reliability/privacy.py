"""Scenario 13: privacy canaries planted everywhere a secret could travel (environment
secret, ``.env.local``, config values and keys, handler output, error messages, file
names under a fake HOME's ``~/.claude/projects`` and ``~/.codex/sessions``, the home path,
a user name, an e-mail).  None may appear in status (human and JSON), state files, live
data, rendered units, journald-style run output or the display log."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

from tests.reliability.common import BIN, Attempt, Counts, Tally, clean_env, run, testjob_argv
from tests.support.safe_dirs import safe_directory


def one(a: Attempt, base: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    secret, envlocal, cfgval = f"envsecret{tag}", f"dotenvsecret{tag}", f"cfgcanary{tag}"
    user, email, fname = f"canaryuser{tag}", f"canary.{tag}@example.org", f"canaryfile{tag}"
    home = base / f"home-{tag}"  # the home path itself is a canary
    project = base / "project"
    for d in (
        home / ".claude" / "projects" / f"-proj-{fname}",
        home / ".codex" / "sessions" / "2026" / "11",
        project / "data",
    ):
        d.mkdir(parents=True, exist_ok=True)
    (home / ".claude" / "projects" / f"-proj-{fname}" / f"{fname}.jsonl").write_text(
        json.dumps({"type": "user", "message": f"{secret} {email}", "cwd": str(home)}) + "\n"
    )
    (home / ".codex" / "sessions" / "2026" / "11" / f"rollout-{fname}.jsonl").write_text(
        json.dumps({"payload": f"{envlocal} {user}"}) + "\n"
    )
    (project / ".env.local").write_text(f"SOME_PROVIDER_TOKEN={envlocal}\nLOG_LEVEL=warning\n")
    (project / "data" / "ai-os.scheduler.json").write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                cfgval: cfgval,
                "jobs": {"agent-aggregate": {"cadence": cfgval, cfgval: email}, cfgval: {"x": secret}},
            }
        )
    )
    sched = base / "sched"
    env = clean_env(
        HOME=str(home),
        USER=user,
        LOGNAME=user,
        AIOS_SCHEDULER_ROOT=str(sched),
        AIOS_PROJECT_ROOT=str(project),
        AIOS_TEST_SECRET_TOKEN=secret,
        INVOCATION_ID=tag,
        AI_OS_SCHEDULER_TRIGGER_SOURCE="systemd",
    )
    canaries = {
        "env secret": secret,
        ".env.local": envlocal,
        "config": cfgval,
        "user": user,
        "email": email,
        "file name": fname,
        "home path": str(home),
    }
    outputs: dict[str, str] = {}
    for job in ("leak", "ok"):
        done = run(testjob_argv(job), env, cwd=project)
        outputs[f"aios-run {job} (journald style)"] = done.stdout + done.stderr
    done = run([str(BIN / "aios-run"), "agent-aggregate"], env, cwd=project, timeout=300)
    a.check(done.returncode in (0, 1), f"agent-aggregate exit {done.returncode}")
    outputs["aios-run agent-aggregate (journald style)"] = done.stdout + done.stderr
    for argv in (["--no-timers"], ["--json", "--no-timers"], ["--job", "agent-aggregate", "--json", "--no-timers"]):
        done = run([str(BIN / "aios-status"), *argv], env, cwd=project)
        a.check(done.returncode == 0, f"aios-status {argv} exit {done.returncode}")
        outputs[f"aios-status {' '.join(argv)}"] = done.stdout + done.stderr
    done = run([str(BIN / "aios-units"), "render", "agent-aggregate", "dream", "--dry-run"], env, cwd=project)
    outputs["aios-units render --dry-run"] = done.stdout + done.stderr
    for path in [*sched.glob("state/*.json"), *sched.glob("logs/*"), project / "src" / "data" / "live-data.json"]:
        if path.exists():
            outputs[f"file {path.parent.name}/{path.suffix}"] = path.read_text(errors="replace")
    a.check((project / "src" / "data" / "live-data.json").exists(), "agent-aggregate wrote no live data")
    a.check(any(k.startswith("file state") for k in outputs), "no state file to check")
    for where, text in outputs.items():
        for what, value in canaries.items():
            if value in text:
                a.leak(f"{what} in {where}")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("privacy")
    for _ in range(counts.privacy_rounds):
        with safe_directory("campaign-privacy-") as base, tally.attempt() as a:
            one(a, base)
    return tally
