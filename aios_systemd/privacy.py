"""The one redaction and validation layer for operator output, state, logs meant for
display, and generated data.

Two operations:

* :meth:`Privacy.redact` turns any dynamic text (a handler warning, an exception message)
  into text safe to show: secret values, the home path, user names, e-mail addresses and
  absolute paths are replaced by labels.
* :meth:`Privacy.violations` checks a JSON-like document and names the rule each
  offending location breaks, never the value; writers refuse a document with any.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping

from .record import Record

SECRET_NAME = re.compile(
    r"(?i)(TOKEN|SECRET|PASSW(OR)?D|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|COOKIE|SESSION|AUTH|_KEY$|^KEY$)"
)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# An absolute path starts at a boundary (so "0/4:00:00" in a calendar is not one).
ABS_PATH = re.compile(r"(?<![\w.~*/-])/(?:[^\s/\"'`<>|,;:()\[\]{}]+/?)+")
HOME_PATH = re.compile(r"~/[^\s\"'`<>|,;]*")
MIN_SECRET_LEN = 6
MIN_NAME_LEN = 3

REDACTED_SECRET = "[redacted]"  # noqa: S105 - a label, not a password
REDACTED_PATH = "<path>"
REDACTED_USER = "<user>"
REDACTED_EMAIL = "<email>"


class Violation(Record):
    """A privacy rule broken at a location of a document (the location, never the value)."""

    location: str
    rule: str

    def __str__(self) -> str:
        return f"{self.location}: {self.rule}"


# ``.env.local`` is for secrets, so every value in it counts as one, except these reviewed
# settings whose values are ids and switches the toolkit itself must be able to write
# (``trend-finder`` is both an enabled extension and a key in the generated data).
NON_SECRET_SETTINGS = frozenset(
    {
        "VITE_CLAUDE_OS_ENABLED_EXTENSIONS",
        "AI_OS_DREAM_ENABLED",
        "AI_OS_DREAM_PROVIDER",
        "AI_OS_DREAM_KEEP",
        "AI_OS_DREAM_MATERIAL_MAX_AGE_MINUTES",
        "AI_OS_DREAM_PROVIDER_TIMEOUT_SECS",
        "AI_OS_SCHEDULER_TRIGGER_SOURCE",
        "FINDTREND_APIFY_COLLECTION_BUDGET_SECS",
        "FINDTREND_APIFY_ITEM_LIMIT",
    }
)
# Account names that identify no person; redacting them would mangle ordinary words.
SYSTEM_ACCOUNTS = frozenset({"root", "nobody", "daemon"})


def secret_values(env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> set[str]:
    """Values that must never appear: secret-looking environment variables and every
    value of ``extra`` (``.env.local``) but the reviewed non-secret settings."""
    out = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LEN}
    if extra:
        out |= {v for k, v in extra.items() if k not in NON_SECRET_SETTINGS and len(v) >= MIN_SECRET_LEN}
    return out


class Privacy:
    """Redaction and checking bound to one machine's private facts."""

    def __init__(self, *, secrets: Iterable[str], home: str | None, users: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self._home = home.rstrip("/") if home and home not in ("/", "") else None
        self._users = sorted({u for u in users if len(u) >= MIN_NAME_LEN}, key=len, reverse=True)
        self._secret_re = re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        self._user_re = (
            re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(u) for u in self._users) + r")(?![A-Za-z0-9])")
            if self._users
            else None
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], home: str | None, extra_secrets: Mapping[str, str] | None = None
    ) -> Privacy:
        users = {env.get("USER", ""), env.get("LOGNAME", "")}
        try:
            import pwd

            users.add(pwd.getpwuid(os.getuid()).pw_name)
        except (KeyError, ImportError):
            pass
        users -= {"", *SYSTEM_ACCOUNTS}
        return cls(secrets=secret_values(env, extra_secrets), home=home, users=users)

    def redact(self, text: str) -> str:
        """Text safe for an operator: every private fact replaced by a label."""
        if self._secret_re is not None:
            text = self._secret_re.sub(REDACTED_SECRET, text)
        # Each pattern runs only when the literal every match contains is there: most
        # strings an operator sees (states, times, ids) contain none of them.
        if "=" in text:
            # NAME=value with a secret-looking NAME: the value is a secret even when this
            # machine's environment does not hold it (a token pasted into a unit file).
            text = _assignment().sub(_mask_secret_assignment, text)
        if self._home:
            text = text.replace(self._home, "~")
        if "~/" in text:
            text = HOME_PATH.sub(REDACTED_PATH, text)
        if "/" in text:
            text = ABS_PATH.sub(REDACTED_PATH, text)
        if "@" in text:
            text = EMAIL.sub(REDACTED_EMAIL, text)
        if self._user_re is not None:
            text = self._user_re.sub(REDACTED_USER, text)
        return _strip_controls(text)

    def redact_line(self, text: str) -> str:
        """:meth:`redact` for text shown as one line (warnings, status fields, journal
        lines): line breaks and tabs become spaces, so no value can forge a second line
        (a journal entry with its own ``<3>`` priority, a fake status row)."""
        return self.redact(_LINE_BREAKS.sub(" ", text))

    def text_rules(self, text: str) -> Iterator[str]:
        """The privacy rules ``text`` breaks (names of rules, never the matching text).

        Each pattern is anchored on a literal it must contain ('/', '@', the name), found
        with a plain substring scan first: a regex tried at every position of a
        multi-megabyte document costs more than the whole write it guards.
        """
        if any(secret in text for secret in self._secrets):
            yield "contains a secret value"
        if self._home and self._home in text:
            yield "contains the home directory path"
        if _anchored(text, "/", ABS_PATH) or ("~/" in text and HOME_PATH.search(text)):
            yield "contains an absolute path"
        if _email_in(text):
            yield "contains an e-mail address"
        if self._user_re is not None and any(_anchored(text, u, self._user_re) for u in self._users):
            yield "contains the user name"

    def violations(self, document: object, where: str = "$") -> list[Violation]:
        """Every privacy violation in a JSON-like document, by location and rule."""
        found: list[Violation] = []
        stack: list[tuple[str, object]] = [(where, document)]
        while stack:
            loc, node = stack.pop()
            if isinstance(node, str):
                found.extend(Violation(loc, r) for r in self.text_rules(node))
            elif isinstance(node, Mapping):
                for key, value in node.items():
                    skey = str(key)
                    for rule in self.text_rules(skey):
                        found.append(Violation(loc, "a key " + rule))
                    stack.append((f"{loc}.{_safe_key(skey)}", value))
            elif isinstance(node, list | tuple):
                stack.extend((f"{loc}[{i}]", v) for i, v in enumerate(node))
        return found


@functools.cache
def _assignment() -> re.Pattern[str]:
    """NAME=value where NAME looks like a secret's (the words of SECRET_NAME inside a name).

    Compiled on first need: it is the costliest pattern here to compile, and most commands
    never show a string with an ``=`` in it."""
    return re.compile(
        r"(?i)(?<![A-Za-z0-9_])([A-Za-z0-9_]*(?:TOKEN|SECRET|PASSW(?:OR)?D|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL"
        r"|COOKIE|SESSION|AUTH|_KEY\b|^KEY\b)[A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s\"']+)"
    )


def _mask_secret_assignment(match: re.Match[str]) -> str:
    return f"{match.group(1)}={REDACTED_SECRET}"


def _anchored(text: str, literal: str, pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` matches at some occurrence of ``literal`` (which every match
    starts with; lookbehinds still see the text before it)."""
    at = text.find(literal)
    while at != -1:
        if pattern.match(text, at):
            return True
        at = text.find(literal, at + 1)
    return False


_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _email_in(text: str) -> bool:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        if start < at and EMAIL.match(text, start):
            return True
        at = text.find("@", at + 1)
    return False


_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85]+")


def _safe_key(key: str) -> str:
    return key if _KEY_SHAPE.fullmatch(key) else "<key>"


# C0 controls but tab and newline, DEL, Unicode line/paragraph separators and the bidi
# embedding, override and isolate controls.  A translation table, not a character-class
# regex: it is faster per call, and compiling that class (sre builds a map for the ranges
# above U+00FF) cost about 1 ms of every command's start.
_CONTROLS = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)],
    "?",
)


def _strip_controls(text: str) -> str:
    # Terminal escapes and bidi overrides can disguise what an operator reads.
    return text.translate(_CONTROLS)
