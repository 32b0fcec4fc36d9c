"""Get-NetRoute default routes → Route (metric = route + interface metric)."""

import json
from pathlib import Path

from agent.parsers import win_routes_json
from agent.records import Route

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_german_desktop_v4_and_v6() -> None:
    parsed = win_routes_json.parse(
        (HOSTS / "sim-windows10-de-desktop" / "win_routes").read_bytes().decode()
    )
    assert parsed.value == (
        Route("default", "192.168.178.1", "Ethernet", 25, 4),
        Route("default", "fe80::3681:c4ff:fe2b:1d0e", "Ethernet", 25, 6),
    )


def test_on_link_single_object_and_none() -> None:
    one = {
        "DestinationPrefix": "0.0.0.0/0",
        "NextHop": "0.0.0.0",
        "InterfaceAlias": "PPP",
        "RouteMetric": 1,
        "InterfaceMetric": 5,
    }
    assert win_routes_json.parse(json.dumps(one)).value == (Route("default", "", "PPP", 6, 4),)
    assert win_routes_json.parse("").value == ()  # no default route: a finding, not an error


def test_ugly_entries() -> None:
    parsed = win_routes_json.parse(
        json.dumps([{"NextHop": "10.0.0.1"}, 3, {"DestinationPrefix": "::/0", "RouteMetric": "x"}])
    )
    assert (parsed.value, parsed.warnings) == ((), 3)
