"""/proc/net/wireless → signal level in dBm per wireless interface.

The Wireless Extensions table (kernel net/wireless/wext-proc.c, wireless_seq_printf_stats;
https://www.kernel.org/doc/html/latest/networking/statistics.html lists the file):

    Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
     face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
     wlan0: 0000   68.  -42.  -256        0      0      0      0    208        0

The kernel prints `level` as a signed dBm value when the driver flags it as dBm
(IW_QUAL_DBM); some drivers report the same dBm as an unsigned byte (214 = -42 dBm).
A trailing `.` only says the value was updated since the last read. Levels in between
(0..127: relative units, not dBm) are not signal strengths and are left out. Only an
associated interface has a row; no Wi-Fi gives just the two header lines.
"""

from __future__ import annotations

from agent.parsers import Parsed, Warnings


def parse(text: str) -> Parsed[dict[str, int]]:
    warnings = Warnings()
    levels: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if "|" in line or not line.strip():
            continue  # the two header lines
        name, sep, rest = line.strip().partition(":")
        fields = rest.split()
        if not sep or len(fields) < 3:
            warnings.add(f"line {lineno}: not a /proc/net/wireless row: {line.strip()!r:.80}")
            continue
        try:
            level = int(fields[2].rstrip("."))
        except ValueError:
            warnings.add(f"line {lineno}: level {fields[2]!r} is not a number")
            continue
        if level < 0:
            levels[name] = level
        elif level > 127:
            levels[name] = level - 256
    return Parsed.of(levels, warnings)
