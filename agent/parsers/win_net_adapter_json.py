"""The `win_net_adapters` JSON (Get-NetAdapter + Get-NetAdapterStatistics) → NetInterface.

    [{"Name":"Wi-Fi","InterfaceDescription":"Intel(R) Wi-Fi 6E AX211 160MHz","ifIndex":17,
      "Status":"Up","MacAddress":"A4-C3-F0-5E-21-7B","ReceiveLinkSpeed":1201000000,
      "TransmitLinkSpeed":1201000000,"MediaConnectState":1,"InterfaceOperationalStatus":1,
      "InterfaceAdminStatus":1,"NdisPhysicalMedium":9,"MtuSize":1500,
      "HardwareInterface":true,"Virtual":false,
      "Statistics":{"ReceivedBytes":4824117220,"SentBytes":611094872,
        "ReceivedPacketErrors":0,"OutboundPacketErrors":0,"ReceivedDiscardedPackets":12,...}}]

The state comes from the numeric properties, not from `Status`: InterfaceOperationalStatus
is RFC 2863 ifOperStatus (1 up, 2 down, 3 testing, 4 unknown, 5 dormant, 6 notPresent,
7 lowerLayerDown; Linux's operstate words), InterfaceAdminStatus 1 up / 2 down,
MediaConnectState 1 connected (carrier). Wi-Fi is NdisPhysicalMedium 9 (Native 802.11) or
1 (wireless LAN); Ethernet 14 (802.3) on a hardware interface. Adapter names are what the
user named them or Windows' translated defaults ("WLAN", "Ethernet 2"); they are only labels.
Addresses and DHCP come from win_ip_config_json; the probe joins them by name.

https://learn.microsoft.com/previous-versions/windows/desktop/legacy/hh968170(v=vs.85)
https://learn.microsoft.com/windows-hardware/drivers/ddi/ntddndis/ne-ntddndis-_ndis_physical_medium
https://learn.microsoft.com/previous-versions/windows/desktop/netadaptercimprov/msft-netadapterstatisticssettingdata
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import NetInterface

OPER_STATUS = {
    1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notpresent",
    7: "lowerlayerdown",
}  # fmt: skip
# The Status words Get-NetAdapter's type data shows, for input without the numbers.
_STATUS_WORDS = {
    "up": "up",
    "disconnected": "down",
    "disabled": "down",
    "not present": "notpresent",
}
WIFI_MEDIA = {1, 9}  # NdisPhysicalMediumWirelessLan, NdisPhysicalMediumNative802_11
BLUETOOTH_MEDIUM = 10  # NdisPhysicalMediumBluetooth: a PAN adapter
ETHERNET_MEDIUM = 14  # NdisPhysicalMedium802_3
MAX_SANE_BPS = 10**13  # some drivers report 2**63-1 for "unknown"


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    found: list[NetInterface] = []
    for i, item in enumerate(ps.load_list(text, "win_net_adapters")):
        if not isinstance(item, dict):
            warnings.add(f"adapter {i}: expected an object, got {item!r:.60}")
            continue
        try:
            found.append(_interface(item))
        except ParseError as exc:
            warnings.add(f"adapter {i}: {exc}")
    return Parsed.of(tuple(found), warnings)


def _interface(item: ps.JsonObject) -> NetInterface:
    name = ps.text(item, "Name")
    if not name:
        raise ParseError("missing Name")
    status = ps.text(item, "Status").lower()
    oper = OPER_STATUS.get(ps.number(item, "InterfaceOperationalStatus"), "")
    admin = ps.number(item, "InterfaceAdminStatus")
    stats = next(iter(ps.objects(item.get("Statistics"))), {})
    speed = max(ps.number(item, "ReceiveLinkSpeed"), ps.number(item, "TransmitLinkSpeed"))
    return NetInterface(
        name=name,
        mac=ps.mac_address(ps.text(item, "MacAddress")),
        kind=_kind(item),
        oper_state=oper or _STATUS_WORDS.get(status, status or "unknown"),
        admin_up=admin == 1 if admin else status not in ("disabled", ""),
        carrier=ps.number(item, "MediaConnectState") == 1 or (not oper and status == "up"),
        speed_mbps=speed // 1_000_000 if speed < MAX_SANE_BPS else 0,
        mtu=ps.number(item, "MtuSize"),
        rx_bytes=ps.number(stats, "ReceivedBytes"),
        tx_bytes=ps.number(stats, "SentBytes"),
        rx_errors=ps.number(stats, "ReceivedPacketErrors"),
        tx_errors=ps.number(stats, "OutboundPacketErrors"),
        rx_dropped=ps.number(stats, "ReceivedDiscardedPackets"),
        tx_dropped=ps.number(stats, "OutboundDiscardedPackets"),
    )


def _kind(item: ps.JsonObject) -> str:
    medium = ps.number(item, "NdisPhysicalMedium", -1)
    if medium in WIFI_MEDIA:
        return "wifi"
    if medium == BLUETOOTH_MEDIUM:
        return "other"
    if ps.flag(item, "Virtual") or not ps.flag(item, "HardwareInterface", True):
        return "virtual"
    return "ethernet" if medium == ETHERNET_MEDIUM else "other"
