"""`journalctl -k -o json` → JournalEntry, and the kernel entries' Events.

One JSON object per line (journalctl(1) "-o json"; the field list is systemd.journal-fields(7),
https://www.freedesktop.org/software/systemd/man/latest/systemd.journal-fields.html):

    {"__CURSOR":"s=c2ba...;i=151;b=20b1...;m=287c1c9b;t=661976e71f12c;x=9554...",
     "__REALTIME_TIMESTAMP":"1796152881180972","_BOOT_ID":"20b1fc2b236e42888418d8fd4483deb8",
     "PRIORITY":"6","SYSLOG_IDENTIFIER":"kernel","_TRANSPORT":"kernel",
     "MESSAGE":"EXT4-fs (vda): mounted filesystem ... r/w without journal. Quota mode: none."}

Every value is a string, with the exceptions "Journal JSON Format" documents
(https://systemd.io/JOURNAL_EXPORT_FORMATS/): a value that is not valid UTF-8 is an array of
its bytes (`"MESSAGE":[110,111,110,45,...]`), a field that occurs several times in one entry
is an array of its values, and journalctl writes a value over 4096 bytes as null unless
given --all (journalctl(1), "-o json"). Timestamps are microseconds since the epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers.kernel_log import classify
from agent.records import Event


@dataclass(frozen=True, slots=True)
class JournalEntry:
    cursor: str
    time_ms: int  # __REALTIME_TIMESTAMP
    boot_id: str = ""
    priority: int | None = None  # syslog level 0 (emerg) … 7 (debug); None when absent
    identifier: str = ""  # SYSLOG_IDENTIFIER: "kernel" for the kernel's own messages
    message: str = ""


def parse(text: str) -> Parsed[tuple[JournalEntry, ...]]:
    warnings = Warnings()
    entries: list[JournalEntry] = []
    lines = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("-- ") and line.endswith(" --")):
            continue  # "-- No entries --" and the like, when -q was not given
        lines += 1
        try:
            entries.append(_entry(json.loads(line)))
        except json.JSONDecodeError as exc:
            warnings.add(f"line {number}: not JSON: {exc.msg} at column {exc.colno}")
        except ValueError as exc:
            warnings.add(f"line {number}: {exc}")
    if lines and not entries:
        raise ParseError(f"journalctl -o json: no entry in {lines} lines ({warnings.examples[0]})")
    return Parsed.of(tuple(entries), warnings)


def _entry(doc: object) -> JournalEntry:
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    cursor = _text(doc.get("__CURSOR"))
    stamp = _text(doc.get("__REALTIME_TIMESTAMP"))
    if not cursor or not stamp.isdigit():
        raise ValueError(f"no __CURSOR or __REALTIME_TIMESTAMP: {json.dumps(doc)[:80]}")
    priority = _text(doc.get("PRIORITY"))
    return JournalEntry(
        cursor=cursor,
        time_ms=int(stamp) // 1000,
        boot_id=_text(doc.get("_BOOT_ID")),
        priority=int(priority) if priority.isdigit() else None,
        identifier=_text(doc.get("SYSLOG_IDENTIFIER")),
        message=_text(doc.get("MESSAGE")),
    )


def _text(value: object) -> str:
    """A field's value as text: bytes decoded (undecodable ones shown as \\xNN, as dmesg
    shows them), several values joined by newlines, null as ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", errors="backslashreplace")
        return "\n".join(_text(v) for v in value)
    if value is None:
        return ""
    raise ValueError(f"unexpected field value {value!r:.40}")


def events(entries: tuple[JournalEntry, ...]) -> tuple[Event, ...]:
    """The kernel's entries that classify, as Events (userspace writes to /dev/kmsg also
    arrive with _TRANSPORT=kernel, but under their own SYSLOG_IDENTIFIER: skipped)."""
    found: list[Event] = []
    for entry in entries:
        if entry.identifier != "kernel":
            continue
        hit = classify(entry.message)
        if hit is None:
            continue
        fields = dict(hit.fields)
        if entry.boot_id:
            fields["boot_id"] = entry.boot_id
        found.append(Event(entry.time_ms, "kernel", hit.kind, hit.severity, entry.message, fields))
    return tuple(found)
