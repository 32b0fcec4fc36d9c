"""`networksetup -listallhardwareports` → NetInterface (name, mac, kind) per hardware port.

networksetup(8): https://keith.github.io/xcode-man-pages/networksetup.8.html . Blank-line
separated blocks, then the VLAN section:

    Hardware Port: Wi-Fi
    Device: en0
    Ethernet Address: 3c:22:fb:5a:91:0e

    Hardware Port: Thunderbolt Bridge
    Device: bridge0
    Ethernet Address: 36:4d:12:a0:5c:40

    VLAN Configurations
    ===================

This is the only place macOS names what an interface is: "Wi-Fi" (called "AirPort" before
10.7) → wifi; "Ethernet", "Thunderbolt Ethernet", "USB 10/100/1000 LAN", "Ethernet Adapter
(en4)" → ethernet; "Thunderbolt Bridge", "Thunderbolt 1" (IP over Thunderbolt), VLANs and
bonds → virtual; anything else (iPhone USB, Bluetooth PAN) → other. An address of `N/A`
(a port without hardware of its own) is left empty.
"""

from __future__ import annotations

from agent.parsers import Parsed, Warnings
from agent.records import NetInterface

_ETHERNET_WORDS = ("Ethernet", "LAN")
_VIRTUAL_WORDS = ("Thunderbolt Bridge", "Thunderbolt 1", "Thunderbolt 2", "Bond", "VLAN")


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    found: list[NetInterface] = []
    block: dict[str, str] = {}
    for lineno, line in enumerate([*text.splitlines(), ""], 1):
        stripped = line.strip()
        if not stripped:
            if block:
                if record := _record(block, warnings):
                    found.append(record)
                block = {}
            continue
        if stripped.startswith("VLAN Configurations") or set(stripped) == {"="}:
            continue
        key, sep, value = stripped.partition(":")
        if not sep:
            warnings.add(f"line {lineno}: not `Key: value`: {stripped!r:.80}")
            continue
        block[key.strip()] = value.strip()
    return Parsed.of(tuple(found), warnings)


def _record(block: dict[str, str], warnings: Warnings) -> NetInterface | None:
    port, device = block.get("Hardware Port", ""), block.get("Device", "")
    if not port or not device:
        warnings.add(f"block without a port or device: {sorted(block)}")
        return None
    mac = block.get("Ethernet Address", "")
    return NetInterface(name=device, mac="" if mac == "N/A" else mac.lower(), kind=_kind(port))


def _kind(port: str) -> str:
    if port in ("Wi-Fi", "AirPort"):
        return "wifi"
    if any(word in port for word in _VIRTUAL_WORDS):
        return "virtual"
    if any(word in port for word in _ETHERNET_WORDS):
        return "ethernet"
    return "other"
