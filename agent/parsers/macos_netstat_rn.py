"""`netstat -rn -f inet` (macOS, BSD) → IPv4 Route per routing-table entry.

netstat(1): https://keith.github.io/xcode-man-pages/netstat.1.html ; the flags are listed
there (U up, G gateway, H host, S static, C cloning, L link-layer, W was cloned, c/I/i
interface-scoped ...). Trimmed:

    Routing tables

    Internet:
    Destination        Gateway            Flags               Netif Expire
    default            192.168.1.1        UGScg                 en0
    127                127.0.0.1          UCS                   lo0
    192.168.1          link#11            UCS                   en0      !
    192.168.1.1/32     link#11            UCS                   en0      !
    192.168.1.1        a4:91:b1:2c:3d:4e  UHLWIir               en0   1197

BSD prints a network without its trailing zero octets and with the mask implied by the
octets shown (`192.168.1` = 192.168.1.0/24, `127` = 127.0.0.0/8); a host route (H) has
no mask (/32). Entries with a link-layer gateway (L: the ARP cache, `a4:91:…`) are
neighbours, not routes, and are skipped; `link#11` (directly connected) becomes no
gateway. Older releases (10.12) add Refs and Use columns: the header says which column
is Netif. netstat prints no metrics; the order of default routes is the kernel's.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import Route


def parse(text: str) -> Parsed[tuple[Route, ...]]:
    warnings = Warnings()
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.split()[:1] == ["Destination"]), None)
    if header is None:
        raise ParseError("netstat -rn: no `Destination Gateway Flags ...` header")
    columns = lines[header].split()
    if "Netif" not in columns or columns[:3] != ["Destination", "Gateway", "Flags"]:
        raise ParseError(f"netstat -rn: unknown header {lines[header].strip()!r:.80}")
    netif = columns.index("Netif")
    routes: list[Route] = []
    for lineno, line in enumerate(lines[header + 1 :], header + 2):
        words = line.split()
        if not words:
            continue
        if words[0].endswith(":"):  # "Internet6:" - another family's table follows
            break
        if len(words) <= netif:
            warnings.add(f"line {lineno}: too few columns: {line.strip()!r:.80}")
            continue
        destination, gateway, flags = words[0], words[1], words[2]
        if "L" in flags:
            continue
        cidr = _cidr(destination, host="H" in flags)
        if cidr is None:
            warnings.add(f"line {lineno}: destination {destination!r:.40} is not IPv4")
            continue
        routes.append(
            Route(
                destination=cidr,
                gateway="" if gateway.startswith("link#") else gateway,
                interface=words[netif],
                family=4,
            )
        )
    return Parsed.of(tuple(routes), warnings)


def _cidr(destination: str, host: bool) -> str | None:
    if destination == "default":
        return "default"
    address, _, mask = destination.partition("/")
    octets = address.split(".")
    if not 1 <= len(octets) <= 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        return None
    bits = int(mask) if mask.isdigit() else 32 if host else 8 * len(octets)
    return ".".join(octets + ["0"] * (4 - len(octets))) + f"/{bits}"
