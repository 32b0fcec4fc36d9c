"""The `win_routes` JSON (Get-NetRoute, default routes of the active store) → Route records.

    [{"DestinationPrefix":"0.0.0.0/0","NextHop":"10.20.28.1","InterfaceAlias":"Wi-Fi",
      "InterfaceIndex":17,"RouteMetric":0,"InterfaceMetric":45,"AddressFamily":2},
     {"DestinationPrefix":"::/0","NextHop":"fe80::1","InterfaceAlias":"Wi-Fi",...}]

Windows picks the route with the lowest RouteMetric + InterfaceMetric, so `metric` is
their sum. A NextHop of 0.0.0.0 / :: means on-link (no gateway). An empty array means no
default route at all, which is a finding for the rules, not a parse problem.

https://learn.microsoft.com/powershell/module/nettcpip/get-netroute
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import Route

DEFAULTS = {"0.0.0.0/0": 4, "::/0": 6}
ON_LINK = {"", "0.0.0.0", "::"}


def parse(text: str) -> Parsed[tuple[Route, ...]]:
    warnings = Warnings()
    found: list[Route] = []
    for i, item in enumerate(ps.load_list(text, "win_routes")):
        if not isinstance(item, dict):
            warnings.add(f"route {i}: expected an object, got {item!r:.60}")
            continue
        try:
            found.append(_route(item))
        except ParseError as exc:
            warnings.add(f"route {i}: {exc}")
    return Parsed.of(tuple(sorted(found, key=lambda r: (r.family, r.metric))), warnings)


def _route(item: ps.JsonObject) -> Route:
    prefix = ps.text(item, "DestinationPrefix")
    if not prefix:
        raise ParseError("missing DestinationPrefix")
    family = DEFAULTS.get(prefix) or (6 if ":" in prefix else 4)
    hop = ps.text(item, "NextHop")
    return Route(
        destination="default" if prefix in DEFAULTS else prefix,
        gateway="" if hop in ON_LINK else hop,
        interface=ps.text(item, "InterfaceAlias"),
        metric=ps.number(item, "RouteMetric") + ps.number(item, "InterfaceMetric"),
        family=family,
    )
