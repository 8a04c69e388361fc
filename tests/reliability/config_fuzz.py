"""Scenario 8: hostile local configs (hypothesis) through ``config.parse`` and, for a sample,
through the real ``aios-status --json``.  Nothing crashes, nothing unreviewed is accepted,
no warning echoes a raw value: canary strings are planted in values and keys."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios_systemd import config
from aios_systemd.registry import REGISTRY, calendars_for
from tests.reliability.common import BIN, Attempt, Counts, Tally, clean_env, run
from tests.support.safe_dirs import safe_directory

CANARY = "zqcanary"
_counter = itertools.count()
WARNING_ALPHABET = re.compile(r"[A-Za-z0-9 _.$\[\]<>:,()-]*")


def canary() -> str:
    return f"{CANARY}{next(_counter):06d}"


canaries = st.builds(canary)
tricky_text = st.sampled_from(
    [
        "hourly",
        "daily-0600",
        "every-4-hours",
        "*-*-* 0/4:00:00",
        "*:0/1",
        "minutely",
        "06:30",
        "6:30",
        "25:61",
        "06:30\n",
        "06:30 ",
        "０６:３０",
        "06\u200b:30",
        "$(rm -rf ~)",
        "`id`",
        "; reboot",
        "/etc/passwd",
        "../../x",
        "%h/%u",
        "\x1b[2J",
        "\u202eevil",
        "a\x00b",
        "ExecStart=/bin/sh",
        "\ud800",
    ]
) | st.text(max_size=30)
keys = (
    st.sampled_from(
        [
            "schemaVersion",
            "jobs",
            "timerEnabled",
            "cadence",
            "times",
            "command",
            "ExecStart",
            "__proto__",
            "agent-aggregate",
            "dream",
            "trend-finder",
            "aggregate",
        ]
    )
    | canaries
    | st.text(max_size=12)
)
scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**30) | st.floats() | canaries | tricky_text
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20
)
job_entry = st.dictionaries(keys, values, max_size=5)
documents = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 1.0, "1", 2, True, None]) | values,
        "jobs": st.dictionaries(st.sampled_from([j.id for j in REGISTRY]) | keys, job_entry | values, max_size=5),
    },
).flatmap(lambda d: st.dictionaries(keys, values, max_size=2).map(lambda extra: {**extra, **d}))


def _encode(doc: object, how: int) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    if how == 1:
        return ("[" * 3000 + "]" * 3000).encode()  # deeper than the parser goes
    if how == 2:
        return text.encode("utf-16")  # not UTF-8
    if how == 3:
        return text.encode()[: max(1, len(text) // 2)]  # cut short
    if how == 4:
        return b'{"schemaVersion": ' + b"9" * 5000 + b"}"  # longer than int() accepts
    return text.encode()


raw_bytes = st.binary(max_size=200).map(lambda b: (b, -1))
encoded = st.tuples(documents, st.sampled_from([0] * 12 + [1, 2, 3, 4])).map(lambda t: (_encode(t[0], t[1]), t[1]))


def check_parsed(a: Attempt, cfg: config.LocalConfig) -> None:
    for job in REGISTRY:
        s = cfg.settings(job.id)
        a.check(s.cadence.id in job.cadences, "unreviewed cadence accepted")
        reviewed = REGISTRY.cadence(s.cadence.id)
        if s.times:
            a.check(all(re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", t) for t in s.times), "unreviewed time accepted")
        else:
            a.check(s.calendars == calendars_for(job, reviewed, job.default_times), "calendar not from registry")
        a.check(s.timer_enabled in (None, True, False), "timerEnabled not a boolean")
    for w in cfg.warnings:
        text = str(w)
        if CANARY in text.lower():
            a.leak("warning echoes a planted value")
        a.check(bool(WARNING_ALPHABET.fullmatch(text)), "warning with characters outside the reviewed copy")


def scenario(counts: Counts, rng: random.Random) -> Tally:
    tally = Tally("config-fuzz")
    samples: list[bytes] = []

    @settings(
        max_examples=counts.config_docs,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=encoded | raw_bytes)
    def body(case: tuple[bytes, int]) -> None:
        data, _how = case
        with tally.attempt() as a:
            try:
                cfg = config.parse(data, REGISTRY)
            except Exception as exc:  # noqa: BLE001 - any exception is the failure being counted
                a.lose(f"config.parse crashed: {type(exc).__name__}")
                return
            check_parsed(a, cfg)
        if len(samples) < counts.config_status and CANARY.encode() in data:
            samples.append(data)

    body._hypothesis_internal_use_seed = rng.randrange(1 << 30)  # type: ignore[attr-defined]
    body()
    status_tally(tally, samples)
    return tally


def status_tally(tally: Tally, samples: list[bytes]) -> None:
    with safe_directory("campaign-config-") as root:
        project = root / "project"
        (project / "data").mkdir(parents=True)
        env = clean_env(AIOS_SCHEDULER_ROOT=str(root / "sched"), AIOS_PROJECT_ROOT=str(project), HOME=str(root))
        for data in samples:
            with tally.attempt() as a:
                Path(project / "data" / "ai-os.scheduler.json").write_bytes(data)
                for argv in (
                    [str(BIN / "aios-status"), "--json", "--no-timers"],
                    [str(BIN / "aios-status"), "--no-timers"],
                ):
                    done = run(argv, env, cwd=project, timeout=60)
                    a.check(
                        done.returncode == 0 and "Traceback" not in done.stderr, f"aios-status exit {done.returncode}"
                    )
                    if CANARY in (done.stdout + done.stderr).lower():
                        a.leak("aios-status echoes a planted value")
                    if "--json" in argv and done.returncode == 0:
                        doc = json.loads(done.stdout)
                        for job in doc.get("jobs", []):
                            a.check(
                                job["cadence"]["id"] in REGISTRY.get(job["job"]).cadences,
                                "aios-status shows an unreviewed cadence",
                            )
