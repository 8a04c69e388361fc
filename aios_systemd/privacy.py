"""The one redaction and validation layer for operator output, state, logs meant for
display, and generated data.

What is private is decided precisely, so that ordinary settings never break a run:

* a **secret** is a value whose variable's name says so (``*TOKEN*``, ``*SECRET*``,
  ``*PASSWORD*``, ``*_KEY``, ``*CREDENTIAL*``, DSNs, healthcheck ping URLs...) or that has
  a known credential form (``sk-...``, ``ghp_...``, ``apify_api_...``, a JWT, a URL with a
  password), in the environment or in ``.env.local`` alike.  Nothing is a secret by
  entropy or by sitting in ``.env.local`` (``LOG_LEVEL=warning`` is a setting, and
  ``INVOCATION_ID`` an id);
* **forms** are private wherever they appear: absolute and home paths (with their spaces),
  ``file://`` URLs, e-mail addresses, credentials in context (``Authorization: Bearer``,
  ``--password X``, ``NAME=value`` with a secret-looking name, a URL's password);
* **coincidences** are private only in text from outside sources: a secret value or the
  user's name inside a dataset title is masked, but the same word produced by a reviewed
  collector from a reviewed source (the OS id ``debian`` on a machine whose user is
  ``debian``) is that fact, not the secret.  Callers say which text is *reviewed*.

Two operations:

* :meth:`Privacy.redact` turns any dynamic text (a handler warning, an exception message)
  into text safe to show: secrets, credentials, the home path, paths, user names and
  e-mail addresses are replaced by labels, and control characters that could disguise
  what an operator reads are stripped.
* :meth:`Privacy.violations` checks a JSON-like document and names the rule each
  offending location breaks, never the value; writers refuse a document with any.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping

from .record import Record

# Variable names that say their value is a credential.  Not SESSION or AUTH alone:
# DESKTOP_SESSION, XDG_SESSION_ID, SSH_AUTH_SOCK and XAUTHORITY are session plumbing.
SECRET_NAME = re.compile(
    r"(?i)(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY|_KEY$|^KEY$|(^|_)DSN$|^AIOS_PING_URL_)"
)
# Values that switch something on or off are never credentials, whatever the name
# (``TOKENIZERS_PARALLELISM=false``, ``USE_SECRET_STORE=1``).
SWITCH_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled"})
MIN_SECRET_LEN = 4
# A secret shorter than this is masked only as a whole word: "admin" inside
# "administrator" is a word that contains it, not the secret.
WORD_SECRET_LEN = 8
MIN_NAME_LEN = 3

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A path starts at a boundary (so "0/4:00:00" in a calendar is not one) and runs over
# single spaces up to a delimiter, so "My Documents/tax return.pdf" is masked whole.
_SEG = r"[^\s/\"'`<>|,;:()\[\]{}]"
ABS_PATH = re.compile(rf"(?<![\w.~*/-])/(?:{_SEG}+(?: +{_SEG}+)*/?)+")
HOME_PATH = re.compile(rf"~/(?:{_SEG}+(?: +{_SEG}+)*/?)*")
FILE_URL = re.compile(rf"(?i)(?<![\w.+-])file://(?:{_SEG}|[/:])*(?: +{_SEG}(?:{_SEG}|/)*)*")

REDACTED_SECRET = "[redacted]"  # noqa: S105 - a label, not a password
REDACTED_PATH = "<path>"
REDACTED_USER = "<user>"
REDACTED_EMAIL = "<email>"

# Account names that identify no person; redacting them would mangle ordinary words.
SYSTEM_ACCOUNTS = frozenset({"root", "nobody", "daemon"})


class Violation(Record):
    """A privacy rule broken at a location of a document (the location, never the value)."""

    location: str
    rule: str

    def __str__(self) -> str:
        return f"{self.location}: {self.rule}"


# -- credentials by form ---------------------------------------------------------------
class _Credential(Record):
    """One credential form: ``literal`` is in every match (in the lower-cased text when
    ``fold``), the pattern starts at it, and its ``secret`` group is what gets masked."""

    literal: str
    pattern: str
    fold: bool = False


_BOUNDARY = r"(?<![A-Za-z0-9_-])"  # a token starts after no token character
# Issued tokens: each vendor's documented prefix and a length no word reaches.
_FORMS = (
    _Credential("sk-", _BOUNDARY + r"(?P<secret>sk-[A-Za-z0-9_-]{20,})"),  # OpenAI, Anthropic
    *(_Credential(p, _BOUNDARY + rf"(?P<secret>{p}[A-Za-z0-9]{{30,}})") for p in ("ghp_", "gho_", "ghu_", "ghs_")),
    _Credential("ghr_", _BOUNDARY + r"(?P<secret>ghr_[A-Za-z0-9]{30,})"),
    _Credential("github_pat_", _BOUNDARY + r"(?P<secret>github_pat_[A-Za-z0-9_]{30,})"),
    _Credential("apify_api_", _BOUNDARY + r"(?P<secret>apify_api_[A-Za-z0-9]{20,})"),
    _Credential("glpat-", _BOUNDARY + r"(?P<secret>glpat-[A-Za-z0-9_-]{20,})"),
    _Credential("xox", _BOUNDARY + r"(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,})"),
    _Credential("AKIA", _BOUNDARY + r"(?P<secret>AKIA[0-9A-Z]{16})(?![A-Za-z0-9])"),
    _Credential("AIza", _BOUNDARY + r"(?P<secret>AIza[0-9A-Za-z_-]{35})"),
    *(_Credential(p, _BOUNDARY + rf"(?P<secret>{p}[0-9A-Za-z]{{16,}})") for p in ("sk_live_", "rk_live_")),
    # A JWT: base64url JSON header and payload ('{"' encodes as "eyJ"), then a signature.
    _Credential("eyJ", _BOUNDARY + r"(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"),
)
# A URL's password: scheme://user:PASSWORD@host (the user and host stay readable).
_URL_PASSWORD = _Credential("://", r"://[^\s/:@\"'<>]*:(?P<secret>[^\s/@\"'<>]+)@")
# Credentials recognised by their context; the secret is the part after the context.
_CONTEXTS = (
    _URL_PASSWORD,
    _Credential(
        "authorization",
        r"(?i)authorization\s*[:=]\s*(?:(?:bearer|basic|token|digest)\s+)?(?P<secret>[^\s\"',;]+)",
        fold=True,
    ),
    _Credential("bearer", r"(?i)(?<![A-Za-z0-9])bearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{6,})", fold=True),
    _Credential(
        "--",
        r"(?i)--(?:password|passwd|pass|pwd|token|secret|api-?key|access-?key|auth-?token|client-?secret)"
        r"(?:=|\s+)(?P<secret>\"[^\"]*\"|'[^']*'|[^\s\"']+)",
    ),
)
CREDENTIALS = (*_FORMS, *_CONTEXTS)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Compiled on first need: most text an operator sees holds none of the literals.
    return re.compile(pattern)


def _present(text: str, lowered: str | None, cred: _Credential) -> bool:
    return cred.literal in (lowered if cred.fold and lowered is not None else text)


def _lowered(text: str) -> str | None:
    return text.lower() if any(c.fold for c in CREDENTIALS) else None


def has_credential_form(text: str) -> bool:
    """Whether ``text`` holds a credential by its form (an issued token, a URL with a
    password, an ``Authorization`` value, a ``--password`` argument)."""
    lowered = _lowered(text)
    for cred in CREDENTIALS:
        if not _present(text, lowered, cred):
            continue
        pattern = _compiled(cred.pattern)
        if cred.fold:
            if pattern.search(text):
                return True
        elif _anchored(text, cred.literal, pattern):
            return True
    return False


def _mask_group(match: re.Match[str]) -> str:
    whole, start = match.group(0), match.start()
    return whole[: match.start("secret") - start] + REDACTED_SECRET + whole[match.end("secret") - start :]


def _mask_credentials(text: str) -> str:
    lowered = _lowered(text)
    for cred in CREDENTIALS:
        if _present(text, lowered, cred):
            text = _compiled(cred.pattern).sub(_mask_group, text)
    return text


# -- secrets by name and form ------------------------------------------------------------
def is_secret(name: str, value: str) -> bool:
    """Whether the variable ``name=value`` holds a credential (by its name or its form)."""
    value = value.strip()
    if len(value) < MIN_SECRET_LEN or value.lower() in SWITCH_WORDS:
        return False
    return bool(SECRET_NAME.search(name)) or has_credential_form(value)


# A path segment of a secret URL this long identifies what the URL grants (a healthcheck's
# UUID, a project's ping key): shorter ones are words (``ping``, a slug) masked only in
# the whole URL.
URL_ID_LEN = 16


def _url_parts(line: str) -> set[str]:
    """What of a secret URL can show up on its own: the URL without its scheme (an HTTP
    library's message, ``hc-ping.com/<uuid>/start``), its path, and its long path segments.
    None for a URL with a user part: its password is the secret, not where it points."""
    _, sep, rest = line.partition("://")
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    host, _, path = rest.partition("/")
    if not sep or "@" in host:
        return set()
    segments = {s for s in path.split("/") if len(s) >= URL_ID_LEN}
    if not segments:
        return {rest.rstrip("/")}
    return {rest.rstrip("/"), "/" + path.rstrip("/"), *segments}


def _secret_parts(value: str) -> set[str]:
    """The value, each of its lines, the password of a URL in it and the parts of a URL
    that identify what it grants: each is a secret."""
    lines = {value.strip(), *(line.strip() for line in value.splitlines())}
    parts = set(lines)
    parts |= {m.group("secret") for m in _compiled(_URL_PASSWORD.pattern).finditer(value)}
    for line in lines:
        if "://" in line:
            parts |= _url_parts(line)
    return {p for p in parts if len(p) >= MIN_SECRET_LEN and p.lower() not in SWITCH_WORDS}


def secret_values(*sources: Mapping[str, str]) -> set[str]:
    """Values that must never appear: every secret (by name or form) in ``sources``
    (the process environment, ``.env.local``)."""
    out: set[str] = set()
    for env in sources:
        for name, value in env.items():
            if is_secret(name, value):
                out |= _secret_parts(value)
    return out


class Privacy:
    """Redaction and checking bound to one machine's private facts."""

    def __init__(self, *, secrets: Iterable[str], home: str | None, users: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self._home = home.rstrip("/") if home and home not in ("/", "") else None
        self._users = sorted({u for u in users if len(u) >= MIN_NAME_LEN}, key=len, reverse=True)
        self._secret_re = _alternation(self._secrets) if self._secrets else None
        self._user_re = (
            re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(u) for u in self._users) + r")(?![A-Za-z0-9])")
            if self._users
            else None
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], home: str | None, env_local: Mapping[str, str] | None = None) -> Privacy:
        users = {env.get("USER", ""), env.get("LOGNAME", "")}
        try:
            import pwd

            users.add(pwd.getpwuid(os.getuid()).pw_name)
        except (KeyError, ImportError):
            pass
        users -= {"", *SYSTEM_ACCOUNTS}
        return cls(secrets=secret_values(env, env_local or {}), home=home, users=users)

    def redact(self, text: str) -> str:
        """Text safe for an operator: every private fact replaced by a label.

        Redact whole strings, then cut them: a secret cut in half no longer matches."""
        text = self._mask_secrets(text)
        if "file:" in text.lower():
            text = FILE_URL.sub(REDACTED_PATH, text)
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

    def redact_secrets(self, text: str) -> str:
        """:meth:`redact` with the forms left as they are (paths, the home directory, user
        names, e-mail addresses): for text the operator asked to see literally on their own
        terminal (``aios-units diff --show-paths``).  Secrets and credentials stay masked
        and control characters stripped."""
        return _strip_controls(self._mask_secrets(text))

    def _mask_secrets(self, text: str) -> str:
        if self._secret_re is not None and self._has_secret(text):
            text = self._secret_re.sub(REDACTED_SECRET, text)
        text = _mask_credentials(text)
        # Each pattern runs only when the literal every match contains is there: most
        # strings an operator sees (states, times, ids) contain none of them.
        if "=" in text:
            # NAME=value with a secret-looking NAME: the value is a secret even when this
            # machine's environment does not hold it (a token pasted into a unit file).
            text = _compiled(_ASSIGNMENT).sub(_mask_group, text)
        return text

    def redact_line(self, text: str) -> str:
        """:meth:`redact` for text shown as one line (warnings, status fields, journal
        lines): line breaks and tabs become spaces, so no value can forge a second line
        (a journal entry with its own ``<3>`` priority, a fake status row)."""
        return self.redact(_LINE_BREAKS.sub(" ", text))

    def _has_secret(self, text: str) -> bool:
        # A substring scan first (fast); the pattern then applies the word rule to short ones.
        return (
            any(s in text for s in self._secrets) and self._secret_re is not None and bool(self._secret_re.search(text))
        )

    def text_rules(self, text: str, *, reviewed: bool = False) -> Iterator[str]:
        """The privacy rules ``text`` breaks (names of rules, never the matching text).

        ``reviewed`` text was produced by a reviewed collector from a reviewed source: a
        secret value or the user name found in it is a coincidence (the OS id equals the
        user name), so only the rules about forms apply.

        Each pattern is anchored on a literal it must contain ('/', '@', the name), found
        with a plain substring scan first: a regex tried at every position of a
        multi-megabyte document costs more than the whole write it guards.
        """
        if not reviewed and self._has_secret(text):
            yield "contains a secret value"
        if has_credential_form(text):
            yield "contains a credential"
        if self._home and self._home in text:
            yield "contains the home directory path"
        if (
            _anchored(text, "/", ABS_PATH)
            or ("~/" in text and HOME_PATH.search(text))
            or ("file:" in text.lower() and FILE_URL.search(text))
        ):
            yield "contains an absolute path"
        if _email_in(text):
            yield "contains an e-mail address"
        if not reviewed and self._user_re is not None and any(_anchored(text, u, self._user_re) for u in self._users):
            yield "contains the user name"

    def violations(
        self, document: object, where: str = "$", *, reviewed: bool = False, structure: int = 0
    ) -> list[Violation]:
        """Every privacy violation in a JSON-like document, by location and rule
        (``reviewed``: see :meth:`text_rules`).  Keys of the outer ``structure`` levels
        are the document's own structure (field names, reviewed ids), checked as reviewed
        text: a user called ``items`` is not found in ``{"items": ...}``."""
        found: list[Violation] = []
        stack: list[tuple[str, object, int]] = [(where, document, 0)]
        while stack:
            loc, node, depth = stack.pop()
            if isinstance(node, str):
                found.extend(Violation(loc, r) for r in self.text_rules(node, reviewed=reviewed))
            elif isinstance(node, Mapping):
                for key, value in node.items():
                    skey = str(key)
                    for rule in self.text_rules(skey, reviewed=reviewed or depth < structure):
                        found.append(Violation(loc, "a key " + rule))
                    stack.append((f"{loc}.{_safe_key(skey)}", value, depth + 1))
            elif isinstance(node, list | tuple):
                stack.extend((f"{loc}[{i}]", v, depth + 1) for i, v in enumerate(node))
        return found


def _alternation(secrets: list[str]) -> re.Pattern[str]:
    """One pattern for every secret: long ones anywhere, short ones as whole words."""
    long = [re.escape(s) for s in secrets if len(s) >= WORD_SECRET_LEN]
    short = [re.escape(s) for s in secrets if len(s) < WORD_SECRET_LEN]
    branches = long + ([r"(?<![A-Za-z0-9])(?:" + "|".join(short) + r")(?![A-Za-z0-9])"] if short else [])
    return re.compile("|".join(branches))


# NAME=value where NAME looks like a secret's (the words of SECRET_NAME inside a name).
_ASSIGNMENT = (
    r"(?i)(?<![A-Za-z0-9_])[A-Za-z0-9_]*(?:TOKEN|SECRET|PASSW(?:OR)?D|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY"
    r"|_KEY\b|^KEY\b|_DSN\b)[A-Za-z0-9_]*=(?P<secret>\"[^\"]*\"|'[^']*'|[^\s\"']+)"
)


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


# C0 and C1 controls but tab and newline, DEL, Unicode line/paragraph separators and the
# bidi embedding, override and isolate controls (C1's CSI, U+009B, starts a terminal
# escape as ESC [ does).  A translation table, not a character-class regex: it is faster
# per call, and compiling that class cost about 1 ms of every command's start.
_CONTROLS = dict.fromkeys(
    [
        *range(0x00, 0x09),
        *range(0x0B, 0x20),
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ],
    "?",
)


def _strip_controls(text: str) -> str:
    # Terminal escapes and bidi overrides can disguise what an operator reads.
    return text.translate(_CONTROLS)
