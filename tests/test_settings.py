"""The settings table: what doctor compares between the user manager and the shell."""

from __future__ import annotations

from aios_systemd import settings

URL = "https://hc-ping.com/0f3c1a2b-1111-4222-8333-444455556666"


def names(found: list[settings.EnvSetting]) -> list[str]:
    return [s.name for s in found]


def test_a_ping_url_is_one_setting_per_job_compared_by_presence_only() -> None:
    member = settings.PING_URL.for_job("agent-aggregate")
    assert member.name == "AIOS_PING_URL_AGENT_AGGREGATE" and member.secret and not member.per_job
    # Set for the shell only: a timer run would not ping.
    assert names(settings.differing({}, {member.name: URL}, {})) == [member.name]
    # Set on both sides to different URLs: a credential's value is never compared.
    assert settings.differing({member.name: URL}, {member.name: URL + "x"}, {}) == []
    # In .env.local, timer runs read it too.
    assert settings.differing({}, {}, {member.name: URL}) == []
    other = settings.PING_URL.for_job("dream").name
    assert names(settings.differing({other: URL}, {member.name: URL}, {})) == sorted([member.name, other])


def test_the_metrics_file_is_compared_by_value() -> None:
    name = settings.METRICS_FILE.name
    assert name == "AIOS_METRICS_FILE"
    assert names(settings.differing({name: "/a/aios.prom"}, {name: "/b/aios.prom"}, {})) == [name]
    assert settings.differing({}, {}, {name: "/a/aios.prom"}) == []


def test_value_prefers_the_environment_over_env_local() -> None:
    name = settings.METRICS_FILE.name
    assert settings.value(settings.METRICS_FILE, {name: "env"}, {name: "file"}) == "env"
    assert settings.value(settings.METRICS_FILE, {}, {name: "file"}) == "file"
    assert settings.value(settings.HOME, {}, {"HOME": "file"}) is None  # read by the OS, not from .env.local


def test_set_by_manager_only_when_the_managers_value_wins_over_env_local() -> None:
    dream = settings.DREAM_ENABLED
    # The manager sets it otherwise than .env.local: its value wins for every timer run.
    assert settings.set_by_manager(dream, {dream.name: "false"}, {dream.name: "true"})
    assert settings.set_by_manager(settings.TZ, {"TZ": "Asia/Tokyo"}, {})
    # The manager says what .env.local says: removing it changes nothing (the shell differs).
    assert not settings.set_by_manager(dream, {dream.name: "true"}, {dream.name: "true"})
    assert not settings.set_by_manager(dream, {}, {dream.name: "true"})
    # HOME comes from the user's account: never one to remove.
    assert not settings.set_by_manager(settings.HOME, {"HOME": "/home/a"}, {})
