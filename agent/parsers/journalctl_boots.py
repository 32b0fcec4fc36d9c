"""`journalctl --list-boots -o json --no-pager` → BootEntry per boot the journal holds.

journalctl(1) --list-boots, https://www.freedesktop.org/software/systemd/man/latest/journalctl.html.
systemd 252 honours `-o json` (real output, journal files with three boots):

    [{"index":-2,"boot_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90","first_entry":1717225203200000,"last_entry":1717264811200000},
     {"index":-1,"boot_id":"0f9e8d7c6b5a49382716a5b4c3d2e1f0","first_entry":1717311603200000,"last_entry":1717326011200000},
     {"index":0,"boot_id":"5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0","first_entry":1717398003200000,"last_entry":1717398011200000}]

first_entry / last_entry are microseconds since the epoch (CLOCK_REALTIME). Older
systemd ignores -o for --list-boots and prints text, which is read too:

    systemd 252 without -o (a header line "IDX BOOT ID FIRST ENTRY LAST ENTRY" first):
     -1 0f9e8d7c6b5a49382716a5b4c3d2e1f0 Sun 2024-06-02 07:00:03 UTC Sun 2024-06-02 11:00:11 UTC
    systemd 250 and older (no header; an em dash, "-" in the C locale, between the times):
     -1 0f9e8d7c6b5a49382716a5b4c3d2e1f0 Sun 2024-06-02 07:00:03 UTC—Sun 2024-06-02 11:00:11 UTC

The text's times are in the host's time zone, named by an abbreviation: only UTC/GMT
and numeric zones (+0200) can be converted without a zone database, so other zones give
time 0 and a warning. An empty output (no journal: the build VM, which has no systemd
as PID 1) is no boots.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from agent.parsers import Parsed, ParseError, Warnings

_BOOT_ID = re.compile(r"[0-9a-f]{32}")
_TEXT_ROW = re.compile(r"\s*(?P<index>-?\d+)\s+(?P<boot_id>[0-9a-f]{32})\s+(?P<times>.*)")
_STAMP = re.compile(
    r"\w{3} (?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?: (?P<zone>[A-Za-z]+|[+-]\d{2}:?\d{2}))?"
)
_UTC_NAMES = frozenset({"UTC", "GMT", "Z"})


@dataclass(frozen=True, slots=True)
class BootEntry:
    """One boot of the journal: 0 is the current one, -1 the one before."""

    index: int
    boot_id: str
    first_ms: int = 0
    last_ms: int = 0


def parse(text: str) -> Parsed[tuple[BootEntry, ...]]:
    stripped = text.strip()
    if not stripped:
        return Parsed.of((), Warnings())
    if stripped.startswith("["):
        return _json(stripped)
    return _text(text)


def _json(text: str) -> Parsed[tuple[BootEntry, ...]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"journalctl --list-boots: not JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(doc, list):
        raise ParseError("journalctl --list-boots: expected a JSON list")
    warnings = Warnings()
    boots: list[BootEntry] = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict):
            warnings.add(f"[{i}]: not an object")
            continue
        index, boot_id = entry.get("index"), entry.get("boot_id")
        if not _is_int(index) or not isinstance(boot_id, str) or not _BOOT_ID.fullmatch(boot_id):
            warnings.add(f"[{i}]: no index or boot_id: {entry!r:.80}")
            continue
        first, last = entry.get("first_entry"), entry.get("last_entry")
        boots.append(
            BootEntry(
                index if isinstance(index, int) else 0,
                boot_id,
                _us_to_ms(first) if _is_int(first) else 0,
                _us_to_ms(last) if _is_int(last) else 0,
            )
        )
    return Parsed.of(tuple(boots), warnings)


def _text(text: str) -> Parsed[tuple[BootEntry, ...]]:
    warnings = Warnings()
    boots: list[BootEntry] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("IDX"):
            continue
        row = _TEXT_ROW.fullmatch(line)
        if row is None:
            warnings.add(f"line {n}: not a boot row: {line.strip()}")
            continue
        stamps = [_stamp_ms(m, n, warnings) for m in _STAMP.finditer(row["times"])]
        if len(stamps) != 2:
            warnings.add(f"line {n}: expected two timestamps: {row['times']}")
            stamps = [0, 0]
        boots.append(BootEntry(int(row["index"]), row["boot_id"], stamps[0], stamps[1]))
    if not boots and warnings.count:
        raise ParseError("journalctl --list-boots: neither JSON nor the boot table")
    return Parsed.of(tuple(boots), warnings)


def _stamp_ms(match: re.Match[str], n: int, warnings: Warnings) -> int:
    zone = match["zone"] or ""
    if zone in _UTC_NAMES:
        tz = UTC
    elif zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(offset if zone[0] == "+" else -offset)
    else:
        warnings.add(f"line {n}: time zone {zone or '(none)'!r} cannot be converted")
        return 0
    stamp = datetime.strptime(match["date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    return int(stamp.timestamp() * 1000)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _us_to_ms(value: object) -> int:
    return int(value) // 1000 if isinstance(value, int) else 0


def previous(boots: tuple[BootEntry, ...]) -> BootEntry | None:
    """The boot before the current one (index -1), if the journal kept it."""
    return next((b for b in boots if b.index == -1), None)
