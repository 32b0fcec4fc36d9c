"""`w32tm /query /status /verbose` text → TimeSync.

    Leap Indicator: 0(no warning)
    Stratum: 4 (secondary reference - syncd by (S)NTP)
    Precision: -23 (119.209ns per tick)
    Root Delay: 0.0312500s
    Root Dispersion: 7.7756171s
    ReferenceId: 0x14650113 (source IP:  20.101.57.9)
    Last Successful Sync Time: 11/23/2026 9:12:04 AM
    Source: time.windows.com,0x9
    Poll Interval: 10 (1024s)

    Phase Offset: 0.0004473s
    ClockRate: 0.0156250s
    State Machine: 2 (Sync)
    Time Source Flags: 0 (None)
    Server Role: 0 (None)
    Last Sync Error: 0 (The command completed successfully.)
    Time since Last Good Sync Time: 708.5203425s

Why this command: it is what W32Time itself reports (no CIM class or cmdlet exposes the
sync state), it needs no network traffic (`w32tm /stripchart` sends NTP packets to a peer,
measures against that peer only, and fails where UDP 123 is blocked even though the domain
hierarchy syncs fine), and `/verbose` adds the numeric fields that matter: phase offset,
state machine, last sync error and the seconds since the last good sync.

Why by position: the labels are translated ("Sprungindikator", "Phasenabweichung") and
printed in the OEM code page, so on a German host they arrive with U+FFFD where the umlauts
were. The values are not translated where it matters (numbers, hex ReferenceId, seconds
with an "s"), and the order of the lines is fixed, so each field is read by its position
and checked by its shape; a value of the wrong shape is a warning and that field stays
unknown. Dates and the Source of a local clock ("Local CMOS Clock", "Lokale CMOS-Uhr")
are translated, so they are not interpreted: a local clock is recognised by its
ReferenceId (LOCL, 0x4C4F434C) or stratum.

https://learn.microsoft.com/windows-server/networking/windows-time-service/windows-time-service-tools-and-settings
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import TimeSync

SOURCE = "w32tm"
LEAP_ALARM = 3  # "not synchronized"
LOCAL_CLOCK_REFIDS = {0x4C4F434C, 0}  # "LOCL", unspecified
STATE_SYNC = 2
STATES = {0: "Unset", 1: "Hold", 2: "Sync"}

_INT = re.compile(r"(-?\d+)\s*(?:\(.*)?")
_SECONDS = re.compile(r"(-?\d+(?:[.,]\d+)?)s")
_REFID = re.compile(r"(0x[0-9A-Fa-f]{1,8})\b.*")
_ERROR = re.compile(r"(0x[0-9A-Fa-f]+|\d+)\b.*")
_FLAGS = re.compile(r",0x[0-9A-Fa-f]+$")


@dataclass(frozen=True, slots=True)
class _Field:
    position: int
    shape: re.Pattern[str]


LEAP = _Field(0, _INT)
STRATUM = _Field(1, _INT)
REFERENCE_ID = _Field(5, _REFID)
SOURCE_LINE = 7
PHASE_OFFSET = _Field(9, _SECONDS)
STATE = _Field(11, _INT)
LAST_ERROR = _Field(14, _ERROR)
SINCE_GOOD_SYNC = _Field(15, _SECONDS)
MIN_LINES = 9  # without /verbose


def parse(text: str) -> Parsed[TimeSync]:
    warnings = Warnings()
    values = [
        line.split(":", 1)[1].strip()
        for line in text.lstrip("\ufeff").splitlines()
        if ":" in line and line.split(":", 1)[0].strip()
    ]
    if len(values) < MIN_LINES:
        said = text.strip().splitlines()[-1][:160] if text.strip() else "no output"
        raise ParseError(f"w32tm: not /query /status output ({said})")

    def read(field: _Field) -> str | None:
        if field.position >= len(values):
            return None
        m = field.shape.fullmatch(values[field.position])
        if m is None:
            warnings.add(f"field {field.position + 1}: unexpected value {values[field.position]!r}")
            return None
        return m.group(1).replace(",", ".")

    leap, stratum, refid = read(LEAP), read(STRATUM), read(REFERENCE_ID)
    offset, state, error, since = (
        read(f) for f in (PHASE_OFFSET, STATE, LAST_ERROR, SINCE_GOOD_SYNC)
    )
    if leap is None or stratum is None:
        return Parsed.of(TimeSync(known=False, source=SOURCE, detail="unreadable status"), warnings)
    local_clock = refid is not None and int(refid, 16) in LOCAL_CLOCK_REFIDS
    synchronized = (
        int(leap) != LEAP_ALARM
        and 0 < int(stratum) < 16
        and not local_clock
        and (state is None or int(state) == STATE_SYNC)
    )
    server = "" if local_clock else _FLAGS.sub("", values[SOURCE_LINE]).strip()
    notes = [f"stratum {stratum}", f"leap {leap}"]
    if state is not None:
        notes.append(f"state {state} ({STATES.get(int(state), '?')})")
    if error is not None:
        notes.append(f"last sync error {error}")
    if since is not None:
        notes.append(f"{float(since):.0f} s since last good sync")
    if local_clock:
        notes.append("local clock, no time source")
    return Parsed.of(
        TimeSync(
            known=True,
            synchronized=synchronized,
            offset_ms=float(offset) * 1000 if offset is not None else 0.0,
            source=SOURCE,
            server=server,
            detail=", ".join(notes),
        ),
        warnings,
    )
