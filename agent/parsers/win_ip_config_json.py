"""The `win_ip_addresses` JSON (Get-NetIPAddress, MSFT_NetIPAddress) → NetInterface per alias
carrying only `addresses` and `dhcp` (the probe merges them into win_net_adapter_json's).

    [{"InterfaceAlias":"Wi-Fi","InterfaceIndex":17,"IPAddress":"10.20.31.147","PrefixLength":22,
      "AddressFamily":2,"PrefixOrigin":3,"SuffixOrigin":3,"AddressState":4},
     {"InterfaceAlias":"Bluetooth Network Connection","InterfaceIndex":9,
      "IPAddress":"169.254.87.12","PrefixLength":16,"AddressFamily":2,"PrefixOrigin":2,
      "SuffixOrigin":4,"AddressState":1}]

AddressFamily 2 IPv4, 23 IPv6. PrefixOrigin 0 Other, 1 Manual, 2 WellKnown (169.254/16
self-assigned: APIPA, DHCP failed), 3 Dhcp, 4 RouterAdvertisement. AddressState
0 Invalid, 1 Tentative, 2 Duplicate, 3 Deprecated, 4 Preferred: Invalid and Duplicate
addresses are not usable and are left out (a Duplicate is an IP conflict, Tcpip 4199).
The `%zone` of link-local IPv6 addresses (fe80::1%17) is dropped.

https://learn.microsoft.com/powershell/module/nettcpip/get-netipaddress
https://learn.microsoft.com/previous-versions/windows/desktop/nettcpipprov/msft-netipaddress
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import NetInterface

FAMILIES = {2: "IPv4", 23: "IPv6"}
PREFIX_ORIGINS = {0: "Other", 1: "Manual", 2: "WellKnown", 3: "Dhcp", 4: "RouterAdvertisement"}
ADDRESS_STATES = {0: "Invalid", 1: "Tentative", 2: "Duplicate", 3: "Deprecated", 4: "Preferred"}
UNUSABLE = {"Invalid", "Duplicate"}


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    addresses: dict[str, list[str]] = {}
    dhcp: set[str] = set()
    for i, item in enumerate(ps.load_list(text, "win_ip_addresses")):
        if not isinstance(item, dict):
            warnings.add(f"address {i}: expected an object, got {item!r:.60}")
            continue
        try:
            alias, cidr, from_dhcp = _address(item)
        except ParseError as exc:
            warnings.add(f"address {i}: {exc}")
            continue
        listed = addresses.setdefault(alias, [])
        if cidr and cidr not in listed:
            listed.append(cidr)
        if from_dhcp:
            dhcp.add(alias)
    return Parsed.of(
        tuple(
            NetInterface(name, addresses=tuple(a), dhcp=name in dhcp)
            for name, a in addresses.items()
        ),
        warnings,
    )


def _address(item: ps.JsonObject) -> tuple[str, str, bool]:
    alias = ps.text(item, "InterfaceAlias")
    address = ps.text(item, "IPAddress").split("%")[0]
    if not alias or not address:
        raise ParseError("missing InterfaceAlias or IPAddress")
    family = ps.enum(item, "AddressFamily", FAMILIES) or ("IPv6" if ":" in address else "IPv4")
    if (family == "IPv6") != (":" in address):
        raise ParseError(f"{address}: does not match AddressFamily {family}")
    if ps.enum(item, "AddressState", ADDRESS_STATES) in UNUSABLE:
        return alias, "", False
    prefix = ps.number(item, "PrefixLength", 32 if family == "IPv4" else 128)
    from_dhcp = family == "IPv4" and ps.enum(item, "PrefixOrigin", PREFIX_ORIGINS) == "Dhcp"
    return alias, f"{address}/{prefix}", from_dhcp
