"""ip_route and route_n on this machine's routing tables, multipath and broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers import ip_route, route_n
from agent.records import Route

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "net"
V4_DEFAULT = Route("default", "192.0.2.1", "eth0", 0, 4)
V4_LINK = Route("192.0.2.0/24", "", "eth0", 0, 4)
V6_DEFAULT = Route("default", "fd00::1", "eth0", 1024, 6)


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


@pytest.mark.parametrize("name", ["ip_route_show.txt", "ip_4_route.txt"])
def test_ipv4_main_table(name: str) -> None:
    parsed = ip_route.parse(_read(name))
    assert parsed.value == (V4_DEFAULT, V4_LINK)
    assert parsed.warnings == 0


def test_ipv6_main_table() -> None:
    assert ip_route.parse(_read("ip_6_route.txt")).value == (
        Route("fd00::/64", "", "eth0", 256, 6),
        Route("fe80::/64", "", "eth0", 256, 6),
        V6_DEFAULT,
    )


def test_table_all_keeps_main_unicast_unless_asked() -> None:
    text = _read("ip_6_route_table_all.txt")
    assert ip_route.parse(text).value == ip_route.parse(_read("ip_6_route.txt")).value
    local = ip_route.parse(text, tables=("local",), kinds=("local",)).value
    assert [r.destination for r in local] == ["::1/128", "fd00::2/128", "fe80::fc:ff:fe00:1/128"]
    every = ip_route.parse(text, tables=None, kinds=None).value
    assert len(every) == len(text.splitlines())
    assert {r.family for r in every} == {6}


def test_table_all_prints_both_families_and_the_local_table() -> None:
    text = _read("ip_route_table_all.txt")
    v6_main = ip_route.parse(_read("ip_6_route.txt")).value
    assert ip_route.parse(text).value == (V4_DEFAULT, V4_LINK, *v6_main)
    broadcast = ip_route.parse(text, tables=None, kinds=("broadcast",)).value
    assert [r.destination for r in broadcast] == ["127.255.255.255/32", "192.0.2.255/32"]


def test_multipath_lock_blackhole_and_v4_via_v6() -> None:
    parsed = ip_route.parse(_read("ip_route_multipath.txt"))
    assert parsed.warnings == 0
    defaults = [r for r in parsed.value if r.destination == "default"]
    assert defaults == [
        Route("default", "192.168.1.1", "wlp2s0", 600, 4),
        # `via inet6`: an IPv4 default through an IPv6 next hop is still an IPv4 route.
        Route("default", "fe80::f692:bfff:fe11:2233", "wlp2s0", 700, 4),
        # One Route per nexthop; `mtu lock 1492` does not shift the attributes.
        Route("default", "fe80::f692:bfff:fe11:2233", "wlp2s0", 600, 6),
        Route("default", "fe80::f692:bfff:fe11:2234", "wlp2s0", 600, 6),
    ]
    blackholes = ip_route.parse(_read("ip_route_multipath.txt"), kinds=("blackhole",)).value
    assert blackholes == (Route("10.99.0.0/16", "", "", 0, 4),)


def test_bare_default_takes_the_family_of_its_neighbours() -> None:
    text = (
        "fe80::/64 dev eth0 proto kernel metric 256\nunreachable default dev lo metric 4294967295\n"
    )
    (route,) = ip_route.parse(text, kinds=("unreachable",)).value
    assert (route.destination, route.family, route.metric) == ("default", 6, 4294967295)
    (ppp,) = ip_route.parse("default dev ppp0 scope link\n", default_family=6).value
    assert (ppp.interface, ppp.family) == ("ppp0", 6)


def test_broken_lines_are_counted() -> None:
    text = (
        "/usr/sbin/ip: bad command or file name\nff01::/16 dev\n10.0.0.0/8 dev eth1 metric high\n"
    )
    parsed = ip_route.parse(text)
    assert parsed.warnings == 3
    assert parsed.value == (Route("ff01::/16", "", "", 0, 6), Route("10.0.0.0/8", "", "eth1", 0, 4))


# --- route -n -------------------------------------------------------------------------------


def test_route_n_agrees_with_ip_route() -> None:
    parsed = route_n.parse(_read("route_n.txt"))
    assert parsed.value == (V4_DEFAULT, V4_LINK)
    assert parsed.warnings == 0


def test_netstat_rn_columns() -> None:
    # No Metric column: MSS, Window and irtt instead.
    assert route_n.parse(_read("netstat_rn.txt")).value == (V4_DEFAULT, V4_LINK)


def test_route_n_inet6_leaves_out_rejected_routes() -> None:
    parsed = route_n.parse(_read("route_n_inet6.txt"))
    assert parsed.warnings == 0
    routes = parsed.value
    assert Route("default", "fd00::1", "eth0", 1024, 6) in routes
    assert Route("fe80::/64", "", "eth0", 256, 6) in routes
    assert all(r.interface != "lo" or r.destination == "::1/128" for r in routes)  # !n is gone
    assert len(routes) == 7


def test_route_n_garbage() -> None:
    text = (
        "Kernel IP routing table\n"
        "0.0.0.0 10.0.0.1 0.0.0.0 UG 0 0 0 eth0\n"  # before any header
        "Destination Gateway Genmask Flags Metric Ref Use Iface\n"
        "10.0.0.0 0.0.0.0 255.0.255.0 U 0 0 0 eth0\n"  # not a netmask
        "10.0.0.0 0.0.0.0\n"
    )
    parsed = route_n.parse(text)
    assert (parsed.value, parsed.warnings) == ((), 3)
