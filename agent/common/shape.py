"""The shape of a record class, read once from its type hints, for the wire converters.

agent/uplink/convert.py and collector/ingest/convert.py convert records to and from their
protobuf messages field by field by name (a record and its message have the same field
names; tests/test_proto.py checks both lists agree). Reading the hints once per class and
keeping a flat plan keeps the per-record cost to one loop over the fields.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    SCALAR = "scalar"  # str | int | float | bool
    ENUM = "enum"  # an IntEnum: its int on the wire
    MESSAGE = "message"  # a nested record, or None
    REPEATED_MESSAGE = "repeated_message"  # tuple[Record, ...]
    REPEATED_SCALAR = "repeated_scalar"  # tuple[str, ...]
    MAP = "map"  # Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class FieldShape:
    name: str
    kind: Kind
    type: type  # the scalar type, the enum class or the nested record class
    optional: bool = False  # MESSAGE only: X | None


_SHAPES: dict[type, tuple[FieldShape, ...]] = {}


def shape(cls: type) -> tuple[FieldShape, ...]:
    found = _SHAPES.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple(_field(f.name, hints[f.name], cls) for f in dataclasses.fields(cls))
        _SHAPES[cls] = found
    return found


def _field(name: str, hint: object, owner: type) -> FieldShape:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return FieldShape(name, Kind.MESSAGE, _as_type(inner[0]), optional=True)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if dataclasses.is_dataclass(item):
            return FieldShape(name, Kind.REPEATED_MESSAGE, _as_type(item))
        if item in (str, int, float, bool):
            return FieldShape(name, Kind.REPEATED_SCALAR, _as_type(item))
    elif origin is Mapping or origin is typing.Mapping:
        return FieldShape(name, Kind.MAP, _as_type(args[1]))
    elif isinstance(hint, type):
        if issubclass(hint, enum.IntEnum):
            return FieldShape(name, Kind.ENUM, hint)
        if dataclasses.is_dataclass(hint):
            return FieldShape(name, Kind.MESSAGE, hint)
        if hint in (str, int, float, bool):
            return FieldShape(name, Kind.SCALAR, hint)
    raise TypeError(f"{owner.__name__}.{name}: no wire shape for {hint!r}")


def _as_type(value: object) -> type:
    if isinstance(value, type):
        return value
    raise TypeError(f"not a class: {value!r}")
