"""`ip addr show` (also `ip -d addr`, `ip -s addr`, `ip link`, and the `-o` one-line forms)
→ NetInterface per interface.

iproute2, ip-address(8) and ip-link(8): https://man7.org/linux/man-pages/man8/ip-address.8.html

    2: eth0@if27: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
        link/ether 00:16:3e:3f:d9:1c brd ff:ff:ff:ff:ff:ff link-netnsid 0
        veth numtxqueues 1 ...                               (-d: the link kind, then details)
        inet 10.0.0.121/24 brd 10.0.0.255 scope global dynamic eth0
           valid_lft 86363sec preferred_lft 86363sec
        inet6 fe80::216:3eff:fe3f:d91c/64 scope link
        RX:  bytes packets errors dropped  missed   mcast    (-s: a header row, then values)
         117924252    2898      0       0       0       0

`-o` joins each record onto one line with `\\`; `ip -o addr` prints no flags line at all
(`26: eth0    inet 10.0.0.121/24 ... eth0\\       valid_lft forever ...`), so those
interfaces carry names and addresses only.

Facts: flags `UP` → admin_up; `LOWER_UP` → carrier (`NO-CARRIER` says it is missing);
`state` → oper_state, lowercased (RFC 2863 operstate: up, down, unknown, dormant,
lowerlayerdown, ...); `dynamic` on an `inet` line → dhcp. A point-to-point address
(`inet 172.30.0.1 peer 172.30.0.2/32`) is kept as the bare local address: the prefix
printed belongs to the peer. Lines that are none of these are counted as warnings
(`Message truncated`, an error message in place of the output); nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import NetInterface

_HEADER = re.compile(r"(\d+):\s+(\S+?):\s+<([^>]*)>\s*(.*)")
_ONE_LINE_ADDR = re.compile(r"(\d+):\s+(\S+)\s+(inet6?\s.*)")
_STATS_COLUMNS = {
    "RX": {"bytes": "rx_bytes", "errors": "rx_errors", "dropped": "rx_dropped"},
    "TX": {"bytes": "tx_bytes", "errors": "tx_errors", "dropped": "tx_dropped"},
}
# `ip -d` prints the link kind as the first word of the line after link/...
# (rtnl_link_ops kind names). Slave lines (bridge_slave, bond_slave) describe the port,
# not the device, and are not kinds.
_VIRTUAL_KINDS = frozenset(
    {
        *("veth", "bridge", "bond", "team", "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"),
        *("vxlan", "geneve", "gre", "gretap", "ip6gre", "ip6gretap", "ipip", "sit", "ip6tnl"),
        *("vti", "vti6", "tun", "dummy", "ifb", "openvswitch", "wireguard", "vrf", "nlmon"),
        *("bareudp", "erspan", "ip6erspan", "xfrm", "macsec", "hsr", "netdevsim", "vcan"),
    }
)
# Without -d only the name tells: container, bridge, tunnel and VPN devices by their
# usual prefixes (docker0, virbr0, br-…, lxdbr0, vethX, tap…, tun0, wg0, flannel.1 …).
_VIRTUAL_PREFIXES = (
    *("veth", "virbr", "docker", "br", "lxc", "lxdbr", "vxlan", "flannel", "cni"),
    *("tap", "tun", "vnet", "ovs", "bond", "team", "dummy", "ifb", "kube", "cali", "weave"),
    *("wg", "zt", "tailscale", "vmnet", "vboxnet", "genev", "gre", "sit", "ip6tnl", "ipip"),
)
_TUNNEL_LINKS = frozenset({"none", "ipip", "gre", "gre6", "sit", "tunnel6", "void", "ipip6"})


@dataclass(slots=True)
class _Link:
    name: str
    flags: frozenset[str] = frozenset()
    has_header: bool = False
    state: str = ""
    mtu: int = 0
    link_type: str = ""
    mac: str = ""
    kind: str = ""  # from `ip -d`
    addresses: list[str] = field(default_factory=list)
    dhcp: bool = False
    stats: dict[str, int] = field(default_factory=dict)

    def record(self) -> NetInterface:
        return NetInterface(
            name=self.name,
            mac=self.mac,
            kind=_kind(self),
            oper_state=self.state.lower(),
            admin_up="UP" in self.flags,
            carrier="LOWER_UP" in self.flags,  # NO-CARRIER and LOWER_UP never come together
            mtu=self.mtu,
            addresses=tuple(self.addresses),
            dhcp=self.dhcp,
            rx_bytes=self.stats.get("rx_bytes", 0),
            tx_bytes=self.stats.get("tx_bytes", 0),
            rx_errors=self.stats.get("rx_errors", 0),
            tx_errors=self.stats.get("tx_errors", 0),
            rx_dropped=self.stats.get("rx_dropped", 0),
            tx_dropped=self.stats.get("tx_dropped", 0),
        )


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    links: dict[str, _Link] = {}
    current: _Link | None = None
    stats_header: tuple[str, list[str]] | None = None
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        if header := _HEADER.fullmatch(line.strip()):
            current = _start(links, header.group(2))
            _read_header(current, header.group(3), header.group(4), lineno, warnings)
            stats_header = None
            continue
        if one_line := _ONE_LINE_ADDR.fullmatch(line.strip()):
            current = links.get(one_line.group(2)) or _start(links, one_line.group(2))
            _read_address(current, one_line.group(3).split(), lineno, warnings)
            stats_header = None
            continue
        if current is None or not line[:1].isspace():
            warnings.add(f"line {lineno}: not ip addr output: {line.strip()!r:.80}")
            continue
        words = line.split()
        if stats_header is not None:
            _read_stats(current, stats_header, words, lineno, warnings)
            stats_header = None
        elif words[0] in ("RX:", "TX:"):
            stats_header = (words[0][:2], words[1:])
        elif words[0].startswith("link/"):
            _read_link(current, words)
        elif words[0] in ("inet", "inet6"):
            _read_address(current, words, lineno, warnings)
        elif words[0] in _VIRTUAL_KINDS and not current.kind:
            current.kind = words[0]
        # Anything else indented is detail we do not use: valid_lft, altname, -d
        # attributes, `RX errors:` rows of -s -s.
    return Parsed.of(tuple(link.record() for link in links.values()), warnings)


def _lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines, with `-o` records split back into their original lines."""
    out: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        first, *rest = line.split("\\")
        out.append((lineno, first))
        # The continuation keeps its leading spaces, so it reads as indented.
        out.extend((lineno, part if part[:1].isspace() else " " + part) for part in rest)
    return out


def _start(links: dict[str, _Link], name: str) -> _Link:
    # `bond1.57@bond1`, `eth0@if27`: the part after @ names the parent link.
    name = name.split("@", 1)[0]
    link = links.get(name)
    if link is None:
        link = links[name] = _Link(name)
    return link


def _read_header(link: _Link, flags: str, rest: str, lineno: int, warnings: Warnings) -> None:
    link.has_header = True
    link.flags = frozenset(f for f in flags.split(",") if f)
    words = rest.split()
    for key, value in zip(words, words[1:], strict=False):
        if key == "mtu":
            if value.isdigit():
                link.mtu = int(value)
            else:
                warnings.add(f"line {lineno}: mtu {value!r} is not a number")
        elif key == "state":
            link.state = value


def _read_link(link: _Link, words: list[str]) -> None:
    link.link_type = words[0].removeprefix("link/")
    if link.link_type in ("ether", "loopback", "ieee802.11", "infiniband") and len(words) > 1:
        link.mac = words[1].lower()


def _read_address(link: _Link, words: list[str], lineno: int, warnings: Warnings) -> None:
    if len(words) < 2:
        warnings.add(f"line {lineno}: {words[0]} without an address")
        return
    link.addresses.append(words[1])
    if words[0] == "inet" and "dynamic" in words[2:]:
        link.dhcp = True


def _read_stats(
    link: _Link,
    header: tuple[str, list[str]],
    values: list[str],
    lineno: int,
    warnings: Warnings,
) -> None:
    direction, names = header
    if len(values) != len(names) or not all(v.isdigit() for v in values):
        warnings.add(f"line {lineno}: {direction} counters do not match their header")
        return
    for name, value in zip(names, values, strict=True):
        if target := _STATS_COLUMNS[direction].get(name):
            link.stats[target] = int(value)


def _kind(link: _Link) -> str:
    if link.link_type == "loopback" or "LOOPBACK" in link.flags or link.name == "lo":
        return "loopback"
    if link.link_type == "ieee802.11" or link.name.startswith("wl"):
        return "wifi"
    if link.kind or link.link_type in _TUNNEL_LINKS or link.link_type.startswith("["):
        return "virtual"
    if link.link_type == "ether" or not link.link_type:
        # A dot names a VLAN (eth0.100, bond1.57); prefixes name software devices.
        if "." in link.name or link.name.startswith(_VIRTUAL_PREFIXES):
            return "virtual"
        return "ethernet" if link.link_type else ""
    return "other"
