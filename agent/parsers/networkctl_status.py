"""`networkctl status -a` (and `networkctl status [LINK]`) → interfaces, gateways and DNS as
systemd-networkd sees them.

networkctl(1): https://www.freedesktop.org/software/systemd/man/latest/networkctl.html
(layout: link_status_one() in systemd's src/network/networkctl-status-link.c).

    * 2: ens3                                    (`●` in a UTF-8 locale, `*` in C)
                 Link File: /run/systemd/network/10-netplan-ens3.link
                      Type: ether
                     State: routable (configured)        operational (setup) state
                HW Address: fa:16:3e:1f:96:bd            (`Hardware Address` since 249)
                       MTU: 8958 (min: 68, max: 8958)
                     Speed: 10Gbps
                   Address: 10.6.3.201 (DHCP4)           (`(DHCPv4 via 10.6.0.1)` later)
                            fe80::f816:3eff:fe1f:96bd
                   Gateway: 10.6.0.1
                       DNS: 10.6.0.12
            Search Domains: cloud.sts

    Feb 11 18:58:23 host systemd-networkd[567]: ens3: Link UP   (journal tail, skipped)

Without a link argument networkctl prints one summary block instead (`Gateway: 10.0.0.1
on eth0`); its gateways and DNS are read the same way.

networkd's operational states are not the kernel's operstate: they are kept as printed
in NetworkdLink and mapped for NetInterface (off → down and admin down; no-carrier →
down; carrier, degraded, enslaved, routable → up with carrier). `degraded` (only
link-local addresses) shows in the addresses; a `failed` setup state only in
NetworkdLink. Lines outside any block are warnings; nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import DnsConfig, NetInterface, Route

_HEADER = re.compile(r"(?:[*\u25cf]\s*)?(\d+):\s+(\S+)")
_KEY = re.compile(r"\s*(?:[*\u25cf]\s*)?([A-Z][A-Za-z0-9 ()/.-]*?):(?:\s+(.*))?")
_SPEED = re.compile(r"([\d.]+)\s*([KMGT]?)bps")
_SPEED_MBPS = {"": 1e-6, "K": 1e-3, "M": 1.0, "G": 1e3, "T": 1e6}
# operational state → (oper_state, admin_up, carrier); networkd's link_operstate table.
_OPERATIONAL = {
    "missing": ("notpresent", False, False),
    "off": ("down", False, False),
    "no-carrier": ("down", True, False),
    "dormant": ("dormant", True, True),
    "degraded-carrier": ("up", True, True),
    "carrier": ("up", True, True),
    "degraded": ("up", True, True),
    "enslaved": ("up", True, True),
    "routable": ("up", True, True),
}
# The keys of the summary block (networkctl-status-system.c); anything else before the
# first link is not networkctl output ("Failed to connect system bus: ...").
_SUMMARY_KEYS = frozenset(
    {"State", "Online state", "Address", "Gateway", "DNS", "Search Domains", "Route Domains"}
    | {"NTP", "SIP", "Time Zone"}
)
_VIRTUAL_TYPES = frozenset({"bridge", "bond", "vlan", "vxlan", "veth", "tun", "tap", "none"})
_VIRTUAL_DRIVERS = frozenset(
    {"veth", "bridge", "bonding", "openvswitch", "tun", "vxlan", "8021q", "dummy", "wireguard"}
)
_STATS = {
    "Rx Bytes": "rx_bytes",
    "Tx Bytes": "tx_bytes",
    "Rx Errors": "rx_errors",
    "Tx Errors": "tx_errors",
    "Rx Dropped": "rx_dropped",
    "Tx Dropped": "tx_dropped",
}


@dataclass(frozen=True, slots=True)
class NetworkdLink:
    name: str
    operational: str  # routable | degraded | carrier | no-carrier | off | enslaved | ...
    setup: str  # configured | unmanaged | configuring | failed | linger | pending


@dataclass(frozen=True, slots=True)
class NetworkctlStatus:
    interfaces: tuple[NetInterface, ...] = ()
    links: tuple[NetworkdLink, ...] = ()
    gateways: tuple[Route, ...] = ()  # one `default` Route per Gateway line
    dns: DnsConfig = DnsConfig(source="networkctl")


@dataclass(slots=True)
class _Block:
    name: str  # "" for the summary block
    values: dict[str, list[str]] = field(default_factory=dict)


def parse(text: str) -> Parsed[NetworkctlStatus]:
    warnings = Warnings()
    blocks: list[_Block] = []
    key = ""
    in_log = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            in_log = bool(blocks)  # after a block's table come its journal lines
            continue
        if header := _HEADER.fullmatch(line.strip()):
            blocks.append(_Block(header.group(2)))
            in_log, key = False, ""
            continue
        if in_log:
            continue
        found = _KEY.fullmatch(line)
        if found and not blocks and found.group(1) in _SUMMARY_KEYS:
            blocks.append(_Block(""))
        if found and blocks:
            key = found.group(1)
            blocks[-1].values.setdefault(key, []).append((found.group(2) or "").strip())
        elif blocks and key:
            blocks[-1].values[key].append(line.strip())
        else:
            warnings.add(f"line {lineno}: not networkctl output: {line.strip()!r:.80}")
    return Parsed.of(_status(blocks), warnings)


def _status(blocks: list[_Block]) -> NetworkctlStatus:
    interfaces: list[NetInterface] = []
    links: list[NetworkdLink] = []
    gateways: list[Route] = []
    servers: list[str] = []
    search: list[str] = []
    for block in blocks:
        v = block.values
        for line in v.get("Gateway", []):
            words = line.split()
            if words:
                # The summary block says which link: `10.0.0.1 (Vendor) on eth0`.
                dev = words[-1] if len(words) > 2 and words[-2] == "on" else block.name
                family = 6 if ":" in words[0] else 4
                gateways.append(Route("default", words[0], dev, family=family))
        servers.extend(w for line in v.get("DNS", []) for w in line.split()[:1])
        search.extend(w for line in v.get("Search Domains", []) for w in line.split())
        if block.name:
            state, _, setup = _first(v, "State").partition(" ")
            links.append(NetworkdLink(block.name, state, setup.strip("()")))
            interfaces.append(_interface(block, state))
    dns = DnsConfig(tuple(dict.fromkeys(servers)), tuple(dict.fromkeys(search)), "networkctl")
    return NetworkctlStatus(tuple(interfaces), tuple(links), tuple(gateways), dns)


def _interface(block: _Block, state: str) -> NetInterface:
    v = block.values
    oper, admin_up, carrier = _OPERATIONAL.get(state, ("unknown", False, False))
    addresses = [line.split()[0] for line in v.get("Address", []) if line.split()]
    mac = _first(v, "Hardware Address") or _first(v, "HW Address")
    mtu = _first(v, "MTU").split(" ", 1)[0]
    stats = {name: _int(_first(v, label)) for label, name in _STATS.items()}
    ap = _first(v, "Wi-Fi access point")
    return NetInterface(
        name=block.name,
        mac=mac.split(" ", 1)[0].lower(),
        kind=_kind(_first(v, "Type"), _first(v, "Kind"), _first(v, "Driver")),
        oper_state=oper,
        admin_up=admin_up,
        carrier=carrier,
        speed_mbps=_speed(_first(v, "Speed")),
        mtu=_int(mtu),
        addresses=tuple(addresses),
        dhcp=any("DHCP" in line for line in v.get("Address", [])),
        wifi_ssid=ap.rsplit(" (", 1)[0] if ap else "",
        rx_bytes=stats["rx_bytes"],
        tx_bytes=stats["tx_bytes"],
        rx_errors=stats["rx_errors"],
        tx_errors=stats["tx_errors"],
        rx_dropped=stats["rx_dropped"],
        tx_dropped=stats["tx_dropped"],
    )


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _first(values: dict[str, list[str]], key: str) -> str:
    found = values.get(key)
    return found[0] if found else ""


def _kind(link_type: str, kind: str, driver: str) -> str:
    if link_type == "loopback":
        return "loopback"
    if link_type == "wlan":
        return "wifi"
    if kind or link_type in _VIRTUAL_TYPES or driver in _VIRTUAL_DRIVERS:
        return "virtual"
    return "ethernet" if link_type == "ether" else ("other" if link_type else "")


def _speed(text: str) -> int:
    """`10Gbps`, `100Mbps`, `2.5Gbps` → Mb/s; `n/a` → 0."""
    found = _SPEED.fullmatch(text.strip())
    return round(float(found.group(1)) * _SPEED_MBPS[found.group(2)]) if found else 0
