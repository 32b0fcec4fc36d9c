"""Get-NetAdapter + statistics JSON → NetInterface (state from the numbers, not Status)."""

import json
from pathlib import Path

from agent.parsers import win_net_adapter_json
from agent.records import NetInterface

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_laptop_adapters() -> None:
    parsed = win_net_adapter_json.parse(
        (HOSTS / "sim-windows11-laptop" / "win_net_adapters").read_bytes().decode()
    )
    assert parsed.warnings == 0
    wifi, eth, bt = parsed.value
    assert wifi == NetInterface(
        name="Wi-Fi",
        mac="a4:c3:f0:5e:21:7b",
        kind="wifi",
        oper_state="up",
        admin_up=True,
        carrier=True,
        speed_mbps=1201,
        mtu=1500,
        rx_bytes=4824117220,
        tx_bytes=611094872,
        rx_dropped=37,
    )
    assert (eth.kind, eth.oper_state, eth.carrier, eth.speed_mbps) == ("ethernet", "down", False, 0)
    assert (bt.name, bt.kind) == ("Bluetooth Network Connection", "other")


def test_german_names_are_just_labels() -> None:
    parsed = win_net_adapter_json.parse(
        (HOSTS / "sim-windows10-de-desktop" / "win_net_adapters").read_bytes().decode()
    )
    assert [(i.name, i.kind, i.oper_state) for i in parsed.value] == [
        ("Ethernet", "ethernet", "up"),
        ("WLAN", "wifi", "down"),
    ]


def test_virtual_disabled_and_status_only_input() -> None:
    items = [
        {
            "Name": "vEthernet (Default Switch)",
            "InterfaceOperationalStatus": 1,
            "InterfaceAdminStatus": 1,
            "NdisPhysicalMedium": 14,
            "HardwareInterface": False,
            "Virtual": True,
        },
        {
            "Name": "Ethernet 2",
            "InterfaceOperationalStatus": 2,
            "InterfaceAdminStatus": 2,
            "NdisPhysicalMedium": 14,
            "HardwareInterface": True,
            "ReceiveLinkSpeed": 9223372036854775807,
        },
        {"Name": "Old", "Status": "Up"},  # no numeric properties at all
        {"Name": "Gone", "Status": "Not Present"},
    ]
    virtual, disabled, old, gone = win_net_adapter_json.parse(json.dumps(items)).value
    assert (virtual.kind, virtual.oper_state) == ("virtual", "up")
    assert (disabled.admin_up, disabled.oper_state, disabled.speed_mbps) == (False, "down", 0)
    assert (old.oper_state, old.admin_up, old.carrier) == ("up", True, True)
    assert gone.oper_state == "notpresent"


def test_ugly_entries() -> None:
    parsed = win_net_adapter_json.parse(
        json.dumps([{"Name": ""}, {"Name": "x", "MtuSize": "big"}, 1])
    )
    assert (parsed.value, parsed.warnings) == ((), 3)
