"""`route -n` (net-tools; also `route -n -A inet6` and `netstat -rn`) → Route records.

route(8): https://man7.org/linux/man-pages/man8/route.8.html

    Kernel IP routing table
    Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
    0.0.0.0         10.0.0.2        0.0.0.0         UG    0      0        0 eth0
    10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0

    Kernel IPv6 routing table
    Destination                    Next Hop                   Flag Met Ref Use If
    fe80::/64                      ::                         U    256 1     0 eth0

Columns are found by their header names (`netstat -rn` has MSS/Window/irtt instead of
Metric/Ref/Use). Flags (route(8)): U up, G gateway, H host, ! reject. Rejected routes
(`!`, unreachable) carry no traffic and are left out; a gateway of 0.0.0.0, `::` or `*`
means directly connected. The same CIDR/`default` conventions as ip_route.py apply.
Lines that do not fit the columns are warnings; nothing raises.
"""

from __future__ import annotations

import ipaddress

from agent.parsers import Parsed, Warnings
from agent.records import Route

_COLUMNS = {
    "Destination": "destination",
    "Gateway": "gateway",
    "Next": "gateway",  # "Next Hop" is two words in the IPv6 header
    "Genmask": "genmask",
    "Flags": "flags",
    "Flag": "flags",
    "Metric": "metric",
    "Met": "metric",
    "Iface": "interface",
    "If": "interface",
}
_NO_GATEWAY = frozenset({"0.0.0.0", "::", "*", ""})


def parse(text: str) -> Parsed[tuple[Route, ...]]:
    warnings = Warnings()
    routes: list[Route] = []
    columns: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or line.startswith("Kernel "):
            continue
        if words[0] == "Destination":
            columns = [_COLUMNS.get(w, w) for w in words if w != "Hop"]
            continue
        if columns is None or len(words) != len(columns):
            warnings.add(f"line {lineno}: not a route -n row: {line.strip()!r:.80}")
            continue
        row = dict(zip(columns, words, strict=True))
        route = _route(row, lineno, warnings)
        if route is not None:
            routes.append(route)
    return Parsed.of(tuple(routes), warnings)


def _route(row: dict[str, str], lineno: int, warnings: Warnings) -> Route | None:
    flags = row.get("flags", "U")
    if "!" in flags:
        return None
    try:
        if "genmask" in row:
            network = ipaddress.ip_network(f"{row['destination']}/{row['genmask']}", strict=False)
        else:
            network = ipaddress.ip_network(row.get("destination", ""), strict=False)
    except ValueError:
        warnings.add(f"line {lineno}: bad destination or mask {row.get('destination')!r}")
        return None
    metric = row.get("metric", "0")
    if not metric.isdigit():
        warnings.add(f"line {lineno}: metric {metric!r} is not a number")
        metric = "0"
    gateway = row.get("gateway", "")
    return Route(
        destination="default" if network.prefixlen == 0 else str(network),
        gateway="" if gateway in _NO_GATEWAY else gateway,
        interface=row.get("interface", ""),
        metric=int(metric),
        family=network.version,
    )
