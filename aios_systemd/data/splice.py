"""Byte spans of a JSON document's members, found without building Python objects.

A scoped write keeps most of the artifact as it is.  Parsing the whole file into Python
objects costs about five times its size in memory, so the writer instead finds where the
members it replaces or keeps start and end, and copies the kept ones byte for byte.

The scanner skips values with compiled regular expressions: a string in one match, the
inside of a container in one match as long as what it holds nests at most :data:`DEPTH`
levels, and deeper data one bracket at a time.  It checks only the structure it walks (the root object and the
objects the caller opens); it does not validate what it skips, so it is meant for text
already known to be valid JSON (the writer's own output, recognised by its digest).
Anything unexpected raises :class:`SpliceError`, and the caller takes the full path.
"""

from __future__ import annotations

import json
import re

from aios_systemd.record import Record

DEPTH = 4  # nesting skipped within one regex match (the pattern doubles with each level)

_STR = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_PLAIN = rb'[^"\[\]{}]*+'  # anything but a string or a bracket


def _body(depth: int) -> bytes:
    """What a container holds when the containers in it nest at most ``depth`` deep
    (unrolled: runs of plain text between strings and containers, all possessive)."""
    unit = _STR if depth == 0 else b"(?:" + _STR + b"|" + _container(depth) + b")"
    return _PLAIN + b"(?:" + unit + _PLAIN + b")*+"


def _container(depth: int) -> bytes:
    inner = _body(depth - 1)
    return rb"(?>\[" + inner + rb"\]|\{" + inner + rb"\})"


_WS = re.compile(rb"[ \t\n\r]*+")
_STRING = re.compile(_STR, re.S)
_SCALAR = re.compile(rb"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][-+]?+[0-9]++)?+|true|false|null")
# Everything up to the next bracket that opens or closes something deeper than DEPTH, and it.
_TO_BRACKET = re.compile(_body(DEPTH) + rb"[\[\]{}]", re.S)

_QUOTE, _OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY = 0x22, 0x7B, 0x7D, 0x5B
_COLON, _COMMA = 0x3A, 0x2C


class SpliceError(ValueError):
    """The text is not the JSON shape the scanner expects."""


class Member(Record):
    """One ``"key": value`` of an object: ``buf[start:end]`` is the whole member,
    ``buf[value_start:end]`` its value; ``inner``, the value's own members when the scan
    was asked to open it."""

    key: str
    start: int
    value_start: int
    end: int
    inner: tuple[Member, ...] | None = None


def skip_value(buf: bytes | bytearray, pos: int) -> int:
    """The end of the JSON value that starts at ``pos``."""
    if pos >= len(buf):
        raise SpliceError("a value is missing")
    first = buf[pos]
    if first in (_OPEN_OBJECT, _OPEN_ARRAY):
        # One match per bracket deeper than DEPTH below this one; shallow data is one match.
        depth, at = 1, pos + 1
        while depth:
            match = _TO_BRACKET.match(buf, at)
            if match is None:
                raise SpliceError("a container is not closed")
            at = match.end()
            depth += 1 if buf[at - 1] in (_OPEN_OBJECT, _OPEN_ARRAY) else -1
        return at
    match = (_STRING if first == _QUOTE else _SCALAR).match(buf, pos)
    if match is None:
        raise SpliceError("a value is malformed")
    return match.end()


def _skip_ws(buf: bytes | bytearray, pos: int) -> int:
    match = _WS.match(buf, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _expect(buf: bytes | bytearray, pos: int, byte: int) -> int:
    if pos >= len(buf) or buf[pos] != byte:
        raise SpliceError("unexpected structure")
    return pos + 1


def members(buf: bytes | bytearray, pos: int, path: tuple[str, ...] = ()) -> tuple[list[Member], int]:
    """The members of the object starting at ``pos`` (which must be ``{``) and its end.

    Keys are decoded (they are small); values are only skipped, except the member named
    ``path[0]``, whose value must be an object and is opened along the rest of ``path``
    (so nothing is scanned twice).  A repeated key raises: which one a reader keeps is
    not the scanner's to decide."""
    at = _skip_ws(buf, _expect(buf, pos, _OPEN_OBJECT))
    found: list[Member] = []
    if at < len(buf) and buf[at] == _CLOSE_OBJECT:
        return found, at + 1
    seen: set[str] = set()
    while True:
        if at >= len(buf) or buf[at] != _QUOTE:
            raise SpliceError("a key is missing")
        key_match = _STRING.match(buf, at)
        if key_match is None:
            raise SpliceError("a key is malformed")
        try:
            key = json.loads(buf[at : key_match.end()])
        except (ValueError, UnicodeDecodeError):
            raise SpliceError("a key is malformed") from None
        if key in seen:
            raise SpliceError("a key is repeated")
        seen.add(key)
        value_start = _skip_ws(buf, _expect(buf, _skip_ws(buf, key_match.end()), _COLON))
        if path and key == path[0]:
            inner, end = members(buf, value_start, path[1:])
            found.append(Member(key, at, value_start, end, tuple(inner)))
        else:
            end = skip_value(buf, value_start)
            found.append(Member(key, at, value_start, end))
        at = _skip_ws(buf, end)
        if at < len(buf) and buf[at] == _COMMA:
            at = _skip_ws(buf, at + 1)
            continue
        return found, _expect(buf, at, _CLOSE_OBJECT)


def root_members(buf: bytes | bytearray, path: tuple[str, ...] = ()) -> list[Member]:
    """The members of a document that is one JSON object (whitespace around it allowed),
    with the objects along ``path`` opened (see :func:`members`)."""
    found, end = members(buf, _skip_ws(buf, 0), path)
    if _skip_ws(buf, end) != len(buf):
        raise SpliceError("text follows the document")
    return found
