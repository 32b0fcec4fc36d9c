"""networkctl, nmcli, the sysfs_net and dns_checks JSON, /proc/net/wireless and /proc/net/arp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.parsers import (
    ParseError,
    dns_checks_json,
    networkctl_status,
    nmcli,
    proc_net_arp,
    proc_net_wireless,
    sysfs_net_json,
)
from agent.records import DnsCheck, Route

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "net"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


# --- networkctl ------------------------------------------------------------------------------


def test_networkctl_current_layout() -> None:
    parsed = networkctl_status.parse(_read("networkctl_status_a_v255.txt"))
    assert parsed.warnings == 0
    status = parsed.value
    assert [(x.name, x.operational, x.setup) for x in status.links] == [
        ("lo", "carrier", "unmanaged"),
        ("wlp2s0", "routable", "configured"),
        ("enp0s31f6", "no-carrier", "configuring"),
        ("docker0", "no-carrier", "unmanaged"),
    ]
    lo, wifi, wired, docker = status.interfaces
    assert (wifi.kind, wifi.mac, wifi.mtu, wifi.dhcp, wifi.wifi_ssid) == (
        "wifi",
        "0c:dd:24:aa:bb:cc",
        1500,
        True,
        "HomeNet",
    )
    assert wifi.addresses == ("192.168.1.23", "fe80::edd:24ff:feaa:bbcc")
    assert (wired.kind, wired.speed_mbps, wired.oper_state, wired.admin_up, wired.carrier) == (
        "ethernet",
        1000,
        "down",
        True,
        False,
    )
    assert (lo.kind, docker.kind) == ("loopback", "virtual")
    assert status.gateways == (Route("default", "192.168.1.1", "wlp2s0", 0, 4),)
    assert (status.dns.servers, status.dns.search) == (("192.168.1.1",), ("lan",))


def test_networkctl_summary_block() -> None:
    status = networkctl_status.parse(_read("networkctl_status_summary.txt")).value
    assert (status.interfaces, status.links) == ((), ())
    assert status.gateways == (
        Route("default", "192.168.1.1", "wlp2s0", 0, 4),
        Route("default", "fe80::f692:bfff:fe11:2233", "wlp2s0", 0, 6),
    )
    assert status.dns.servers == ("192.168.1.1",)


def test_networkctl_without_networkd() -> None:
    # What this machine prints (no D-Bus): a message, no blocks.
    parsed = networkctl_status.parse("Failed to connect system bus: No such file or directory\n")
    assert (parsed.value.interfaces, parsed.value.gateways, parsed.warnings) == ((), (), 1)


# --- nmcli -----------------------------------------------------------------------------------


def test_nmcli_terse_device_show() -> None:
    parsed = nmcli.parse(_read("nmcli_t_device_show.txt"))
    assert parsed.warnings == 0
    show = parsed.value
    wifi, wired = show.interfaces
    assert (wifi.name, wifi.kind, wifi.mac, wifi.dhcp, wifi.oper_state) == (
        "wlp2s0",
        "wifi",
        "0c:dd:24:aa:bb:cc",
        True,
        "up",
    )
    assert wifi.addresses == ("192.168.1.23/24", "fe80::edd:24ff:feaa:bbcc/64")
    assert (wired.oper_state, wired.carrier, wired.admin_up) == ("down", False, False)
    assert [(d.state_code, d.connection, d.carrier) for d in show.devices] == [
        (100, "HomeNet", None),
        (20, "", False),
    ]
    # The gateway is already the 0.0.0.0/0 route; table=255 (local) is left out.
    assert show.routes == (
        Route("192.168.1.0/24", "", "wlp2s0", 600, 4),
        Route("default", "192.168.1.1", "wlp2s0", 600, 4),
        Route("fe80::/64", "", "wlp2s0", 1024, 6),
    )
    assert (show.dns.servers, show.dns.search, show.dns.source) == (
        ("192.168.1.1",),
        ("lan",),
        "nmcli",
    )


def test_nmcli_gateway_without_route_lines_and_bad_route() -> None:
    text = (
        "GENERAL.DEVICE:                         eth0\n"
        "GENERAL.STATE:                          100 (connected)\n"
        "IP4.GATEWAY:                            10.0.0.1\n"
        "IP4.ROUTE[1]:                           dst = nowhere, nh = 10.0.0.1, mt = 1\n"
        "Error: Could not create NMClient object: Could not connect: No such file or directory.\n"
    )
    parsed = nmcli.parse(text)
    assert parsed.value.routes == (Route("default", "10.0.0.1", "eth0", 0, 4),)
    assert parsed.warnings == 2


def test_nmcli_connection_show_names_with_spaces() -> None:
    text = (
        "NAME                UUID                                  TYPE      DEVICE\n"
        "Wired connection 1  ba12c52b-cd0e-39a0-a95b-643a0859664e  ethernet  eth1\n"
        "HomeNet             0d5cbb1a-2f0e-4f3e-9c41-5a8d4f7e9b10  wifi      --\n"
    )
    parsed = nmcli.parse_connections(text)
    assert [(c.name, c.type, c.device) for c in parsed.value] == [
        ("Wired connection 1", "ethernet", "eth1"),
        ("HomeNet", "wifi", ""),
    ]
    assert parsed.warnings == 0


# --- sysfs_net JSON ---------------------------------------------------------------------------


def test_sysfs_net_of_this_machine() -> None:
    parsed = sysfs_net_json.parse(_read("sysfs_net.json"))
    assert parsed.warnings == 0
    found = {i.name: i for i in parsed.value}
    assert list(found) == ["eth0", "ifb0", "ifb1", "lo"]  # physical first
    eth0, ifb0, lo = found["eth0"], found["ifb0"], found["lo"]
    assert (eth0.kind, eth0.admin_up, eth0.carrier, eth0.oper_state) == (
        "ethernet",
        True,
        True,
        "up",
    )
    # speed -1: virtio does not report one.
    assert (eth0.speed_mbps, eth0.mtu, eth0.carrier_changes) == (0, 1400, 2)
    assert (eth0.rx_bytes, eth0.tx_bytes) == (117924252, 148532)
    # Down and virtual: carrier and speed were unreadable (null).
    assert (ifb0.kind, ifb0.admin_up, ifb0.carrier) == ("virtual", False, False)
    assert lo.kind == "loopback"


def test_sysfs_net_wifi_speed_and_omitted() -> None:
    doc = {
        "interfaces": [
            {"name": "wlp2s0", "type": 1, "wireless": True, "flags": "0x1003", "speed": 866},
            {"name": "eno1", "type": 1, "flags": "zz"},
            {"address": "no name"},
        ],
        "omitted": 12,
    }
    parsed = sysfs_net_json.parse(json.dumps(doc))
    (wifi,) = parsed.value
    assert (wifi.kind, wifi.speed_mbps, wifi.admin_up) == ("wifi", 866, True)
    assert parsed.warnings == 3


@pytest.mark.parametrize("text", ["not json", "[]", '{"something": 1}', '{"interfaces": 3}'])
def test_sysfs_net_rejects_other_documents(text: str) -> None:
    with pytest.raises(ParseError):
        sysfs_net_json.parse(text)


# --- dns_checks JSON --------------------------------------------------------------------------


def test_dns_checks_json() -> None:
    doc = {
        "timeout_s": 2.0,
        "checks": [
            {"server": "10.0.0.2", "name": "example.com", "qtype": 1, "status": "ok",
             "rtt_ms": 1.84, "answers": 1, "detail": ""},
            {"server": "10.0.0.3", "name": "example.com", "status": "timeout", "rtt_ms": 0,
             "answers": 0, "detail": "no answer in 2 s"},
            {"server": "10.0.0.4", "name": "example.com", "status": "lost"},
            {"server": "10.0.0.4", "name": "example.com", "status": "ok", "rtt_ms": "fast"},
            "junk",
        ],
    }  # fmt: skip
    parsed = dns_checks_json.parse(json.dumps(doc))
    assert parsed.value == (
        DnsCheck("example.com", "10.0.0.2", "ok", 1.84, 1, ""),
        DnsCheck("example.com", "10.0.0.3", "timeout", 0.0, 0, "no answer in 2 s"),
    )
    assert parsed.warnings == 3
    with pytest.raises(ParseError):
        dns_checks_json.parse('{"timeout_s": 2}')


# --- /proc/net/wireless, /proc/net/arp --------------------------------------------------------


def test_proc_net_wireless() -> None:
    assert proc_net_wireless.parse(_read("proc_net_wireless.txt")).value == {"wlan0": -42}
    text = (
        "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
        " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
        " wlan1: 0000   60   214.  0        0      0      0      0      0        0\n"  # biased
        " wlan2: 0000   60   70.   0        0      0      0      0      0        0\n"  # relative
        " wlan3: 0000   60\n"
    )
    parsed = proc_net_wireless.parse(text)
    assert (parsed.value, parsed.warnings) == ({"wlan1": -42}, 1)
    assert proc_net_wireless.parse("\n".join(text.splitlines()[:2])).value == {}


def test_proc_net_arp_of_this_machine() -> None:
    parsed = proc_net_arp.parse(_read("proc_net_arp.txt"))
    assert (parsed.value, parsed.warnings) == ({"192.0.2.1": ("eth0", True)}, 0)


def test_proc_net_arp_incomplete_gateway() -> None:
    table = proc_net_arp.parse(_read("proc_net_arp_incomplete.txt")).value
    assert table["192.168.1.1"] == ("wlp2s0", False)
    assert table["172.17.0.2"] == ("docker0", True)
    parsed = proc_net_arp.parse("IP address HW type Flags HW address Mask Device\n1.2.3.4 0x1\n")
    assert (parsed.value, parsed.warnings) == ({}, 1)
