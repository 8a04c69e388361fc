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
PRIV = Privacy(secrets=[SECRET, "SHORT"], home="/home/canaryuserx", users=[USER])


def reference_rules(p: Privacy, text: str) -> Iterator[str]:
    """The rules as plain regex searches over the whole text (slow, obviously right)."""
    if p._secret_re is not None and p._secret_re.search(text):
        yield "contains a secret value"
    if any(re.search(c.pattern, text) for c in P.CREDENTIALS):
        yield "contains a credential"
    if p._home and p._home in text:
        yield "contains the home directory path"
    if P.ABS_PATH.search(text) or P.HOME_PATH.search(text) or P.FILE_URL.search(text):
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
        "sk-",
        "ghp_",
        "eyJ",
        "://",
        ":pw@",
        "Bearer ",
        "authorization: ",
        "--password ",
        "file://",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "SHORT",
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
    for cred in P.CREDENTIALS:
        text = re.sub(cred.pattern, P._mask_group, text)
    text = re.sub(P._ASSIGNMENT, P._mask_group, text)
    text = P.FILE_URL.sub(P.REDACTED_PATH, text)
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


_CONTROL_CLASS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100), max_size=40))
def test_control_stripping_is_the_character_class(text: str) -> None:
    # Each control, line separator and bidi control becomes "?", exactly as the class
    # the translation table replaced; tab, newline and everything else pass.
    assert P._strip_controls(text) == _CONTROL_CLASS.sub("?", text)
    assert P._strip_controls("\t\n\u202a\u2069\u206a\x1b\u009b") == "\t\n??\u206a??"


def test_redact_replaces_every_private_fact() -> None:
    # A path runs over spaces up to a delimiter, so the calendar comes before the paths.
    text = (
        f"calendar *-*-* 0/4:00:00, {SECRET}, /home/canaryuserx/x, /etc/passwd, {USER}, me@example.org, ~/notes\x1b[31m"
    )
    out = PRIV.redact(text)
    for canary in (SECRET, "/home/canaryuserx", "/etc/passwd", USER, "me@example.org", "~/notes", "\x1b"):
        assert canary not in out
    assert "0/4:00:00" in out and list(PRIV.text_rules(out)) == []


def test_secrets_are_decided_by_name_and_form_not_by_where_they_live() -> None:
    secrets = P.secret_values(
        {"API_TOKEN": "tok-123456", "PATH": "/usr/bin", "DESKTOP_SESSION": "debian", "INVOCATION_ID": "29" * 16},
        {
            "VITE_CLAUDE_OS_ENABLED_EXTENSIONS": "trend-finder",
            "LOG_LEVEL": "warning",
            "VITE_DEFAULT_VIEW": "agents",
            "WHATEVER": "hunter22",
            "OPENAI": "sk-proj-" + "a1B2" * 10,
            "DATABASE_URL": "postgres://app:pa55word@localhost/db",
            "USE_SECRET_STORE": "true",
            "TOKENIZERS_PARALLELISM": "false",
        },
    )
    assert secrets == {
        "tok-123456",
        "sk-proj-" + "a1B2" * 10,
        "postgres://app:pa55word@localhost/db",
        "pa55word",
    }


def test_a_multi_line_secret_is_secret_line_by_line() -> None:
    assert P.secret_values({"SESSION_SECRET": "first-line\nsecond-line"}) == {
        "first-line\nsecond-line",
        "first-line",
        "second-line",
    }


def test_short_secrets_are_masked_as_words() -> None:
    p = Privacy(secrets=["pw42"], home=None, users=[])
    assert p.redact("the pw42 value") == "the [redacted] value"
    assert p.redact("xpw42y stays") == "xpw42y stays"
    assert list(p.text_rules("a:pw42")) == ["contains a secret value"]


def test_coincidences_do_not_count_in_reviewed_text() -> None:
    p = Privacy(secrets=["debian-secret", "ubuntu"], home="/home/ubuntu", users=["ubuntu"])
    assert list(p.text_rules("ubuntu", reviewed=True)) == []
    assert list(p.text_rules("ubuntu")) == ["contains a secret value", "contains the user name"]
    # Forms still count: a path or a credential is never a coincidence.
    assert list(p.text_rules("/home/ubuntu/x", reviewed=True)) == [
        "contains the home directory path",
        "contains an absolute path",
    ]
    assert list(p.text_rules("ghp_" + "x" * 36, reviewed=True)) == ["contains a credential"]
    assert p.violations({"os": {"id": "ubuntu"}}, reviewed=True) == []


def test_credentials_in_context_are_masked() -> None:
    cases = {
        "Authorization: Bearer abc.def-123456": "Authorization: Bearer [redacted]",
        "authorization=Basic dXNlcjpwYXNz": "authorization=Basic [redacted]",
        "curl -H 'Bearer abcdefgh1234'": "curl -H 'Bearer [redacted]'",
        "tool --password hunter22 --user me": "tool --password [redacted] --user me",
        "tool --api-key=k3y-value": "tool --api-key=[redacted]",
        "db postgres://app:s3cret-pw@db.example.net:5432/x": "db postgres://app:[redacted]@db.example.net:5432/x",
    }
    for text, masked in cases.items():
        assert PRIV.redact(text) == masked
        assert "contains a credential" in PRIV.text_rules(text)


def test_paths_with_spaces_and_file_urls_are_masked_whole() -> None:
    p = Privacy(secrets=[], home="/home/alex", users=["alex"])
    assert p.redact("cannot read '/srv/My Documents/tax return 2025.pdf'") == "cannot read '<path>'"
    assert p.redact("cannot read /home/alex/My Documents/tax return 2025.pdf: denied") == "cannot read <path>: denied"
    assert p.redact("open file:///srv/a%20b/c.txt") == "open <path>"
    assert p.redact("open FILE:///home/alex/x") == "open <path>"
    assert "contains an absolute path" in p.text_rules("see file:///srv/x")


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


def test_redact_secrets_leaves_forms_and_masks_secrets() -> None:
    # What `aios-units diff --show-paths` shows: the operator's own paths, never a secret.
    text = f'ExecStart="/home/canaryuserx/my venv/bin/aios-run" --token {SECRET} TOKEN=hunter2hunter2 \x1b[2J'
    out = PRIV.redact_secrets(text)
    assert out.startswith('ExecStart="/home/canaryuserx/my venv/bin/aios-run" --token ')
    assert SECRET not in out and "hunter2" not in out and "\x1b" not in out
    assert PRIV.redact(text) != out and "canaryuserx" not in PRIV.redact(text)


def test_a_secret_urls_identifying_parts_are_secrets_too() -> None:
    """A healthcheck ping URL is a credential: its UUID (or ping key) identifies the check
    wherever it shows up, with or without the scheme or a suffix such as ``/start``."""
    uuid = "0f3c1a2b-1111-4222-8333-444455556666"
    url = f"https://hc-ping.com/{uuid}"
    assert P.secret_values({"AIOS_PING_URL_DREAM": url}) == {url, f"hc-ping.com/{uuid}", f"/{uuid}", uuid}
    p = Privacy.from_env({"AIOS_PING_URL_DREAM": url + "/"}, None)
    for text in (f"POST {url}/start?rid=1", f"hc-ping.com/{uuid}/0", f"check {uuid} failed", f"path /{uuid}/fail"):
        out = p.redact_line(text)
        assert uuid not in out and "[redacted]" in out, out
        assert "contains a secret value" in list(p.text_rules(text))
    # The host alone and short words of the path (a slug, "ping") are no secret.
    key = "AbCdEfGhIjKlMnOpQrStUv"
    slugged = Privacy.from_env({"AIOS_PING_URL_AGENT_AGGREGATE": f"https://hc.example.org/ping/{key}/nightly"}, None)
    assert slugged.redact_line(f"key {key} on hc.example.org, slug nightly") == (
        "key [redacted] on hc.example.org, slug nightly"
    )
    assert slugged.redact_line(f"hc.example.org/ping/{key}/nightly/start").startswith("[redacted]")
