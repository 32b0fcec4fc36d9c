"""Get-NetIPAddress JSON → addresses and DHCP per interface alias; APIPA visible."""

import json
from pathlib import Path

from agent.parsers import win_ip_config_json

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_laptop_addresses_and_apipa() -> None:
    parsed = win_ip_config_json.parse(
        (HOSTS / "sim-windows11-laptop" / "win_ip_addresses").read_bytes().decode()
    )
    assert parsed.warnings == 0
    by_name = {i.name: i for i in parsed.value}
    wifi = by_name["Wi-Fi"]
    assert (wifi.addresses, wifi.dhcp, wifi.apipa) == (
        ("fe80::5c1d:8e2f:4b71:a90c/64", "10.20.31.147/22"),
        True,
        False,
    )
    bt = by_name["Bluetooth Network Connection"]
    assert (bt.addresses[-1], bt.dhcp, bt.apipa) == ("169.254.87.12/16", False, True)
    assert by_name["Loopback Pseudo-Interface 1"].addresses == ("::1/128", "127.0.0.1/8")


def _ip(address: str, **extra: object) -> dict[str, object]:
    family = 23 if ":" in address else 2
    return {
        "InterfaceAlias": "Ethernet",
        "IPAddress": address,
        "PrefixLength": 24,
        "AddressFamily": family,
        "PrefixOrigin": 1,
        "AddressState": 4,
    } | extra


def test_states_names_and_duplicates() -> None:
    items = [
        _ip("192.168.1.20", AddressState=2),  # Duplicate: an IP conflict, not usable
        _ip("169.254.3.4", PrefixLength=16, PrefixOrigin="WellKnown", AddressState="Preferred"),
        _ip("10.0.0.9", PrefixOrigin="Dhcp", AddressState="Invalid"),
        _ip("10.0.0.10", PrefixOrigin="Dhcp", AddressFamily="IPv4"),
        _ip("10.0.0.10", PrefixOrigin="Dhcp"),  # listed twice (two stores): once
    ]
    (eth,) = win_ip_config_json.parse(json.dumps(items)).value
    assert eth.addresses == ("169.254.3.4/16", "10.0.0.10/24")
    assert (eth.dhcp, eth.apipa) == (True, False)


def test_ugly_entries() -> None:
    items = [
        _ip("10.1.1.1"),
        _ip("fe80::1", AddressFamily=2),
        {"IPAddress": "10.0.0.1"},
        "x",
        _ip("10.1.1.2", PrefixLength="x"),
    ]
    parsed = win_ip_config_json.parse(json.dumps(items))
    assert [i.addresses for i in parsed.value] == [("10.1.1.1/24",)]
    assert parsed.warnings == 4


def test_one_address_without_array() -> None:
    (eth,) = win_ip_config_json.parse(json.dumps(_ip("10.1.1.1"))).value
    assert eth.addresses == ("10.1.1.1/24",)
