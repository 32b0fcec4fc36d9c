"""The `sysfs_net` call's JSON (agent/netcalls.py, read from /sys/class/net) → NetInterface.

sysfs-class-net ABI: https://www.kernel.org/doc/Documentation/ABI/testing/sysfs-class-net

    {"interfaces": [{"name": "eth0", "address": "02:fc:00:00:00:01", "operstate": "up",
      "duplex": "full", "flags": "0x1003", "carrier": 1, "speed": 1000, "mtu": 1500,
      "type": 1, "carrier_changes": 2, "wireless": false, "virtual": false,
      "devtype": null, "statistics": {"rx_bytes": 117924252, "tx_bytes": 148532,
      "rx_packets": 2898, "tx_packets": 1371, "rx_errors": 0, "tx_errors": 0,
      "rx_dropped": 0, "tx_dropped": 0}}],
     "omitted": 0}

Values are the files' contents; null where the kernel refused the read (`carrier` and
`speed` of an administratively down link give EINVAL; `speed` is -1 when unknown).
`flags` is IFF_* in hex (bit 0 IFF_UP → admin_up). `type` is the ARPHRD (772
loopback; 1 ether). kind: loopback | wifi (a `wireless`/`phy80211` entry or DEVTYPE
wlan) | virtual (under /sys/devices/virtual) | ethernet (ARPHRD_ETHER) | other.
`omitted` > 0 (more interfaces than the gatherer keeps) is one warning.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import (
    JsonObject,
    get_bool,
    get_int,
    get_list,
    get_object,
    get_str,
    load_object,
)
from agent.records import NetInterface

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
IFF_UP = 0x1


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    doc = load_object(text, "sysfs_net")
    if "interfaces" not in doc:
        raise ParseError("sysfs_net: missing key 'interfaces'")
    warnings = Warnings()
    found: list[NetInterface] = []
    for i, item in enumerate(get_list(doc, "interfaces")):
        if not isinstance(item, dict) or not get_str(item, "name"):
            warnings.add(f"interfaces[{i}]: not an interface object")
            continue
        try:
            found.append(_interface(item))
        except ParseError as exc:
            warnings.add(f"interfaces[{i}] ({item.get('name')}): {exc}")
    if omitted := get_int(doc, "omitted"):
        warnings.add(f"{omitted} interfaces omitted by the gatherer")
    return Parsed.of(tuple(found), warnings)


def _interface(item: JsonObject) -> NetInterface:
    stats = get_object(item, "statistics")
    flags_text = get_str(item, "flags")
    try:
        flags = int(flags_text, 16) if flags_text else 0
    except ValueError:
        raise ParseError(f"key 'flags': not hex: {flags_text!r:.20}") from None
    speed = get_int(item, "speed")
    return NetInterface(
        name=get_str(item, "name"),
        mac=get_str(item, "address").lower(),
        kind=_kind(item),
        oper_state=get_str(item, "operstate"),
        admin_up=bool(flags & IFF_UP),
        carrier=get_int(item, "carrier") == 1,
        speed_mbps=max(speed, 0),
        # "unknown" when the link is down or the driver cannot tell: no claim then.
        duplex=d if (d := get_str(item, "duplex")) in ("full", "half") else "",
        mtu=get_int(item, "mtu"),
        carrier_changes=get_int(item, "carrier_changes"),
        rx_bytes=get_int(stats, "rx_bytes"),
        tx_bytes=get_int(stats, "tx_bytes"),
        rx_errors=get_int(stats, "rx_errors"),
        tx_errors=get_int(stats, "tx_errors"),
        rx_dropped=get_int(stats, "rx_dropped"),
        tx_dropped=get_int(stats, "tx_dropped"),
    )


def _kind(item: JsonObject) -> str:
    arphrd = get_int(item, "type", -1)
    if arphrd == ARPHRD_LOOPBACK:
        return "loopback"
    if get_bool(item, "wireless") or get_str(item, "devtype") == "wlan":
        return "wifi"
    if get_bool(item, "virtual"):
        return "virtual"
    return "ethernet" if arphrd == ARPHRD_ETHER else "other"
