"""Events that probes read from event logs each cycle (Windows Get-WinEvent, macOS `log
show`), sent once: a persisted cursor per probe says what was already spooled.

A probe's query looks back over a window (days), so each cycle returns what it returned
before plus what is new. Windows events carry their log and RecordId (agent/parsers/
win_events_json.py): RecordIds grow within a log, so the cursor is the highest one sent
per log (a cleared log starts again at 1 and is detected). Events without a RecordId
(macOS) are kept when newer than the newest one sent. Each event is spooled in the same
transaction as the cursor that includes it (Spool.append(cursor=...)), so a crash between
two events neither repeats nor loses one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping

from agent.parsers import win_events_json
from agent.records import Event


def _load(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}  # a cursor from an older version: start over (the window bounds it)
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int)}


def cursor_name(probe: str) -> str:
    return f"events:{probe}"


def fresh(events: tuple[Event, ...], saved: str | None) -> Iterator[tuple[Event, str]]:
    """The events not sent yet, oldest first, each with the cursor to save with it."""
    cursor = _load(saved)
    with_id = tuple(e for e in events if "record_id" in e.fields)
    new = sorted(
        win_events_json.newer_than(with_id, cursor),
        key=lambda e: (e.fields.get("log", ""), _rid(e)),
    )
    state: dict[str, int] = dict(cursor)
    for event in new:
        state = win_events_json.cursor_after((event,), state)
        yield event, _dump(state)
    # No RecordId: by time, per source. Several events can share the newest millisecond
    # (a burst of I/O errors), so the cursor also keeps a hash of each event sent at it.
    for event in sorted(
        (e for e in events if "record_id" not in e.fields), key=lambda e: e.time_ms
    ):
        key = f"time:{event.source}"
        newest = state.get(key, 0)
        seen_key = f"seen:{event.source}:{_digest(event)}"
        if event.time_ms < newest or (event.time_ms == newest and seen_key in state):
            continue
        if event.time_ms > newest:
            prefix = f"seen:{event.source}:"
            state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        state = {**state, key: event.time_ms, seen_key: event.time_ms}
        yield event, _dump(state)


def _digest(event: Event) -> int:
    return zlib.crc32(f"{event.kind}\0{event.message}".encode())


def _rid(event: Event) -> int:
    value = event.fields.get("record_id", "0")
    return int(value) if value.isdigit() else 0


def _dump(state: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(state.items())), separators=(",", ":"))
