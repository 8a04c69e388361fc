"""Immutable records for the modules every command imports at start-up.

``typing.NamedTuple`` costs a ``collections.namedtuple`` (an ``exec`` of generated source)
plus typing's annotation checks per class, and ``typing`` itself is the largest standard
module on the status path.  ``aios-status`` creates about thirty record classes before it
does any work, so that cost showed up in every call.  A :class:`Record` is a slotted class
with one shared ``__init__``: creating the class is a dictionary walk, not code generation.

Semantics are those of a frozen dataclass, plus the two NamedTuple helpers this code base
uses (``_replace``, ``_asdict``): positional or keyword construction, trailing defaults,
read-only fields, equality and hashing over the fields (and the exact class), a readable
``repr``, copy and pickle support.  A record is deliberately not a tuple: it cannot be
unpacked, indexed, ordered or JSON-encoded by accident.  Type checkers see every subclass
as a frozen dataclass through :pep:`681` (``dataclass_transform``).

It is the package's one way to build an immutable record (ruff bans ``dataclasses`` and
``typing.NamedTuple`` in it); pydantic models validate external input only (the local config,
the artifact).  A record that caches something it computes on first use (the context's
privacy rules) names a private slot for it in ``__slots__``: not a field, so not compared,
shown or copied, and set with ``object.__setattr__``.
"""

from __future__ import annotations

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, ClassVar, Self, dataclass_transform
else:

    def dataclass_transform(**_options: object) -> object:
        return lambda cls: cls


def _is_class_var(annotation: object) -> bool:
    """``ClassVar[...]`` however it is spelled: a string (``from __future__ import
    annotations``), quoted, behind a module alias (``t.ClassVar``) or evaluated."""
    text = str(annotation).strip("'\" ")
    return text.split("[", 1)[0].rsplit(".", 1)[-1] == "ClassVar"


class _RecordMeta(type):
    """Turns the annotated names of a class body into slots with trailing defaults."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> _RecordMeta:
        if any(getattr(base, "_fields", ()) for base in bases):
            raise TypeError(f"record {name}: a record with fields cannot be subclassed")
        if "__annotations__" not in ns and "__annotate__" in ns:
            # Python 3.14 defers annotations unless the module asks for strings; reading
            # them lazily here would make the class body's fields depend on import order.
            raise TypeError(f"record {name}: its module needs 'from __future__ import annotations'")
        annotations = ns.get("__annotations__", {})
        fields = tuple(f for f, kind in annotations.items() if not _is_class_var(kind))
        defaults: dict[str, object] = {}
        for field in fields:
            if field.startswith("_"):
                # As NamedTuple: underscore names belong to the record's own methods.
                raise TypeError(f"record {name}: field names cannot start with an underscore: {field!r}")
            if field in ns:
                defaults[field] = ns.pop(field)
            elif defaults:
                raise TypeError(f"record {name}: field {field!r} without a default follows one with a default")
        private = tuple(ns.get("__slots__", ()))
        if any(not slot.startswith("_") for slot in private):
            raise TypeError(f"record {name}: __slots__ holds private caches only (names starting with '_')")
        ns["__slots__"] = fields + private
        ns["__match_args__"] = fields
        if bases:  # not Record itself
            ns["_fields"] = fields
            ns["_defaults"] = defaults
        return super().__new__(mcls, name, bases, ns)


@dataclass_transform(frozen_default=True)
class Record(metaclass=_RecordMeta):
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, *args: object, **kwargs: object) -> None:
        cls = type(self)
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
        setter = object.__setattr__
        for field, value in zip(fields, args, strict=False):
            setter(self, field, value)
        if kwargs or len(args) < len(fields):
            defaults = cls._defaults
            for field in fields[len(args) :]:
                if field in kwargs:
                    setter(self, field, kwargs.pop(field))
                elif field in defaults:
                    setter(self, field, defaults[field])
                else:
                    raise TypeError(f"{cls.__name__}() missing argument {field!r}")
            if kwargs:
                extra = next(iter(kwargs))
                how = "got multiple values for" if extra in fields else "got an unexpected keyword"
                raise TypeError(f"{cls.__name__}() {how} argument {extra!r}")

    def _values(self) -> tuple[object, ...]:
        return tuple([getattr(self, field) for field in self._fields])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: cannot assign {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._fields)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        return type(self), self._values()

    def _asdict(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self._fields}

    def _replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (the NamedTuple spelling, kept for its callers)."""
        unknown = changes.keys() - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return type(self)(**{**self._asdict(), **changes})
