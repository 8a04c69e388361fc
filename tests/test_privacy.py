"""Redaction and the privacy check; the fast scans agree with the plain patterns."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from aios_systemd import privacy as P
from aios_systemd.privacy import Privacy

USER = "canaryuserx"
SECRET = "canary-secret-7f3a9c51e2"
PRIV = Privacy(secrets=[SECRET], home="/home/canaryuserx", users=[USER])


def reference_rules(p: Privacy, text: str) -> Iterator[str]:
    """The rules as plain regex searches over the whole text (slow, obviously right)."""
    if p._secret_re is not None and p._secret_re.search(text):
        yield "contains a secret value"
    if p._home and p._home in text:
        yield "contains the home directory path"
    if P.ABS_PATH.search(text) or P.HOME_PATH.search(text):
        yield "contains an absolute path"
    if P.EMAIL.search(text):
        yield "contains an e-mail address"
    if p._user_re is not None and p._user_re.search(text):
        yield "contains the user name"


pieces = st.sampled_from(
    [
        "/",
        "@",
        ".",
        "-",
        "_",
        "~/",
        "0/4",
        " ",
        "a",
        "Z",
        "9",
        "example.org",
        USER,
        SECRET,
        "/home/",
        "x@y",
        "é",
        ":",
        "*",
        "\n",
        '"',
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(pieces | st.text(max_size=3), max_size=30).map("".join))
def test_fast_scan_matches_the_plain_patterns(text: str) -> None:
    assert list(PRIV.text_rules(text)) == list(reference_rules(PRIV, text))


def reference_redact(p: Privacy, text: str) -> str:
    """Every substitution on every string, no literal gating (slow, obviously right)."""
    if p._secret_re is not None:
        text = p._secret_re.sub(P.REDACTED_SECRET, text)
    text = P._assignment().sub(P._mask_secret_assignment, text)
    if p._home:
        text = text.replace(p._home, "~")
    text = P.HOME_PATH.sub(P.REDACTED_PATH, text)
    text = P.ABS_PATH.sub(P.REDACTED_PATH, text)
    text = P.EMAIL.sub(P.REDACTED_EMAIL, text)
    if p._user_re is not None:
        text = p._user_re.sub(P.REDACTED_USER, text)
    return P._strip_controls(text)


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        pieces | st.sampled_from(["=", "API_TOKEN=", "key=", "'v'", "\x1b"]) | st.text(max_size=3), max_size=30
    ).map("".join)
)
def test_redact_skips_only_patterns_that_cannot_match(text: str) -> None:
    assert PRIV.redact(text) == reference_redact(PRIV, text)


_CONTROL_CLASS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100), max_size=40))
def test_control_stripping_is_the_character_class(text: str) -> None:
    # Each control, line separator and bidi control becomes "?", exactly as the class
    # the translation table replaced; tab, newline and everything else pass.
    assert P._strip_controls(text) == _CONTROL_CLASS.sub("?", text)
    assert P._strip_controls("\t\n\u202a\u2069\u206a\x1b") == "\t\n??\u206a?"


def test_redact_replaces_every_private_fact() -> None:
    text = f"{SECRET} /home/canaryuserx/x /etc/passwd {USER} me@example.org ~/notes calendar *-*-* 0/4:00:00\x1b[31m"
    out = PRIV.redact(text)
    for canary in (SECRET, "/home/canaryuserx", "/etc/passwd", USER, "me@example.org", "~/notes", "\x1b"):
        assert canary not in out
    assert "0/4:00:00" in out and list(PRIV.text_rules(out)) == []


def test_env_local_values_are_secrets_but_reviewed_settings_are_not() -> None:
    secrets = P.secret_values(
        {"API_TOKEN": "tok-123456", "PATH": "/usr/bin"},
        {"VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "trend-finder", "WHATEVER": "hunter22"},
    )
    assert secrets == {"tok-123456", "hunter22"}


def test_system_accounts_are_not_user_names() -> None:
    p = Privacy.from_env({"USER": "root", "LOGNAME": "root"}, "/root")
    assert p.redact("the project root") == "the project root"


def test_redact_line_cannot_forge_a_second_line() -> None:
    assert PRIV.redact_line("x\n<3>forged\r\ttab") == "x <3>forged tab"


def test_secret_looking_assignments_are_masked_even_when_unknown() -> None:
    out = PRIV.redact('Environment=SECRET_TOKEN=hunter2hunter2 APIFY_TOKEN="a b" MODE=fast')
    assert "hunter2" not in out and '"a b"' not in out and "MODE=fast" in out


def test_unit_diff_hides_environment_values() -> None:
    from aios_systemd.units.drift import _unified_diff

    installed = "[Service]\nEnvironment=PLANS=/srv/alice plans/q3 merger.txt\nType=oneshot\n"
    rendered = "[Service]\nEnvironment=AI_OS_SCHEDULER_TRIGGER_SOURCE=systemd\nType=oneshot\n"
    diff = _unified_diff(installed, rendered, "x.service", PRIV.redact)
    assert "plans" not in diff and "merger" not in diff
    assert "-Environment=<hidden>" in diff and "+Environment=AI_OS_SCHEDULER_TRIGGER_SOURCE=systemd" in diff
