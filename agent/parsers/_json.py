"""Typed access to decoded JSON: every wrong type becomes a ParseError naming the key.

`json.loads` gives `Any`; these helpers are where it becomes typed. Paths are dotted
(`power_on_time.hours`); a missing key anywhere on the path gives the default, because
older tool versions leave optional sections out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from agent.parsers import ParseError

JsonObject = Mapping[str, object]
T = TypeVar("T")


def load_object(text: str, what: str) -> JsonObject:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{what}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def lookup(doc: JsonObject, path: str) -> object | None:
    node: object = doc
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _typed(doc: JsonObject, path: str, kind: type[T], default: T) -> T:
    value = lookup(doc, path)
    if value is None:
        return default
    # bool is an int subclass: `"passed": 1` or `"hours": true` are both wrong.
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ParseError(f"key {path!r}: expected {kind.__name__}, got {value!r:.60}")


def get_int(doc: JsonObject, path: str, default: int = 0) -> int:
    return _typed(doc, path, int, default)


def get_float(doc: JsonObject, path: str, default: float = 0.0) -> float:
    value = lookup(doc, path)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return _typed(doc, path, float, default)


def get_str(doc: JsonObject, path: str, default: str = "") -> str:
    return _typed(doc, path, str, default)


def get_bool(doc: JsonObject, path: str, default: bool = False) -> bool:
    return _typed(doc, path, bool, default)


def get_list(doc: JsonObject, path: str) -> list[object]:
    return _typed(doc, path, list, [])


def get_object(doc: JsonObject, path: str) -> JsonObject:
    return _typed(doc, path, dict, {})


def require(doc: JsonObject, path: str, what: str) -> None:
    if lookup(doc, path) is None:
        raise ParseError(f"{what}: missing key {path!r}")
