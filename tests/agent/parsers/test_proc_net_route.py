"""/proc/net/route and ipv6_route, on this VM's real files (tests/fixtures/linux/), against
what `ip route` printed on the same machine at the same time."""

from __future__ import annotations

from pathlib import Path

from agent.parsers import proc_net_route
from agent.records import Route

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def test_ipv4_main_table_matches_ip_route() -> None:
    # ip route: "default via 192.0.2.1 dev eth0" / "192.0.2.0/24 dev eth0 proto kernel ..."
    parsed = proc_net_route.parse((FIXTURES / "proc_net_route.txt").read_text(), "little")
    assert parsed.warnings == 0
    assert parsed.value == (
        Route("default", "192.0.2.1", "eth0", 0, 4),
        Route("192.0.2.0/24", "", "eth0", 0, 4),
    )


def test_ipv6_routes_match_ip_6_route_without_local_and_loopback() -> None:
    # ip -6 route: fd00::/64, fe80::/64 (metric 256), default via fd00::1 (metric 1024)
    parsed = proc_net_route.parse_ipv6((FIXTURES / "proc_net_ipv6_route.txt").read_text())
    assert parsed.warnings == 0
    assert parsed.value == (
        Route("fd00::/64", "", "eth0", 256, 6),
        Route("fe80::/64", "", "eth0", 256, 6),
        Route("default", "fd00::1", "eth0", 1024, 6),
    )


def test_big_endian_hosts_print_addresses_in_network_order() -> None:
    text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
    text += "eth0\t00000000\tC0000201\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    assert proc_net_route.parse(text, "big").value == (
        Route("default", "192.0.2.1", "eth0", 100, 4),
    )


def test_garbled_lines_are_warnings_and_reject_routes_are_left_out() -> None:
    text = (
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\tZZZZ\n"
        "eth0\t0000000A\t00000000\t0201\t0\t0\t0\t000000FF\t0\t0\t0\n"  # unreachable 10/8
        "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
    )
    parsed = proc_net_route.parse(text, "little")
    assert parsed.value == (Route("192.168.1.0/24", "", "wlan0", 600, 4),)
    assert parsed.warnings == 1 and "line 2" in parsed.examples[0]
