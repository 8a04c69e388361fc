"""The record base the start-up modules use instead of typing.NamedTuple."""

from __future__ import annotations

import copy
import pickle
from typing import ClassVar

import pytest

from aios_systemd.record import Record


class Point(Record):
    """A docstring stays a docstring."""

    x: int
    y: int
    label: str = ""
    tags: tuple[str, ...] = ()
    UNITS: ClassVar[str] = "px"

    @property
    def total(self) -> int:
        return self.x + self.y


class Other(Record):
    x: int
    y: int
    label: str = ""
    tags: tuple[str, ...] = ()


def test_positional_keyword_and_default_construction() -> None:
    assert Point(1, 2) == Point(x=1, y=2) == Point(1, y=2, label="", tags=())
    p = Point(1, 2, "a")
    assert (p.x, p.y, p.label, p.tags, p.total) == (1, 2, "a", (), 3)
    assert Point._fields == ("x", "y", "label", "tags")
    assert Point.UNITS == "px" and "UNITS" not in Point._fields
    assert Point.__doc__ == "A docstring stays a docstring."


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1,), {}, "Point() missing argument 'y'"),
        ((1, 2, "a", (), "extra"), {}, "Point() takes 4 arguments but 5 were given"),
        ((1, 2), {"colour": "red"}, "Point() got an unexpected keyword argument 'colour'"),
        ((1, 2), {"x": 3}, "Point() got multiple values for argument 'x'"),
    ],
)
def test_construction_errors_name_the_field(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError) as err:
        Point(*args, **kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_records_are_read_only_and_slotted() -> None:
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="read-only"):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del p.x  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.colour = "red"  # type: ignore[attr-defined]
    assert not hasattr(p, "__dict__") and p.x == 1


def test_equality_and_hash_cover_class_and_fields() -> None:
    assert Point(1, 2) == Point(1, 2) and hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != Other(1, 2)  # same fields and values, another record type
    assert Point(1, 2) != (1, 2, "", ())  # a record is not a tuple
    assert len({Point(1, 2), Point(1, 2), Point(2, 1)}) == 2


def test_a_record_is_not_a_tuple() -> None:
    p = Point(1, 2)
    assert not isinstance(p, tuple)
    with pytest.raises(TypeError):
        _x, _y, _label, _tags = p  # type: ignore[misc]
    with pytest.raises(TypeError):
        p[0]  # type: ignore[index]


def test_repr_replace_and_asdict() -> None:
    p = Point(1, 2, tags=("a",))
    assert repr(p) == "Point(x=1, y=2, label='', tags=('a',))"
    assert p._replace(y=5) == Point(1, 5, tags=("a",)) and p.y == 2
    assert p._asdict() == {"x": 1, "y": 2, "label": "", "tags": ("a",)}
    with pytest.raises(TypeError, match="no field 'colour'"):
        p._replace(colour="red")


def test_copy_and_pickle_round_trip() -> None:
    p = Point(1, 2, "a", ("b",))
    assert copy.copy(p) == p and copy.deepcopy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p


def test_definition_errors() -> None:
    with pytest.raises(TypeError, match="'y' without a default follows one with a default"):

        class Bad(Record):
            x: int = 0
            y: int

    with pytest.raises(TypeError, match="cannot be subclassed"):

        class Sub(Point):
            z: int = 0


def test_class_variables_are_not_fields_however_spelled() -> None:
    ns = {
        "__module__": __name__,
        "__annotations__": {
            "x": "int",
            "a": "ClassVar[int]",
            "b": "t.ClassVar[int]",
            "c": "'ClassVar[str]'",
            "d": "typing.ClassVar",
            "e": ClassVar[int],
            "classvar_like": "ClassVarious",
        },
        "a": 1,
    }
    cls = type(Record)("Spelled", (Record,), ns)
    assert cls._fields == ("x", "classvar_like") and cls.a == 1  # type: ignore[attr-defined]


def test_underscore_fields_and_deferred_annotations_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot start with an underscore: '_values'"):
        type(Record)("Clash", (Record,), {"__module__": __name__, "__annotations__": {"_values": "int"}})
    # What a class body compiles to on Python 3.14 without the __future__ import.
    with pytest.raises(TypeError, match="needs 'from __future__ import annotations'"):
        type(Record)("Deferred", (Record,), {"__module__": __name__, "__annotate__": lambda _format: {}})


class _Cached(Record):
    __slots__ = ("_memo",)

    x: int

    @property
    def doubled(self) -> int:
        memo: int | None = getattr(self, "_memo", None)
        if memo is None:
            memo = self.x * 2
            object.__setattr__(self, "_memo", memo)
        return memo


def test_a_private_cache_slot_is_no_field() -> None:
    a, b = _Cached(2), _Cached(2)
    assert a.doubled == 4 and a._memo == 4  # type: ignore[attr-defined]
    assert a == b and hash(a) == hash(b) and repr(a) == "_Cached(x=2)" and a._asdict() == {"x": 2}
    assert not hasattr(a._replace(x=3), "_memo") and pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError, match="read-only"):
        a._memo = 5  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="private caches only"):
        type(Record)("Public", (Record,), {"__module__": __name__, "__slots__": ("memo",), "__annotations__": {}})
