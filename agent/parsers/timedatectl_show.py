"""`timedatectl show`, `timedatectl timesync-status` and `timedatectl show-timesync` → TimeSync.

timedatectl(1), https://www.freedesktop.org/software/systemd/man/latest/timedatectl.html;
the properties are org.freedesktop.timedate1(5) and org.freedesktop.timesync1(5).

`timedatectl show` (systemd 239+), real output of systemd 252:

    Timezone=Etc/UTC
    LocalRTC=no
    CanNTP=yes
    NTP=yes
    NTPSynchronized=no
    TimeUSec=Tue 2026-12-01 19:23:28 UTC

NTPSynchronized is the kernel's view (adjtimex: not STA_UNSYNC), whoever disciplines the
clock (timesyncd, chrony, ntpd); NTP says whether a time-sync service is enabled.

`timedatectl timesync-status` (systemd-timesyncd only; systemd 239+):

           Server: 192.0.2.123 (0.debian.pool.ntp.org)
    Poll interval: 34min 8s (min: 32s; max 34min 8s)
             Leap: normal
           ...
           Offset: -1.542ms
     Packet count: 12

"Offset" is the NTP offset of the server relative to this clock (RFC 5905
t = ((T2 - T1) + (T3 - T4)) / 2): "+" means the local clock is behind. TimeSync.offset_ms
is how far the local clock is AHEAD of the reference (chronyc's "fast" is positive), so
the sign is flipped. No "Leap" line (packet count 0) means no server answered yet.

`timedatectl show-timesync` prints the same as properties (ServerName=..., ServerAddress=...,
NTPMessage={ Leap=0, ... PacketCount=12, ... }); its timestamps are rounded to seconds,
so it gives the server and leap state but no offset.

Use `combine()` to merge the clock's state (show) with the timesync detail.
"""

from __future__ import annotations

import dataclasses

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers.systemd_analyze import span_us
from agent.records import TimeSync

_LEAP_NAMES = {"0": "normal", "1": "insert second", "2": "delete second", "3": "not synchronized"}


def parse(text: str) -> Parsed[TimeSync]:
    """`timedatectl show`: synchronised as the kernel sees it."""
    warnings = Warnings()
    props = _properties(text, warnings)
    if "NTPSynchronized" not in props:
        raise ParseError("timedatectl show: no NTPSynchronized= line")
    synced = _yes(props["NTPSynchronized"], "NTPSynchronized", warnings)
    detail = ", ".join(
        f"{key}={props[key]}" for key in ("NTP", "CanNTP", "Timezone") if key in props
    )
    return Parsed.of(TimeSync(True, synced, 0.0, "timedatectl", "", detail), warnings)


def parse_timesync_status(text: str) -> Parsed[TimeSync]:
    """`timedatectl timesync-status`: the server timesyncd uses, its offset and leap state."""
    warnings = Warnings()
    fields: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            if line.strip():
                warnings.add(f"line {n}: not 'Key: value': {line.strip()}")
            continue
        fields[key.strip()] = value.strip()
    if "Server" not in fields and "Packet count" not in fields:
        raise ParseError("timesync-status: no 'Server:' or 'Packet count:' line")
    server = _server(fields.get("Server", ""))
    leap = fields.get("Leap", "")
    offset_ms = 0.0
    if "Offset" in fields:
        offset_us = _signed_span_us(fields["Offset"])
        if offset_us is None:
            warnings.add(f"Offset {fields['Offset']!r} not a time span")
        else:
            offset_ms = -offset_us / 1000.0
    synced = bool(leap) and leap != "not synchronized"
    detail = f"leap {leap}" if leap else "no NTP reply yet"
    if packets := fields.get("Packet count"):
        detail += f", {packets} packets"
    return Parsed.of(TimeSync(True, synced, offset_ms, "timesyncd", server, detail), warnings)


def parse_show_timesync(text: str) -> Parsed[TimeSync]:
    """`timedatectl show-timesync`: server and leap state (no usable offset)."""
    warnings = Warnings()
    props = _properties(text, warnings)
    if not any(key.endswith("NTPServers") or key.startswith("PollInterval") for key in props):
        raise ParseError("show-timesync: no timesync1 property (not timedatectl show-timesync?)")
    server = props.get("ServerName", "")
    if address := props.get("ServerAddress", ""):
        server = f"{address} ({server})" if server else address
    message = dict(
        part.strip().split("=", 1)
        for part in props.get("NTPMessage", "").strip("{} ").split(",")
        if "=" in part
    )
    leap = _LEAP_NAMES.get(message.get("Leap", ""), "")
    packets = message.get("PacketCount", "0")
    synced = bool(leap) and leap != "not synchronized" and packets not in ("", "0")
    detail = f"leap {leap}, {packets} packets" if leap else "no NTP reply yet"
    return Parsed.of(TimeSync(True, synced, 0.0, "timesyncd", server, detail), warnings)


def combine(clock: TimeSync, timesync: TimeSync | None) -> TimeSync:
    """The kernel's synchronised flag (show) with timesyncd's server and offset."""
    if timesync is None or not timesync.known:
        return clock
    detail = "; ".join(d for d in (clock.detail, timesync.detail) if d)
    return dataclasses.replace(
        clock, offset_ms=timesync.offset_ms, server=timesync.server, detail=detail
    )


def _signed_span_us(text: str) -> int | None:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    value = span_us(text.lstrip("+-"))
    return None if value is None else sign * value


def _properties(text: str, warnings: Warnings) -> dict[str, str]:
    props: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            if line.strip():
                warnings.add(f"line {n}: not key=value: {line.strip()}")
            continue
        props[key] = value
    return props


def _yes(value: str, key: str, warnings: Warnings) -> bool:
    if value not in ("yes", "no"):
        warnings.add(f"{key}={value!r}: expected yes or no")
    return value == "yes"


def _server(value: str) -> str:
    # "192.0.2.123 (0.debian.pool.ntp.org)"; "n/a (n/a)" before the first server answers.
    return "" if value.startswith("n/a") else value
