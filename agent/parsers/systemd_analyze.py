"""`systemd-analyze time` → the boot's total duration in seconds.

systemd-analyze(1), https://www.freedesktop.org/software/systemd/man/latest/systemd-analyze.html;
the line is built by src/analyze/analyze-time-data.c pretty_boot_time(). Real outputs of
systemd 252:

    Startup finished in 6.143s (firmware) + 3.065s (loader) + 1.640s (kernel)
        + 4.052s (initrd) + 10.826s (userspace) = 25.726s                  (one line)
    graphical.target reached after 10.802s in userspace.

    Startup finished in 3.579s (kernel) + 1min 5.712s (userspace) = 1min 9.291s

    Startup finished in 209ms (userspace)          (a user manager or a container: no total)

The phases present depend on the machine (no firmware/loader times without UEFI
support in the boot loader, no initrd without one). Times use systemd's
format_timespan: "1min 9.291s", "209ms", "2h 3min". The total is the "= ..." part, or
the sum of the phases when there is none.

While the boot is still running systemd-analyze exits 1 and says on stderr
"Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).";
given that text, the value is 0.0 with a warning.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings

_UNITS_US = {
    "y": 31_557_600_000_000,
    "month": 2_629_800_000_000,
    "w": 604_800_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "min": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
    "us": 1,
    "μs": 1,
    "µs": 1,
}
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(month|min|ms|us|μs|µs|y|w|d|h|s)")
_STARTUP = re.compile(r"Startup finished in (?P<phases>.+?)(?:\s*=\s*(?P<total>[^=]+?))?\s*$")
_PHASE = re.compile(r"(?P<span>.+?)\s*\((?P<name>[\w ]+)\)")


def parse(text: str) -> Parsed[float]:
    warnings = Warnings()
    if "Bootup is not yet finished" in text:
        warnings.add("bootup is not yet finished")
        return Parsed.of(0.0, warnings)
    for line in text.splitlines():
        match = _STARTUP.search(line.strip())
        if match is None:
            continue
        if match["total"]:
            total = span_us(match["total"])
            if total is not None:
                return Parsed.of(total / 1e6, warnings)
            warnings.add(f"total {match['total']!r} not a time span")
        phases = [span_us(p["span"]) for p in _PHASE.finditer(match["phases"].replace("+", " "))]
        if not phases or any(p is None for p in phases):
            raise ParseError(f"systemd-analyze: phases not understood: {line.strip()[:120]}")
        return Parsed.of(sum(p or 0 for p in phases) / 1e6, warnings)
    raise ParseError("systemd-analyze: no 'Startup finished in' line")


def span_us(text: str) -> int | None:
    """systemd's format_timespan back to microseconds: "1min 5.712s" → 65712000."""
    text = text.strip()
    total = 0.0
    pos = 0
    for match in _SPAN_PART.finditer(text):
        if text[pos : match.start()].strip():
            return None
        total += float(match[1]) * _UNITS_US[match[2]]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        return None
    return round(total)
