"""`ip route show`, `ip -4 route`, `ip -6 route`, `ip route show table all` → Route records.

iproute2 ip-route(8): https://man7.org/linux/man-pages/man8/ip-route.8.html

    default via 10.6.0.1 dev ens3 proto dhcp src 10.6.3.201 metric 100
    10.6.0.0/16 dev ens3 proto kernel scope link src 10.6.3.201
    default via 30.142.64.1 dev bond0.400  table red_mgmt
    local 10.6.3.201 dev ens3 table local proto kernel scope host src 10.6.3.201
    default proto ra metric 1024 expires 1568sec pref medium
            nexthop via fe80::1 dev eth0 weight 1
    2001:708:40::2428 via fe80::a96:d7ff:fe38:d757 dev enp0s25  metric 0
        cache  mtu 1492 hoplimit 255

A line is `[TYPE] PREFIX [key value | flag]...`; TYPE defaults to unicast, the table to
main (`table all` prints `table X` for every other table). By default only unicast routes
of the main table are returned - what `ip route get` would consult for ordinary traffic;
`tables=None` / `kinds=None` return every table / type (the Route record has no field for
either, so filter before using them). Multipath routes give one Route per `nexthop`.

A host destination (`10.100.0.203`) becomes CIDR (`/32`, `/128`); a zero-length prefix
(`0.0.0.0/0`, `::/0`) is `default`. The family of a route whose destination and gateway
are both bare words (`default dev ppp0`, `unreachable default ...`) is that of the line
before it (`table all` prints IPv4 before IPv6), else `default_family`. A line that is not
a route (an error message, `dev` without a value) is a warning; nothing raises.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import Route

ROUTE_TYPES = frozenset(
    {"unicast", "local", "broadcast", "multicast", "anycast", "throw", "unreachable"}
    | {"prohibit", "blackhole", "nat"}
)
# Single-word attributes; every other attribute takes one value.
_FLAGS = frozenset(
    {"onlink", "pervasive", "linkdown", "dead", "offload", "trap", "notify", "rt_offload"}
    | {"rt_trap", "rt_offload_failed", "cache", "unresolved"}
)
# Route metrics that may be prefixed by `lock` (ip-route(8): `mtu lock 1500`).
_LOCKABLE = frozenset({"mtu", "window", "rtt", "rttvar", "ssthresh", "cwnd", "advmss"})


@dataclass(slots=True)
class _Line:
    kind: str
    destination: str
    table: str = "main"
    gateway: str = ""
    interface: str = ""
    metric: int = 0
    family: int = 0  # set when `via inet6` says the gateway's family is not the route's
    nexthops: list[tuple[str, str]] = field(default_factory=list)


def parse(
    text: str,
    *,
    tables: Collection[str] | None = ("main",),
    kinds: Collection[str] | None = ("unicast",),
    default_family: int = 4,
) -> Parsed[tuple[Route, ...]]:
    warnings = Warnings()
    lines: list[_Line] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        words = raw.split()
        if not words:
            continue
        if raw[:1].isspace() and lines:
            if words[0] == "nexthop":
                lines[-1].nexthops.append(_nexthop(words[1:], lineno, warnings))
            # Other indented lines are the route cache's details (`cache mtu 1492 ...`).
            continue
        if (line := _route(words, lineno, warnings)) is not None:
            lines.append(line)
    routes: list[Route] = []
    family = default_family
    for line in lines:
        hops = line.nexthops or [(line.gateway, line.interface)]
        for gateway, interface in hops:
            family = line.family or _family(line.destination, gateway, family)
            if (tables is None or line.table in tables) and (kinds is None or line.kind in kinds):
                routes.append(Route(line.destination, gateway, interface, line.metric, family))
    return Parsed.of(tuple(routes), warnings)


def _route(words: list[str], lineno: int, warnings: Warnings) -> _Line | None:
    kind = "unicast"
    if words[0] in ROUTE_TYPES:
        kind, words = words[0], words[1:]
    destination = _destination(words[0]) if words else None
    if destination is None:
        warnings.add(f"line {lineno}: not a route: {' '.join(words)!r:.80}")
        return None
    line = _Line(kind, destination)
    for key, value in _attributes(words[1:], lineno, warnings):
        match key:
            case "via":
                line.gateway = value
            case "via-family":
                line.family = 4 if value == "inet6" else 6
            case "dev":
                line.interface = value
            case "table":
                line.table = value
            case "metric":
                if value.isdigit():
                    line.metric = int(value)
                else:
                    warnings.add(f"line {lineno}: metric {value!r} is not a number")
    return line


def _nexthop(words: list[str], lineno: int, warnings: Warnings) -> tuple[str, str]:
    found = dict(_attributes(words, lineno, warnings))
    return found.get("via", ""), found.get("dev", "")


def _attributes(words: list[str], lineno: int, warnings: Warnings) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        key = words[i]
        i += 1
        if key in _FLAGS:
            continue
        if key in _LOCKABLE and i < len(words) and words[i] == "lock":
            i += 1
        # `via inet6 fe80::1`: an IPv4 route through an IPv6 next hop (RFC 5549); ip names
        # the gateway's family only when it differs from the route's.
        if key == "via" and i < len(words) and words[i] in ("inet", "inet6"):
            pairs.append(("via-family", words[i]))
            i += 1
        if i >= len(words):
            warnings.add(f"line {lineno}: {key!r} without a value")
            break
        pairs.append((key, words[i]))
        i += 1
    return pairs


def _destination(word: str) -> str | None:
    if word == "default":
        return word
    try:
        network = ipaddress.ip_interface(word).network
    except ValueError:
        return None
    if network.prefixlen == 0:
        return "default"
    return word if "/" in word else str(network)


def _family(destination: str, gateway: str, previous: int) -> int:
    for address in (destination, gateway):
        if ":" in address:
            return 6
        if "." in address:
            return 4
    return previous
