"""`chronyc -c tracking` (CSV) and `chronyc tracking` (text) → TimeSync.

chronyc(1) "tracking", https://chrony-project.org/doc/4.3/chronyc.html#tracking. Real
outputs of chrony 4.3 (Debian 12), synchronised to a server and without one:

    7F000001,127.0.0.1,9,1796153019.621353741,-0.000002489,0.000000060,0.000000175,
        -0.023,0.002,0.127,0.000006074,0.000001064,0.3,Normal            (one line)
    00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,
        1.000000000,1.000000000,0.0,Not synchronised                      (one line)

    Reference ID    : 7F000001 (localhost)
    Stratum         : 9
    Ref time (UTC)  : Tue Dec 01 19:23:39 2026
    System time     : 0.000002489 seconds fast of NTP time
    ...
    Leap status     : Normal

CSV columns: reference id, reference name/address, stratum, ref time, system time
correction, last offset, RMS offset, frequency, residual frequency, skew, root delay,
root dispersion, update interval, leap status. Column 5 is the correction chronyd is
applying: positive when the system clock is slow ("slow of NTP time"). TimeSync.offset_ms
is how far the clock is AHEAD (fast) of NTP time, so it is the negated correction.

Leap status is "Normal", "Insert second", "Delete second" or "Not synchronised"; only the
last means unsynchronised. "506 Cannot talk to daemon" (chronyd not running; chronyc
exits 1) is not tracking output: ParseError.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import TimeSync

_CSV_FIELDS = 14
_UNSYNCED = "Not synchronised"


def parse(text: str) -> Parsed[TimeSync]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError("chronyc tracking: empty output")
    if ":" in lines[0] and "," not in lines[0]:
        return _text(lines)
    return _csv(lines)


def _csv(lines: list[str]) -> Parsed[TimeSync]:
    warnings = Warnings()
    fields = lines[0].split(",")
    if len(fields) != _CSV_FIELDS:
        raise ParseError(
            f"chronyc -c tracking: {len(fields)} columns, expected 14: {lines[0][:80]}"
        )
    for n, extra in enumerate(lines[1:], 2):
        warnings.add(f"line {n}: unexpected: {extra}")
    ref_id, name, leap = fields[0], fields[1], fields[13]
    try:
        correction = float(fields[4])
    except ValueError:
        warnings.add(f"system time {fields[4]!r} not a number")
        correction = 0.0
    return Parsed.of(_record(ref_id, name, leap, -correction * 1000.0), warnings)


def _text(lines: list[str]) -> Parsed[TimeSync]:
    warnings = Warnings()
    fields: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        key, sep, value = line.partition(":")
        if not sep:
            warnings.add(f"line {n}: not 'Key : value': {line}")
            continue
        fields.setdefault(key.strip(), value.strip())
    if "Leap status" not in fields or "Reference ID" not in fields:
        raise ParseError("chronyc tracking: no 'Reference ID' or 'Leap status' line")
    ref_id, _, ref_name = fields["Reference ID"].partition(" ")
    offset_ms = 0.0
    # "0.000001455 seconds fast of NTP time" / "... slow of NTP time"
    words = fields.get("System time", "").split()
    try:
        seconds = float(words[0])
        if words[2] not in ("fast", "slow"):
            raise ValueError(words[2])
        offset_ms = seconds * 1000.0 * (1 if words[2] == "fast" else -1)
    except (IndexError, ValueError):
        warnings.add(f"System time {fields.get('System time', '')!r} not understood")
    return Parsed.of(
        _record(ref_id, ref_name.strip("()"), fields["Leap status"], offset_ms), warnings
    )


def _record(ref_id: str, name: str, leap: str, offset_ms: float) -> TimeSync:
    # chronyd reports reference id 0 until it has selected a source.
    synced = leap != _UNSYNCED and ref_id.strip("0") != ""
    return TimeSync(
        known=True,
        synchronized=synced,
        offset_ms=offset_ms if synced else 0.0,
        source="chronyc",
        server=name,
        detail=f"leap status {leap}, reference {ref_id}",
    )
