"""The field contract: in the environments real users have, the main job works and nothing leaks.

For each combination (every env profile alone, and with every ``.env.local`` profile; the
project's own copy in ``tests/field/profiles/`` plus, when it exists,
``<repo>/../shared/field/profiles/``), on a fresh project root (made under the profile's
umask, with its checkout mode), a fresh scheduler root, a fresh home and a real private user
manager, as root so the profile's ``os-release`` applies, the installed console scripts run
inside the profile's environment, and:

1. ``aios-run agent-aggregate`` exits 0, its state is ``success`` or ``warning-only``, and
   it writes ``src/data/live-data.json``;
2. ``aios-status`` and ``aios-status --json`` exit 0, ``aios-units render --dry-run`` exits
   0, ``aios-units diff`` and ``aios-units doctor`` exit 0 or 1, and no output says
   ``internal error``;
3. no secret value of the profiles appears in any output or in any file written under the
   project root, the scheduler root, the home directory or the manager's directories;
4. JSON keys are never rewritten by redaction (``aios-status --json`` has its documented
   camelCase keys; no key anywhere carries a redaction label);
5. no output line starts with a ``<N>`` syslog priority prefix (stdout and stderr are pipes,
   not the journal stream a profile's ``JOURNAL_STREAM`` names).

Each combination runs once (the first of its tests runs it and keeps what it saw); each
contract item is its own test, so a report reads as a table of combination x item.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.field.profile import Combination, Profile, combinations, run
from tests.support.safe_dirs import safe_directory
from tests.support.user_manager import PrivateManager, private_manager

pytestmark = pytest.mark.user_manager

BIN = Path(sys.executable).parent
JOB = "agent-aggregate"
ARTIFACT = Path("src") / "data" / "live-data.json"
GOOD_STATES = ("success", "warning-only")
# The contract's commands, by the name a failure message uses, and the exit codes allowed.
COMMANDS: dict[str, tuple[list[str], tuple[int, ...]]] = {
    f"aios-run {JOB}": (["aios-run", JOB], (0,)),
    "aios-status": (["aios-status"], (0,)),
    "aios-status --json": (["aios-status", "--json"], (0,)),
    "aios-units render --dry-run": (["aios-units", "render", "--dry-run"], (0,)),
    "aios-units diff": (["aios-units", "diff"], (0, 1)),
    "aios-units doctor": (["aios-units", "doctor"], (0, 1)),
}
RUN_COMMAND = f"aios-run {JOB}"
STATUS_JSON = "aios-status --json"
# The variables that lead a client to the private manager.
MANAGER_PLUMBING = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
# What user@UID.service takes from the account: a user's manager has the user's own.
MANAGER_ACCOUNT_VARS = ("USER", "LOGNAME", "SHELL", "LANG")

# README, aios-status --json: the stable keys of the document and of each job.
STATUS_TOP_KEYS = {"schemaVersion", "config", "jobs"}
STATUS_JOB_KEYS = {
    "job",
    "lifecycle",
    "enabledByDefault",
    "timerEnabled",
    "timerIntent",
    "cadence",
    "latestRun",
    "activeRun",
    "freshness",
    "timer",
    "nextSteps",
}
STATUS_CADENCE_KEYS = {"id", "calendar", "calendars", "source"}
STATUS_LATEST_RUN_KEYS = {
    "state",
    "label",
    "runId",
    "exitCode",
    "trigger",
    "lockOutcome",
    "warningCount",
    "startedAt",
    "finishedAt",
    "durationMs",
}
CAMEL_CASE = re.compile(r"[a-z][A-Za-z0-9]*")
CAMEL_CASE_RECORDS = ("cadence", "timerIntent", "latestRun", "activeRun", "lastBlocked", "timer")
# What redaction puts in place of a value: "[redacted]", "<path>", "<user>", "<email>", and
# any label of that shape ("<project root>").  A key never carries one.
REDACTION_LABEL = re.compile(r"redacted|<[^<>]*>|\[[^\[\]]*\]", re.IGNORECASE)
SYSLOG_PREFIX = re.compile(r"^<[0-7]>")
OS_RELEASE_CHECK = (
    "import json, pathlib\n"
    "from aios_systemd.data.collectors.host import os_info\n"
    "print(json.dumps({'etc': pathlib.Path('/etc/os-release').read_text(), 'collector': os_info()}))\n"
)
EXCERPT = 2500


@dataclass
class FieldRun:
    """What one combination's commands printed and wrote (files read before clean-up)."""

    combo: Combination
    outputs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    state_error: str = ""
    artifact_written: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # "<root label>/relative path" -> content
    os_release: subprocess.CompletedProcess[str] | None = None

    # -- messages that name what failed, never a secret ------------------------------------
    def mask(self, text: str) -> str:
        for secret, _origin in sorted(self.combo.secrets(), key=lambda s: -len(s[0].value)):
            text = text.replace(secret.value, f"<secret {secret.variable}>")
        return text

    def shown(self, name: str) -> str:
        done = self.outputs[name]
        out = self.mask(done.stdout.strip())
        err = self.mask(done.stderr.strip())
        text = f"--- stdout of {name} ---\n{out}\n--- stderr of {name} ---\n{err}"
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "\n[... cut]"

    def fail(self, item: str, problems: list[str]) -> None:
        head = f"field contract {item} does not hold for profile combination {self.combo.id!r}"
        pytest.fail(head + ":\n" + "\n".join(f"- {p}" for p in problems), pytrace=False)


# -- one combination, for real --------------------------------------------------------------
def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _mkdir(path: Path, mode: int) -> Path:
    path.mkdir()
    path.chmod(mode)  # as the user's own mkdir under their umask would leave it
    return path


def _snapshot(roots: dict[str, Path], skip: set[Path]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for label, root in roots.items():
        if not root.is_dir():
            continue
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                if path in skip or path.is_symlink() or not path.is_file():
                    continue
                with contextlib.suppress(OSError):
                    files[f"{label}/{path.relative_to(root)}"] = path.read_bytes()
    return files


def _others_in_group(gid: int, uid: int) -> list[str]:
    """Accounts other than ``uid`` that are in group ``gid`` (as members or by their primary group)."""
    owner = pwd.getpwuid(uid).pw_name
    members = set(grp.getgrgid(gid).gr_mem) | {a.pw_name for a in pwd.getpwall() if a.pw_gid == gid}
    return sorted(members - {owner})


def execute(combo: Combination) -> FieldRun:
    profile: Profile = combo.env
    result = FieldRun(combo)
    umask = profile.umask if profile.umask is not None else _umask()
    with safe_directory("field-") as base:
        home = _mkdir(base / "home", 0o700)
        project = _mkdir(home / "ai-os", profile.project_mode or (0o777 & ~umask))
        if stat.S_IMODE(project.stat().st_mode) & stat.S_IWGRP and (
            others := _others_in_group(os.getgid(), os.getuid())
        ):
            # The profile's checkout is writable by a user-private group; here it would not be.
            raise RuntimeError(
                f"this machine's group {os.getgid()} has other members {others}: not a user-private group"
            )
        for sub in ("src", "src/data", "data"):
            _mkdir(project / sub, 0o777 & ~umask)
        env_local = project / ".env.local"
        if combo.env_local is not None:
            shutil.copyfile(combo.env_local.path, env_local)
            env_local.chmod(0o666 & ~umask)
        scheduler = base / "scheduler"

        account = {k: profile.values[k] for k in MANAGER_ACCOUNT_VARS if profile.values.get(k)}
        with private_manager({**account, "HOME": str(home)}) as pm:
            for dropin in profile.dropins():
                target = pm.unit_dir / "service.d"
                target.mkdir(exist_ok=True)
                shutil.copyfile(dropin, target / dropin.name)
            caller = _caller_env(pm, home, project, scheduler)
            result.os_release = run(profile, [sys.executable, "-c", OS_RELEASE_CHECK], caller=caller, cwd=project)
            for name, (argv, _codes) in COMMANDS.items():
                result.outputs[name] = run(profile, [str(BIN / argv[0]), *argv[1:]], caller=caller, cwd=project)

            state_path = scheduler / "state" / f"{JOB}.json"
            try:
                result.state = json.loads(state_path.read_text())
            except (OSError, ValueError) as exc:
                result.state_error = f"{type(exc).__name__}: {exc.strerror if isinstance(exc, OSError) else exc}"
            result.artifact_written = (project / ARTIFACT).is_file()
            roots = {
                "project root": project,
                "scheduler root": scheduler,
                "home": home,
                "manager config home": pm.config_home,
                "manager data home": pm.data_home,
                "manager state home": pm.state_home,
            }
            # The project's .env.local is the profile itself, copied there by the test.
            result.files = _snapshot(roots, skip={env_local})
    return result


def _caller_env(pm: PrivateManager, home: Path, project: Path, scheduler: Path) -> dict[str, str]:
    """What the test, as the caller of the profile, provides: the head of PATH, a home of
    its own, the way to the private manager, and the two roots."""
    return {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        **{name: pm.env[name] for name in MANAGER_PLUMBING},
        "AIOS_PROJECT_ROOT": str(project),
        "AIOS_SCHEDULER_ROOT": str(scheduler),
    }


class Runs:
    """Each combination runs once, on first use; a run that could not happen fails each test."""

    def __init__(self) -> None:
        self._done: dict[str, FieldRun | BaseException] = {}

    def get(self, combo: Combination) -> FieldRun:
        if combo.id not in self._done:
            try:
                self._done[combo.id] = execute(combo)
            except Exception as exc:  # noqa: BLE001 - reported by every test of the combination
                self._done[combo.id] = exc
        done = self._done[combo.id]
        if isinstance(done, BaseException):
            raise RuntimeError(f"profile combination {combo.id!r} could not be run: {done!r}") from done
        return done


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    yield Runs()


COMBINATIONS = combinations()


def _params() -> list[Any]:
    return [pytest.param(c, id=c.id) for c in COMBINATIONS]


# -- the checks -----------------------------------------------------------------------------
def _keys(node: Any, where: str = "$") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, key
            yield from _keys(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _keys(value, f"{where}[{i}]")


def _json_documents(r: FieldRun) -> Iterator[tuple[str, Any]]:
    """Every JSON document the combination's commands wrote (``.json`` files, ``.jsonl`` lines)."""
    for label, content in r.files.items():
        text = content.decode("utf-8", "replace")
        if label.endswith(".json"):
            with contextlib.suppress(ValueError):
                yield label, json.loads(text)
        elif label.endswith(".jsonl"):
            for n, line in enumerate(text.splitlines(), 1):
                with contextlib.suppress(ValueError):
                    yield f"{label} line {n}", json.loads(line)


def _labelled_keys(doc: Any, source: str, mask: Any) -> list[str]:
    """One line per key that carries a redaction label, with every place it is at."""
    found: dict[str, list[str]] = {}
    for where, key in _keys(doc):
        if REDACTION_LABEL.search(key):
            found.setdefault(key, []).append(where)
    return [
        f"{source}: key {mask(key)!r} carries a redaction label, at {', '.join(places[:6])}"
        + (f" and {len(places) - 6} more" if len(places) > 6 else "")
        for key, places in found.items()
    ]


def _status_key_problems(doc: Any) -> list[str]:
    """The documented keys of ``aios-status --json`` are there, and every job key is camelCase."""
    if not isinstance(doc, dict):
        return [f"the document is a {type(doc).__name__}, not an object"]
    problems: list[str] = []
    if missing := STATUS_TOP_KEYS - set(doc):
        problems.append(f"top-level keys {sorted(missing)} missing (has {sorted(doc)})")
    seen: set[str] = set()
    for i, job in enumerate(doc.get("jobs") or []):
        if not isinstance(job, dict):
            problems.append(f"$.jobs[{i}] is not an object")
            continue
        name = job.get("job", i)
        wanted = [("", STATUS_JOB_KEYS, job), ("cadence ", STATUS_CADENCE_KEYS, job.get("cadence"))]
        wanted.append(("latestRun ", STATUS_LATEST_RUN_KEYS, job.get("latestRun")))
        for what, keys, node in wanted:
            if isinstance(node, dict) and (missing := keys - set(node)):
                problems.append(f"job {name}: {what}keys {sorted(missing)} missing (has {sorted(node)})")
        # Records have camelCase keys; maps keyed by data (freshness by branch) are not checked.
        records = [(f"$.jobs[{i}]", job)]
        records += [(f"$.jobs[{i}].{k}", job.get(k)) for k in CAMEL_CASE_RECORDS]
        for where, node in [("$", doc), ("$.config", doc.get("config")), *records]:
            for key in node if isinstance(node, dict) else ():
                if not CAMEL_CASE.fullmatch(key) and not REDACTION_LABEL.search(key) and key not in seen:
                    seen.add(key)
                    problems.append(f"key {key!r} (at {where}) is not camelCase")
    return problems


def check_main_job(r: FieldRun) -> list[str]:
    """Contract 1."""
    done = r.outputs[RUN_COMMAND]
    problems = []
    if done.returncode != 0:
        problems.append(f"{RUN_COMMAND} exited {done.returncode}, not 0")
    if r.state is None:
        problems.append(f"no readable state file ({r.state_error})")
    elif r.state.get("state") not in GOOD_STATES:
        why = {k: r.state.get(k) for k in ("state", "reason", "handlerOutcome", "exitCode", "warnings")}
        problems.append(f"the state is {r.state.get('state')!r}, not one of {GOOD_STATES}: {r.mask(json.dumps(why))}")
    if not r.artifact_written:
        problems.append(f"{ARTIFACT} was not written")
    return [*problems, r.shown(RUN_COMMAND)] if problems else []


def check_commands(r: FieldRun) -> list[str]:
    """Contract 2 (``internal error`` is looked for in every command's output, aios-run's too)."""
    problems = []
    for name, (_argv, codes) in COMMANDS.items():
        done = r.outputs[name]
        why = []
        if name != RUN_COMMAND and done.returncode not in codes:
            why.append(f"exited {done.returncode}, not {' or '.join(map(str, codes))}")
        if "internal error" in (done.stdout + done.stderr).lower():
            why.append("printed 'internal error'")
        if why:
            problems.append(f"{name} {' and '.join(why)}\n{r.shown(name)}")
    return problems


def check_secrets(r: FieldRun) -> list[str]:
    """Contract 3: each leak names the variable, its form and where, never the value."""
    problems: list[str] = []
    outputs = dict(r.outputs)
    if r.os_release is not None:
        outputs["the os-release check"] = r.os_release
    for secret, origin in r.combo.secrets():
        where = [
            f"the {stream} of {name}"
            for name, done in outputs.items()
            for stream in ("stdout", "stderr")
            if secret.value in getattr(done, stream)
        ]
        needle = secret.value.encode()
        where += [f"the file {label}" for label, content in r.files.items() if needle in content]
        if where:
            problems.append(f"{secret.label(origin)} appears in " + "; ".join(where))
    return problems


def check_json_keys(r: FieldRun) -> list[str]:
    """Contract 4."""
    problems: list[str] = []
    done = r.outputs[STATUS_JSON]
    try:
        status = json.loads(done.stdout)
    except ValueError:
        problems.append(f"{STATUS_JSON} printed no JSON document (exit {done.returncode})\n{r.shown(STATUS_JSON)}")
    else:
        problems += _labelled_keys(status, STATUS_JSON, r.mask)
        problems += [f"{STATUS_JSON}: {p}" for p in _status_key_problems(status)]
    for label, doc in _json_documents(r):
        problems += _labelled_keys(doc, label, r.mask)
    return problems


def check_syslog_prefixes(r: FieldRun) -> list[str]:
    """Contract 5."""
    problems = []
    for name, done in r.outputs.items():
        for stream in ("stdout", "stderr"):
            lines = [line for line in getattr(done, stream).splitlines() if SYSLOG_PREFIX.match(line)]
            if lines:
                shown = "\n    ".join(r.mask(line) for line in lines[:5])
                problems.append(f"the {stream} of {name} (a pipe) has {len(lines)} prefixed line(s):\n    {shown}")
    journal = r.combo.env.values.get("JOURNAL_STREAM")
    if problems and journal:
        problems.append(f"the profile sets JOURNAL_STREAM={journal}: that stream is not these pipes")
    return problems


@pytest.mark.parametrize("combo", _params())
def test_the_profile_os_release_is_what_the_host_collector_reads(combo: Combination, runs: Runs) -> None:
    """Not a contract item: proves the commands really run on the profile's system."""
    r = runs.get(combo)
    assert r.os_release is not None
    done = r.os_release
    assert done.returncode == 0, f"{combo.id}: the os-release check failed:\n{r.mask(done.stdout + done.stderr)}"
    seen = json.loads(done.stdout)
    wanted_path = combo.env.os_release or Path("/usr/lib/os-release")
    assert seen["etc"] == wanted_path.read_text(), f"{combo.id}: /etc/os-release is not {wanted_path.name}"
    wanted_id = combo.env.os_release_id()
    if wanted_id is not None:
        assert seen["collector"]["id"] == wanted_id, f"{combo.id}: the host collector read {seen['collector']}"


@pytest.mark.parametrize("combo", _params())
def test_contract_1_the_main_job_succeeds_and_writes_the_artifact(combo: Combination, runs: Runs) -> None:
    r = runs.get(combo)
    if problems := check_main_job(r):
        r.fail("1 (aios-run agent-aggregate succeeds and writes the artifact)", problems)


@pytest.mark.parametrize("combo", _params())
def test_contract_2_status_and_units_answer(combo: Combination, runs: Runs) -> None:
    r = runs.get(combo)
    if problems := check_commands(r):
        r.fail("2 (aios-status and aios-units answer, no internal error)", problems)


@pytest.mark.parametrize("combo", _params())
def test_contract_3_no_secret_appears_in_any_output_or_file(combo: Combination, runs: Runs) -> None:
    r = runs.get(combo)
    if problems := check_secrets(r):
        r.fail("3 (no secret value in any output or written file)", problems)


@pytest.mark.parametrize("combo", _params())
def test_contract_4_json_keys_are_never_rewritten(combo: Combination, runs: Runs) -> None:
    r = runs.get(combo)
    if problems := check_json_keys(r):
        r.fail("4 (JSON keys are never rewritten by redaction)", problems)


@pytest.mark.parametrize("combo", _params())
def test_contract_5_no_syslog_priority_prefix_on_a_pipe(combo: Combination, runs: Runs) -> None:
    r = runs.get(combo)
    if problems := check_syslog_prefixes(r):
        r.fail("5 (no <N> syslog prefix unless stderr is the journal stream)", problems)
