"""What Windows PowerShell's `ConvertTo-Json` really prints, read into plain Python values.

Every Windows spec (agent/specs_windows.py) ends in `ConvertTo-Json -Depth 4 -Compress`;
the quirks below are those of Windows PowerShell 5.1 (powershell.exe, what the agent runs)
and of PowerShell 7 (pwsh), so a capture from either parses the same:

    [{"DeviceId":"0","Size":1024209543168,"BusType":17,"LastBootUpTime":"\\/Date(1763657345500)\\/"}]

* one result instead of an array (a pipeline into ConvertTo-Json unrolls a one-item array),
  `null`, or nothing at all (no results) → always a list here;
* 5.1 wraps some arrays as `{"value": [...], "Count": n}` (the System.Array ETS type data);
* dates: 5.1 writes `"\\/Date(ms)\\/"` (UTC milliseconds), a date that went through
  Get-Date as `{"value": "\\/Date(ms)\\/", "DisplayHint": 2, "DateTime": "..."}`, PowerShell
  7 writes ISO 8601 (`2026-11-20T17:49:31.1234567+01:00`), Get-WmiObject a DMTF string
  (`20261120174931.123456+060`, `20230615000000.******+000` for a date-only value);
* CIM enums arrive as numbers (`"BusType":17`), or as names where a type extension or
  `-EnumsAsStrings` turned them into text (`"BusType":"NVMe"`), so both are accepted;
* a UTF-8 BOM (`[Console]::OutputEncoding = [Text.Encoding]::UTF8` emits one) and CRLF.

https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/convertto-json
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from agent.parsers import ParseError

JsonObject = Mapping[str, object]

_MS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_DMTF = re.compile(r"(\d{14})(?:\.([\d*]{1,6}))?([+-])(\d{3})")  # "*": field not given
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def load(text: str, what: str) -> object:
    """The decoded document; "" (no output at all) is None."""
    body = text.lstrip("\ufeff").strip()
    if not body:
        return None
    try:
        return _unwrap(json.loads(body))
    except json.JSONDecodeError as exc:
        raise ParseError(f"{what}: not JSON: {exc.msg} at line {exc.lineno}") from None


def load_list(text: str, what: str) -> list[object]:
    """An array result, whatever shape PowerShell gave it (one object, null, nothing)."""
    doc = load(text, what)
    if doc is None:
        return []
    if isinstance(doc, list):
        return [item for item in doc if item is not None]
    if isinstance(doc, dict):
        return [doc]
    raise ParseError(f"{what}: expected a JSON array or object, got {type(doc).__name__}")


def load_object(text: str, what: str) -> JsonObject:
    doc = load(text, what)
    if not isinstance(doc, dict):
        got = "no output" if doc is None else type(doc).__name__
        raise ParseError(f"{what}: expected a JSON object, got {got}")
    return doc


def _unwrap(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"value", "Count"} and isinstance(value["value"], list):
            return [_unwrap(v) for v in value["value"]]
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def objects(value: object) -> list[JsonObject]:
    """A property that should hold objects: one object, a list of them, or null."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [item for item in items if isinstance(item, dict)]


def text(doc: JsonObject, key: str) -> str:
    """A string property; numbers are written as PowerShell would show them, null is ""."""
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    if isinstance(value, int | float):
        return str(value)
    raise ParseError(f"key {key!r}: expected a string, got {value!r:.60}")


def number(doc: JsonObject, key: str, default: int = 0) -> int:
    """An integer property; CIM uint64 values sometimes arrive as strings."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise ParseError(f"key {key!r}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ParseError(f"key {key!r}: expected a number, got {value!r:.60}")


def flag(doc: JsonObject, key: str, default: bool = False) -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParseError(f"key {key!r}: expected true or false, got {value!r:.60}")


def enum(doc: JsonObject, key: str, names: Mapping[int, str]) -> str:
    """A CIM enum as its documented name: `17` and `"NVMe"` both give "NVMe".

    Unknown numbers give their digits, so nothing is lost; null gives "".
    """
    value = doc.get(key)
    if isinstance(value, list):  # uint16[] like OperationalStatus: the first is the main one
        value = value[0] if value else None
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return names.get(value, str(value))
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.isdigit():
            return names.get(int(stripped), stripped)
        by_folded = {name.casefold().replace(" ", ""): name for name in names.values()}
        return by_folded.get(stripped.casefold().replace(" ", ""), stripped)
    raise ParseError(f"key {key!r}: expected an enum number or name, got {value!r:.60}")


def enums(doc: JsonObject, key: str, names: Mapping[int, str]) -> tuple[str, ...]:
    """A CIM enum array (uint16[] OperationalStatus) as names."""
    value = doc.get(key)
    items = value if isinstance(value, list) else [] if value is None else [value]
    return tuple(enum({key: item}, key, names) for item in items)


def time_ms(doc: JsonObject, key: str) -> int:
    """A date property as Unix milliseconds (UTC); null is 0.

    An ISO time without an offset (pwsh writes Kind=Unspecified dates that way) is taken as UTC.
    """
    value = doc.get(key)
    if isinstance(value, dict):  # a Get-Date DateTime: {"value": "\/Date(..)\/", "DateTime": ..}
        value = value.get("value")
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ParseError(f"key {key!r}: expected a date, got {value!r:.60}")
    if m := _MS_DATE.fullmatch(value.strip()):
        return int(m.group(1))
    if m := _DMTF.fullmatch(value.strip()):
        digits, fraction, sign, minutes = m.groups()
        local = datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        offset = timedelta(minutes=int(minutes)) * (1 if sign == "+" else -1)
        micros = int((fraction or "0").replace("*", "0").ljust(6, "0"))
        return _ms(local - offset) + micros // 1000
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ParseError(f"key {key!r}: not a date: {value!r:.60}") from None
    return _ms(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def iso_utc(ms: int) -> str:
    """Unix milliseconds as `2026-11-20T16:49:31Z`, for details and dates in records."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def mac_address(value: str) -> str:
    """Windows' "A4-C3-F0-12-34-56" (or "A4C3F0123456") as Linux writes it: a4:c3:f0:12:34:56."""
    digits = value.replace("-", "").replace(":", "").strip().lower()
    if len(digits) != 12:
        return value.strip().lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
