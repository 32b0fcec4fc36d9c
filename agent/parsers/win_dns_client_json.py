"""The `win_dns_client` JSON (Get-DnsClientServerAddress, Get-DnsClient,
Get-DnsClientGlobalSetting) → DnsConfig.

    {"ServerAddresses":[{"InterfaceAlias":"Wi-Fi","InterfaceIndex":17,"AddressFamily":2,
        "ServerAddresses":["10.20.0.53","10.20.0.54"]},
       {"InterfaceAlias":"Wi-Fi","InterfaceIndex":17,"AddressFamily":23,
        "ServerAddresses":["fec0:0:0:ffff::1%1","fec0:0:0:ffff::2%1","fec0:0:0:ffff::3%1"]}],
     "Clients":[{"InterfaceAlias":"Wi-Fi","InterfaceIndex":17,"ConnectionSpecificSuffix":"corp.example.com"}],
     "GlobalSetting":{"SuffixSearchList":["corp.example.com"]}}

Servers are per interface; only those of `interfaces` count when given (the probe passes the
adapters that are up: a disconnected adapter keeps its static servers, which nobody asks).
Left out: fec0:0:0:ffff::1-3, the deprecated site-local placeholders Windows lists on every
interface without IPv6 DNS. Search: the global suffix list, then each interface's suffix
(a DHCP-given suffix such as "fritz.box").

https://learn.microsoft.com/powershell/module/dnsclient/get-dnsclientserveraddress
https://learn.microsoft.com/powershell/module/dnsclient/get-dnsclient
"""

from __future__ import annotations

from collections.abc import Collection

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import DnsConfig

SOURCE = "Get-DnsClientServerAddress"
PLACEHOLDERS = {"fec0:0:0:ffff::1", "fec0:0:0:ffff::2", "fec0:0:0:ffff::3"}


def parse(text: str, interfaces: Collection[str] | None = None) -> Parsed[DnsConfig]:
    warnings = Warnings()
    doc = ps.load_object(text, "win_dns_client")
    if "ServerAddresses" not in doc:
        raise ParseError("win_dns_client: missing key 'ServerAddresses'")
    servers: list[str] = []
    for i, entry in enumerate(ps.objects(doc.get("ServerAddresses"))):
        if interfaces is not None and ps.text(entry, "InterfaceAlias") not in interfaces:
            continue
        for address in _strings(entry.get("ServerAddresses"), f"ServerAddresses[{i}]", warnings):
            if address.split("%")[0] not in PLACEHOLDERS and address not in servers:
                servers.append(address)
    search: list[str] = []
    for glob in ps.objects(doc.get("GlobalSetting")):
        search += _strings(glob.get("SuffixSearchList"), "SuffixSearchList", warnings)
    for entry in ps.objects(doc.get("Clients")):
        if interfaces is None or ps.text(entry, "InterfaceAlias") in interfaces:
            search.append(ps.text(entry, "ConnectionSpecificSuffix"))
    unique = list(dict.fromkeys(s for s in search if s))
    return Parsed.of(DnsConfig(tuple(servers), tuple(unique), SOURCE), warnings)


def _strings(value: object, where: str, warnings: Warnings) -> list[str]:
    # A string[] with one element can arrive as a bare string.
    items = value if isinstance(value, list) else [] if value is None else [value]
    found: list[str] = []
    for item in items:
        if isinstance(item, str):
            if item.strip():
                found.append(item.strip())
        else:
            warnings.add(f"{where}: expected a string, got {item!r:.60}")
    return found
