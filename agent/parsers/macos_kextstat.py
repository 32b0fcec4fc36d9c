"""`kmutil showloaded` (macOS 11+) and `kextstat` (all releases) → DriverInfo per loaded kext.

kmutil(8) https://keith.github.io/xcode-man-pages/kmutil.8.html and kextstat(8) print the
same table (since macOS 11 kextstat runs kmutil and says so first):

    Executing: /usr/bin/kmutil showloaded
    No variant specified, falling back to release
    Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>
        1  167 0                  0          0          com.apple.kpi.bsd (23.4.0) 5B1E… <>
      204    0 0xfffffe0027a1c000 0x8000     0x8000     com.acme.driver.AcmeUSBSerial (2.1.7) 3F…
                                                    … <57 12 6 5 3 1>   (one line, wrapped here)

name = the bundle id, version = the parenthesised one, provider = "Apple" for com.apple.*,
else the bundle id's first two labels (com.acme) - third-party kexts are the ones that
panic. kmutil does not say whether a kext is signed (macOS refuses unsigned ones unless
SIP is off), so `signed` keeps its default.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import DriverInfo

_ROW = re.compile(
    r"\s*\d+\s+\d+\s+(?:0x[0-9a-f]+|0)\s+(?:0x[0-9a-f]+|0)\s+(?:0x[0-9a-f]+|0)\s+"
    r"(\S+)\s+\(([^)]*)\)(?:\s+[0-9A-Fa-f-]{36})?(?:\s+<[^>]*>)?\s*"
)
_CHATTER = ("Executing:", "No variant specified", "Index Refs Address")


def parse(text: str) -> Parsed[tuple[DriverInfo, ...]]:
    warnings = Warnings()
    drivers: list[DriverInfo] = []
    header = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_CHATTER):
            header = header or stripped.startswith("Index Refs")
            continue
        match = _ROW.fullmatch(line)
        if match is None:
            warnings.add(f"line {lineno}: not a kext row: {stripped!r:.80}")
            continue
        name = match.group(1)
        drivers.append(DriverInfo(name=name, version=match.group(2), provider=_provider(name)))
    if not header and not drivers:
        raise ParseError("kmutil showloaded: no `Index Refs Address ...` table")
    return Parsed.of(tuple(drivers), warnings)


def _provider(bundle_id: str) -> str:
    if bundle_id.startswith("com.apple."):
        return "Apple"
    return ".".join(bundle_id.split(".")[:2])
