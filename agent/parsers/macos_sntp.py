"""`sntp [-t timeout] <server>` (macOS) → TimeSync (offset of this clock from the server).

sntp(1): https://keith.github.io/xcode-man-pages/sntp.1.html . macOS 10.15 and later
print one line: offset, its error bound (both seconds), the server and its address:

    +0.041237 +/- 0.027419 time.apple.com 17.253.52.125

The ntp.org sntp 4.2.8 of macOS 10.13-10.14 prints its version banner, then the same
figures after a date and time zone, and stratum and leap flags after:

    sntp 4.2.8p10@1.3728-o Tue Mar 21 14:36:42 UTC 2017 (136.200.1~2533)
    2018-09-29 19:42:41.448103 (-0200) +1087.742403 +/- 725.183462 pool.ntp.org 188.68.36.203
      s2 no-leap                                                       (one line, wrapped here)

A failed query prints `sntp: Exchange failed: Timeout` (and exits non-zero, so a live
source reports it as unavailable): such text gives known=False with the message as
detail. `synchronized` means the offset is within MAX_SYNCED_OFFSET_S: macOS's timed keeps
a synchronised clock within milliseconds, so a second off means it is not being steered.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, Warnings
from agent.records import TimeSync

MAX_SYNCED_OFFSET_S = 1.0
_RESULT = re.compile(r"(?:.*\s)?([+-]\d+\.\d+)\s+\+/-\s+(\d+\.\d+)\s+(\S+)(?:\s+(\S+))?.*")


def parse(text: str, server: str = "") -> Parsed[TimeSync]:
    warnings = Warnings()
    problem = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("sntp 4."):
            continue
        if match := _RESULT.fullmatch(stripped):
            offset_s = float(match.group(1))
            result = TimeSync(
                known=True,
                synchronized=abs(offset_s) <= MAX_SYNCED_OFFSET_S,
                offset_ms=round(offset_s * 1000.0, 3),
                source="sntp",
                server=match.group(3),
                detail=f"+/- {float(match.group(2)) * 1000.0:.1f} ms from {match.group(4) or '?'}",
            )
            return Parsed.of(result, warnings)
        if stripped.startswith("sntp:") or "kod_" in stripped:
            problem = problem or stripped
            continue
        warnings.add(f"line {lineno}: not an sntp result: {stripped!r:.80}")
    return Parsed.of(
        TimeSync(known=False, source="sntp", server=server, detail=problem or "no answer"),
        warnings,
    )
