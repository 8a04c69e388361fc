"""The ownership stamp: ours, hand-edited and foreign files told apart."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from aios_systemd import __version__
from aios_systemd.units.stamp import HEADER_TITLE, MARKER, TOOL, Ownership, body_of, classify, stamp

BODY = "[Unit]\nDescription=AI OS scheduled job dream: Dream\n\n[Service]\nType=oneshot\n"
FOREIGN = "[Unit]\nDescription=Someone else's timer\n\n[Timer]\nOnCalendar=daily\n"


def test_header_names_the_tool_a_format_and_the_body_hash() -> None:
    text = stamp(BODY)
    first, second, rest = text.split("\n", 2)
    assert first.startswith("#") and TOOL in first
    assert second == f"# {MARKER} format=1 sha256={hashlib.sha256(BODY.encode()).hexdigest()}"
    assert rest == BODY
    # An upgrade alone must not turn every installed unit into drift.
    assert __version__ not in first + second


def test_our_untouched_file_is_ours() -> None:
    assert classify(stamp(BODY)) is Ownership.OURS
    assert classify(stamp("")) is Ownership.OURS


def test_an_edited_body_is_hand_edited() -> None:
    text = stamp(BODY)
    assert classify(text.replace("Type=oneshot", "Type=simple")) is Ownership.HAND_EDITED
    assert classify(text + "Nice=5\n") is Ownership.HAND_EDITED
    assert classify(text + "\n") is Ownership.HAND_EDITED
    assert classify(text.replace("\n", "\r\n")) is Ownership.HAND_EDITED
    assert classify(text.rstrip("\n")) is Ownership.HAND_EDITED


def test_a_tampered_header_is_hand_edited() -> None:
    text = stamp(BODY)
    first, second, rest = text.split("\n", 2)
    digest = second.rsplit("=", 1)[1]
    flipped = ("0" if digest[0] != "0" else "1") + digest[1:]
    cases = {
        "digest changed": text.replace(digest, flipped),
        "digest truncated": text.replace(digest, digest[:-1]),
        "digest upper case": text.replace(digest, digest.upper()),
        "format changed": text.replace("format=1", "format=2"),
        "title edited": text.replace(HEADER_TITLE, HEADER_TITLE + " (edited)"),
        "title removed": second + "\n" + rest,
        "stamp line removed": first + "\n" + rest,
        "header swapped": second + "\n" + first + "\n" + rest,
        "comment inserted before": "# note\n" + text,
        "blank line inserted before": "\n" + text,
        "body hash re-stamped under another title": "# mine\n" + second + "\n" + rest,
    }
    for label, case in cases.items():
        assert classify(case) is Ownership.HAND_EDITED, label


def test_foreign_files_are_foreign() -> None:
    assert classify(FOREIGN) is Ownership.FOREIGN
    assert classify("") is Ownership.FOREIGN
    assert classify("# my own timer\n" + FOREIGN) is Ownership.FOREIGN
    # Mentioning the tool below the leading comment block does not make a file ours.
    assert classify(FOREIGN + f"# {MARKER} format=1 sha256={'0' * 64}\n") is Ownership.FOREIGN
    assert classify(f"[Unit]\nDescription=Like {TOOL} but not\n") is Ownership.FOREIGN
    assert classify("\udcff garbage \x00") is Ownership.FOREIGN


def test_body_of() -> None:
    text = stamp(BODY)
    assert body_of(text) == BODY
    assert body_of(FOREIGN) == FOREIGN
    edited = text.replace("Type=oneshot", "Type=simple")
    assert body_of(edited) == BODY.replace("Type=oneshot", "Type=simple")
    first, second, rest = text.split("\n", 2)
    assert body_of(first + " (edited)\n" + second + "\n" + rest) == BODY
    assert body_of(first + "\n" + rest) == BODY
    assert body_of("# note\n" + text) == "# note\n" + text


@given(st.text())
def test_any_body_round_trips(body: str) -> None:
    text = stamp(body)
    assert classify(text) is Ownership.OURS
    assert body_of(text) == body


@given(st.text(min_size=1), st.data())
def test_any_single_change_is_noticed(body: str, data: st.DataObject) -> None:
    text = stamp(body)
    index = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != text[index]))
    changed = text[:index] + replacement + text[index + 1 :]
    assert classify(changed) is not Ownership.OURS
    deleted = text[:index] + text[index + 1 :]
    assert classify(deleted) is not Ownership.OURS
