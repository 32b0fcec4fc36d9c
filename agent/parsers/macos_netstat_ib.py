"""`netstat -ibn` (macOS) → NetInterface counters (bytes, errors) per interface.

netstat(1): https://keith.github.io/xcode-man-pages/netstat.1.html . One row per interface
and address; the `<Link#N>` row carries the interface's own counters (the address rows
repeat the packet counts and print `-` for errors). A name ending in `*` is down.

    Name  Mtu   Network    Address              Ipkts Ierrs      Ibytes   Opkts Oerrs  …  Coll
    lo0   16384 <Link#1>                        482113     0    61324012  482113     0  …     0
    en0   1500  <Link#11>  3c:22:fb:5a:91:0e   9123441     0 11876512034 4022117    12  …     0
    en0   1500  192.168.1  192.168.1.23        9123441     - 11876512034 4022117     -  …     -

The Address column is empty for interfaces without a link-layer address (lo0, utun), so
columns are read from the right: the last seven are always Ipkts ... Coll.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import NetInterface

_COUNTERS = ("Ipkts", "Ierrs", "Ibytes", "Opkts", "Oerrs", "Obytes", "Coll")


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.split()[:1] == ["Name"]), None)
    if header is None or lines[header].split()[-7:] != list(_COUNTERS):
        raise ParseError("netstat -ibn: no `Name Mtu ... Obytes Coll` header")
    found: dict[str, NetInterface] = {}
    for lineno, line in enumerate(lines[header + 1 :], header + 2):
        words = line.split()
        if not words:
            continue
        if len(words) < 10 or not words[2].startswith("<Link#"):
            if len(words) < 10:
                warnings.add(f"line {lineno}: too few columns: {line.strip()!r:.80}")
            continue
        counters = words[-7:]
        if not all(c.isdigit() for c in counters):
            warnings.add(f"line {lineno}: counters are not numbers: {line.strip()!r:.80}")
            continue
        values = dict(zip(_COUNTERS, map(int, counters), strict=True))
        name = words[0].rstrip("*")
        found[name] = NetInterface(
            name=name,
            mac=words[3].lower() if len(words) == 11 else "",
            mtu=int(words[1]) if words[1].isdigit() else 0,
            rx_bytes=values["Ibytes"],
            tx_bytes=values["Obytes"],
            rx_errors=values["Ierrs"],
            tx_errors=values["Oerrs"],
        )
    return Parsed.of(tuple(found.values()), warnings)
