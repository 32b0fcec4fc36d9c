"""/proc/net/route and /proc/net/ipv6_route → Route, the kernel's main routing table.

Read in-process instead of running `ip route` every cycle (a fork and exec each time).
Formats (net/ipv4/fib_trie.c fib_route_seq_show, net/ipv6/route.c ipv6_route_seq_show):

    Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
    eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0

IPv4 addresses are hex in host byte order (little-endian on x86 and ARM: 010200C0 is
192.0.2.1). IPv6 lines are: destination, prefix length, source, source prefix length,
next hop (32 hex digits each, network order), metric, refcount, use, flags, device.
Flags: RTF_UP 0x1, RTF_GATEWAY 0x2, RTF_REJECT 0x200. Loopback and reject routes, and
IPv6 local/multicast routes (table local is included in ipv6_route), are left out.
"""

from __future__ import annotations

import ipaddress

from agent.parsers import Parsed, Warnings
from agent.records import Route

RTF_UP = 0x1
RTF_GATEWAY = 0x2
RTF_REJECT = 0x200


def _v4(hex_le: str, byteorder: str) -> str:
    value = int(hex_le, 16).to_bytes(4, "big")
    if byteorder == "little":
        value = value[::-1]
    return str(ipaddress.IPv4Address(value))


def parse(text: str, byteorder: str = "little") -> Parsed[tuple[Route, ...]]:
    """/proc/net/route. `byteorder` is the captured host's (the file is in host order):
    little on every workstation architecture (x86, ARM); big on s390x and old POWER."""
    warnings = Warnings()
    routes: list[Route] = []
    for number, line in enumerate(text.splitlines(), 1):
        cols = line.split()
        if not cols or cols[0] == "Iface":
            continue
        try:
            iface, dest, gateway, flags = cols[0], cols[1], cols[2], int(cols[3], 16)
            metric, mask = int(cols[6]), cols[7]
            prefix = bin(int(mask, 16)).count("1")
            dest_ip, gw_ip = _v4(dest, byteorder), _v4(gateway, byteorder)
        except (IndexError, ValueError):
            warnings.add(f"line {number}: not a route: {line.strip()!r:.80}")
            continue
        if not flags & RTF_UP or flags & RTF_REJECT or iface == "lo":
            continue
        destination = "default" if prefix == 0 else f"{dest_ip}/{prefix}"
        via = gw_ip if flags & RTF_GATEWAY else ""
        routes.append(Route(destination, via, iface, metric, 4))
    return Parsed.of(tuple(routes), warnings)


def parse_ipv6(text: str) -> Parsed[tuple[Route, ...]]:
    warnings = Warnings()
    routes: list[Route] = []
    for number, line in enumerate(text.splitlines(), 1):
        cols = line.split()
        if not cols:
            continue
        try:
            dest = ipaddress.IPv6Address(int(cols[0], 16))
            prefix = int(cols[1], 16)
            hop = ipaddress.IPv6Address(int(cols[4], 16))
            metric, flags, iface = int(cols[5], 16), int(cols[8], 16), cols[9]
        except (IndexError, ValueError):
            warnings.add(f"line {number}: not an IPv6 route: {line.strip()!r:.80}")
            continue
        if not flags & RTF_UP or flags & RTF_REJECT or iface == "lo":
            continue
        if dest.is_multicast or (prefix == 128 and not flags & RTF_GATEWAY):
            continue  # multicast and the host's own addresses (table local)
        destination = "default" if prefix == 0 else f"{dest}/{prefix}"
        via = str(hop) if flags & RTF_GATEWAY and not hop.is_unspecified else ""
        routes.append(Route(destination, via, iface, metric, 6))
    return Parsed.of(tuple(routes), warnings)
