"""What a unit of ours really does, judged by the settings the manager has in effect.

A drop-in (``ai-os-x.service.d/override.conf``, or a distribution's ``service.d/*.conf``
that applies to every user service) is judged by what it changes, not by existing:
:data:`SETTINGS` names every setting that decides what our units do, and :func:`changed`
compares the manager's effective values with what the unit file says.  A drop-in that
leaves them all as written *extends* the unit (Fedora's ``TimeoutStopFailureMode=abort``);
one that changes any *overrides* it, and :func:`culprits` names the drop-ins that set it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from aios_systemd._typing import TYPE_CHECKING
from aios_systemd.record import Record

if TYPE_CHECKING:
    from typing import Any

_USEC = 1_000_000


class Setting(Record):
    """One setting that decides what a unit of ours does.

    ``prop`` is its D-Bus property, ``keys`` the unit-file keys that set it, ``default``
    its effective value when the file does not set it, and ``parse`` turns the file's
    values (every assignment, in order) into the form :func:`_plain` gives the property."""

    kind: str  # "service" | "timer"
    prop: str
    keys: tuple[str, ...]
    default: Any
    parse: Callable[[list[str]], Any]


def _last(values: list[str]) -> str | None:
    return values[-1] if values else None


def _words(value: str) -> list[str]:
    """A command line or environment assignment split as systemd splits it: words, double
    or single quotes with C escapes inside, ``%%`` back to ``%``."""
    out: list[str] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(\S+)', value):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        word = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(3)
        out.append(word.replace("%%", "%"))
    return out


def _exec(values: list[str]) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """``ExecStart=`` lines as (path, argv, ignore-failure); an empty one resets the list."""
    out: list[tuple[str, tuple[str, ...], bool]] = []
    for value in values:
        if not value.strip():
            out = []
            continue
        prefix = re.match(r"[-@:+!|]*", value)
        flags = prefix.group(0) if prefix else ""
        # "$$" stays: the manager reports argv before it expands variables at exec time.
        words = _words(value[len(flags) :])
        if not words:
            continue
        path = words[0]
        argv = tuple(words[1:]) if "@" in flags else tuple(words)
        out.append((path, argv, "-" in flags))
    return tuple(out)


def _environment(values: list[str]) -> tuple[str, ...]:
    merged: dict[str, str] = {}
    for value in values:
        if not value.strip():
            merged = {}
            continue
        for word in _words(value):
            name, sep, _ = word.partition("=")
            if sep:
                merged[name] = word
    return tuple(sorted(merged.values()))


def _list(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        out = [] if not value.strip() else [*out, *_words(value)]
    return tuple(sorted(out))


def _bool(values: list[str]) -> bool | None:
    value = _last(values)
    return None if value is None else value.strip().lower() in ("1", "yes", "true", "on")


def _seconds(values: list[str]) -> int | None:
    value = _last(values)
    if value is None:
        return None
    value = value.strip()
    return int(value) * _USEC if value.isdigit() else None  # a unit suffix: compare as unknown


def _text(values: list[str]) -> str | None:
    value = _last(values)
    return None if value is None else value.strip().replace("%%", "%")


def _statuses(values: list[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    codes: list[int] = []
    signals: list[str] = []
    for value in values:
        if not value.strip():
            codes, signals = [], []
            continue
        for word in value.split():
            if word.isdigit():
                codes.append(int(word))
            else:
                signals.append(word.upper().removeprefix("SIG"))
    return tuple(sorted(codes)), tuple(sorted(signals))


def _env_files(values: list[str]) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    for value in values:
        if not value.strip():
            out = []
        else:
            out.append((value.strip().lstrip("-"), value.strip().startswith("-")))
    return tuple(out)


_EXEC_KEYS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost")
_MONOTONIC_KEYS = ("OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec")
# The timer's calendars, which the drift report compares in normalized form itself.
CALENDARS = "TimersCalendar"
_EXTRA_KEYS = {CALENDARS: ("OnCalendar",)}

SETTINGS: tuple[Setting, ...] = (
    Setting("service", "Type", ("Type",), "simple", _text),
    *(Setting("service", key, (key,), (), _exec) for key in _EXEC_KEYS),
    Setting("service", "WorkingDirectory", ("WorkingDirectory",), "", _text),
    Setting("service", "RootDirectory", ("RootDirectory",), "", _text),
    Setting("service", "Environment", ("Environment",), (), _environment),
    Setting("service", "EnvironmentFiles", ("EnvironmentFile",), (), _env_files),
    Setting("service", "UnsetEnvironment", ("UnsetEnvironment",), (), _list),
    Setting("service", "PassEnvironment", ("PassEnvironment",), (), _list),
    Setting("service", "NoNewPrivileges", ("NoNewPrivileges",), False, _bool),
    Setting("service", "TimeoutStartUSec", ("TimeoutStartSec", "TimeoutSec"), None, _seconds),
    Setting("service", "SuccessExitStatus", ("SuccessExitStatus",), ((), ()), _statuses),
    Setting("service", "Restart", ("Restart",), "no", _text),
    Setting("service", "KillMode", ("KillMode",), "control-group", _text),
    Setting("timer", "TimersMonotonic", _MONOTONIC_KEYS, (), tuple),
    Setting("timer", "Persistent", ("Persistent",), False, _bool),
    Setting("timer", "Unit", ("Unit",), None, _text),
    Setting("timer", "RandomizedDelayUSec", ("RandomizedDelaySec",), 0, _seconds),
    Setting("timer", "AccuracyUSec", ("AccuracySec",), 60 * _USEC, _seconds),  # systemd's default, 1min
    Setting("timer", "WakeSystem", ("WakeSystem",), False, _bool),
)
# The properties to read for a unit with drop-ins, per kind (the timer's calendars are
# compared in their normalized form by the drift report itself).
PROPERTIES: Mapping[str, frozenset[str]] = {
    kind: frozenset(s.prop for s in SETTINGS if s.kind == kind) for kind in ("service", "timer")
}


def _plain(prop: str, value: Any) -> Any:
    """A D-Bus value in the form :attr:`Setting.parse` gives."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if prop in _EXEC_KEYS:
        return tuple((_plain("", entry[0]), tuple(_plain("", a) for a in entry[1]), bool(entry[2])) for entry in value)
    if prop == "SuccessExitStatus":
        import signal

        codes, signals = value
        names = []
        for number in signals:
            try:
                names.append(signal.Signals(number).name.removeprefix("SIG"))
            except ValueError:
                names.append(str(number))
        return tuple(sorted(codes)), tuple(sorted(names))
    if prop == "EnvironmentFiles":
        return tuple((_plain("", path), bool(ignore)) for path, ignore in value)
    if prop in ("Environment", "UnsetEnvironment", "PassEnvironment"):
        return tuple(sorted(_plain("", v) for v in value))
    if prop == "TimersMonotonic":
        return tuple(f"{_plain('', base)}={usec}" for base, usec, _next in value)
    if isinstance(value, list | tuple):
        return tuple(_plain("", v) for v in value)
    return value


def sections(text: str) -> dict[str, list[str]]:
    """``Key`` → every value assigned to it in a unit file or drop-in (any section; keys of
    ours do not repeat across sections), comments and continuation lines handled."""
    out: dict[str, list[str]] = {}
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;[":
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def written(text: str, kind: str) -> dict[str, Any]:
    """The settings a unit file of ``kind`` says, each as :func:`loaded` gives it."""
    assigned = sections(text)
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.kind != kind:
            continue
        values = [v for key in setting.keys for v in assigned.get(key, [])]
        parsed = setting.parse(values) if values else None
        out[setting.prop] = setting.default if parsed is None else parsed
    return out


def loaded(properties: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The settings the manager has in effect, from the properties it reported."""
    return {s.prop: _plain(s.prop, properties[s.prop]) for s in SETTINGS if s.kind == kind and s.prop in properties}


def changed(text: str, properties: Mapping[str, Any], kind: str) -> list[str]:
    """The settings whose effective value is not what ``text`` (the unit file) says;
    a property the manager did not report is not judged."""
    want = written(text, kind)
    have = loaded(properties, kind)
    out = []
    for prop, value in have.items():
        expected = want.get(prop)
        if expected is None and prop == "TimeoutStartUSec":
            continue  # the manager's default, which our units never rely on
        if value != expected:
            out.append(prop)
    return out


def culprits(changed_props: Iterable[str], dropins: Sequence[tuple[str, str | None]]) -> list[str]:
    """The drop-ins (label, text; ``None`` when unreadable) that set a changed setting; all
    of them when none can be told apart (unreadable, or set through a reset)."""
    props = set(changed_props)
    keys = {k for s in SETTINGS if s.prop in props for k in s.keys}
    keys |= {k for p in props for k in _EXTRA_KEYS.get(p, ())}
    found = [label for label, text in dropins if text is not None and keys & set(sections(text))]
    return found or [label for label, _ in dropins]


def setting_keys(props: Iterable[str]) -> list[str]:
    """The unit-file keys of changed properties, for an operator (``TimeoutStartSec``)."""
    by_prop = {s.prop: s.keys[0] for s in SETTINGS} | {p: keys[0] for p, keys in _EXTRA_KEYS.items()}
    return [by_prop.get(p, p) for p in props]
