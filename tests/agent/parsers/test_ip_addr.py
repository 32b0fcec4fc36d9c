"""ip_addr on this machine's outputs (every form ip prints), a laptop layout and broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers import ip_addr
from agent.records import NetInterface

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "net"
NAMES = ["lo", "ifb0", "ifb1", "eth0"]


def _parse(name: str) -> dict[str, NetInterface]:
    parsed = ip_addr.parse((FIXTURES / name).read_text("utf-8"))
    assert parsed.warnings == 0, parsed.examples
    return {i.name: i for i in parsed.value}


@pytest.mark.parametrize("name", ["ip_addr_show.txt", "ip_d_addr.txt", "ip_s_addr.txt"])
def test_this_machine_in_every_multi_line_form(name: str) -> None:
    found = _parse(name)
    assert list(found) == NAMES
    eth0 = found["eth0"]
    assert eth0.addresses == ("192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64")
    assert (eth0.oper_state, eth0.admin_up, eth0.carrier) == ("up", True, True)
    assert (eth0.mac, eth0.mtu, eth0.kind, eth0.dhcp) == (
        "02:fc:00:00:00:01",
        1400,
        "ethernet",
        False,
    )
    ifb0 = found["ifb0"]
    assert (ifb0.oper_state, ifb0.admin_up, ifb0.carrier, ifb0.addresses) == (
        "down",
        False,
        False,
        (),
    )
    assert found["lo"].kind == "loopback"
    assert found["lo"].oper_state == "unknown"


def test_detail_and_names_tell_virtual_devices() -> None:
    # `ip -d` prints `ifb` as the link kind; without -d the name prefix says the same.
    assert _parse("ip_d_addr.txt")["ifb0"].kind == "virtual"
    assert _parse("ip_addr_show.txt")["ifb0"].kind == "virtual"


@pytest.mark.parametrize("name", ["ip_s_addr.txt", "ip_s_s_link.txt"])
def test_statistics_rows(name: str) -> None:
    eth0 = _parse(name)["eth0"]
    assert (eth0.rx_bytes, eth0.tx_bytes) == (117924252, 148532)
    assert (eth0.rx_errors, eth0.tx_errors, eth0.rx_dropped, eth0.tx_dropped) == (0, 0, 0, 0)
    # The `TX errors:` row of -s -s (transns 2) is not mistaken for the TX counters.
    assert _parse(name)["lo"].tx_bytes == _parse(name)["lo"].rx_bytes > 0


def test_one_line_link_form() -> None:
    found = _parse("ip_o_link.txt")
    assert list(found) == NAMES
    assert (found["eth0"].mac, found["eth0"].carrier, found["eth0"].addresses) == (
        "02:fc:00:00:00:01",
        True,
        (),
    )
    assert found["lo"].kind == "loopback"


def test_one_line_addr_form_has_addresses_only() -> None:
    found = _parse("ip_o_addr.txt")
    assert list(found) == ["lo", "eth0"]  # interfaces without addresses are not listed
    assert found["eth0"].addresses == ("192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64")
    assert (found["eth0"].oper_state, found["eth0"].admin_up) == ("", False)
    assert found["lo"].kind == "loopback"


def test_laptop_with_dhcp_wifi_no_cable_and_apipa() -> None:
    found = _parse("ip_addr_laptop.txt")
    wifi, wired, usb = found["wlp2s0"], found["enp0s31f6"], found["enx00e04c680001"]
    assert (wifi.kind, wifi.dhcp, wifi.carrier) == ("wifi", True, True)
    assert wifi.addresses[0] == "192.168.1.23/24"
    # NO-CARRIER: administratively up, cable out.
    assert (wired.kind, wired.admin_up, wired.carrier, wired.oper_state) == (
        "ethernet",
        True,
        False,
        "down",
    )
    assert usb.apipa and not usb.dhcp
    assert found["docker0"].kind == "virtual"
    assert found["wg0"].kind == "virtual"
    # IPv6 `dynamic` is SLAAC or DHCPv6; only an IPv4 lease marks dhcp.
    assert not found["lo"].dhcp


def test_garbage_lines_are_counted_not_raised() -> None:
    text = (
        "Message truncated\n"
        "2: eth0: <BROADCAST,UP,LOWER_UP> mtu big qdisc mq state UP\n"
        "    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff\n"
        "    inet\n"
        "    RX: bytes packets errors dropped overrun mcast\n"
        "    12 x\n"
    )
    parsed = ip_addr.parse(text)
    assert parsed.warnings == 4
    assert parsed.examples[0] == "line 1: not ip addr output: 'Message truncated'"
    (eth0,) = parsed.value
    assert (eth0.name, eth0.mtu, eth0.mac, eth0.rx_bytes) == ("eth0", 0, "52:54:00:12:34:56", 0)


def test_an_error_message_is_no_interfaces_and_a_warning() -> None:
    parsed = ip_addr.parse('Object "addr" is unknown, try "ip help".\n')
    assert (parsed.value, parsed.warnings) == ((), 1)
    assert ip_addr.parse("").value == ()
