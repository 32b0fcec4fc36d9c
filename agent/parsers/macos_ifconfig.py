"""`ifconfig -a` (macOS, BSD) → NetInterface per interface.

ifconfig(8): https://keith.github.io/xcode-man-pages/ifconfig.8.html . A header line per
interface, then tab-indented detail lines:

    en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
        options=6460<TSO4,TSO6,CHANNEL_IO,PARTIAL_CSUM,ZEROINVERT_CSUM>
        ether 3c:22:fb:5a:91:0e
        inet6 fe80::1c8a:3f2e:9b4d:6a10%en0 prefixlen 64 secured scopeid 0xb
        inet 192.168.1.23 netmask 0xffffff00 broadcast 192.168.1.255
        media: autoselect (1000baseT <full-duplex,flow-control>)
        status: active

Facts: flag UP → admin_up; `status: active` → carrier and oper_state "up" (`inactive` →
"down"; no status line → "unknown", as utun and gif devices print none). The hex netmask
and `prefixlen` become CIDR; the `%en0` zone of a link-local address is dropped. The media
subtype gives the speed (`1000baseT` → 1000, `10Gbase-T` → 10000) and its options the
duplex; `autoselect` alone (Wi-Fi) and a bare `<full-duplex>` of a link that is not up
(Thunderbolt ports) say nothing. ifconfig cannot tell Wi-Fi from Ethernet (both are
`ether`): kind is loopback, virtual (by the names macOS gives its software devices) or ""
for the probe to settle from `networksetup -listallhardwareports`.

Indented lines this parser does not use (options, nd6, bridge members, agent domains) are
skipped; a line that is neither a header nor indented is a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import NetInterface

_HEADER = re.compile(r"([A-Za-z0-9_.-]+): flags=[0-9a-f]+<([^>]*)>(.*)")
_SPEED = re.compile(r"\((\d+)(G?)base", re.IGNORECASE)
# Software devices macOS creates itself: tunnels (utun, gif, stf, ipsec), Apple's
# peer-to-peer Wi-Fi (awdl, llw), bridges, the Apple silicon host-to-coprocessor
# links (anpi), access-point, Wi-Fi Direct and VM interfaces (ap, p2p, vmenet, feth),
# VLANs and bonds.
_VIRTUAL_PREFIXES = (
    *("utun", "gif", "stf", "ipsec", "awdl", "llw", "bridge", "anpi", "ap", "vmenet"),
    *("feth", "vlan", "bond", "pktap", "ppp", "tun", "tap", "p2p"),
)


@dataclass(slots=True)
class _Iface:
    name: str
    flags: frozenset[str]
    mtu: int = 0
    mac: str = ""
    status: str = ""
    speed: int = 0
    duplex: str = ""
    addresses: list[str] = field(default_factory=list)

    def record(self) -> NetInterface:
        state = {"active": "up", "inactive": "down"}.get(self.status, "unknown")
        return NetInterface(
            name=self.name,
            mac=self.mac,
            kind=_kind(self),
            oper_state=state,
            admin_up="UP" in self.flags,
            carrier=self.status == "active",
            speed_mbps=self.speed,
            duplex=self.duplex,
            mtu=self.mtu,
            addresses=tuple(self.addresses),
        )


def parse(text: str) -> Parsed[tuple[NetInterface, ...]]:
    warnings = Warnings()
    found: list[_Iface] = []
    current: _Iface | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if header := _HEADER.fullmatch(line.rstrip()):
            current = _Iface(header.group(1), frozenset(f for f in header.group(2).split(",") if f))
            words = header.group(3).split()
            if "mtu" in words[:-1] and words[words.index("mtu") + 1].isdigit():
                current.mtu = int(words[words.index("mtu") + 1])
            found.append(current)
            continue
        if current is None or not line[:1].isspace():
            warnings.add(f"line {lineno}: not ifconfig output: {line.strip()!r:.80}")
            continue
        _detail(current, line.split(), lineno, warnings)
    return Parsed.of(tuple(i.record() for i in found), warnings)


def _detail(iface: _Iface, words: list[str], lineno: int, warnings: Warnings) -> None:
    key = words[0]
    if key == "ether" and len(words) > 1:
        iface.mac = words[1].lower()
    elif key == "inet" and len(words) > 1:
        iface.addresses.append(_inet(words, lineno, warnings))
    elif key == "inet6" and len(words) > 1:
        prefix = words[words.index("prefixlen") + 1] if "prefixlen" in words[:-1] else "128"
        iface.addresses.append(f"{words[1].split('%', 1)[0]}/{prefix}")
    elif key == "status:" and len(words) > 1:
        iface.status = words[1]
    elif key == "media:":
        media = " ".join(words)
        if speed := _SPEED.search(media):
            iface.speed = int(speed.group(1)) * (1000 if speed.group(2) else 1)
        if speed and "full-duplex" in media:
            iface.duplex = "full"
        elif speed and "half-duplex" in media:
            iface.duplex = "half"


def _inet(words: list[str], lineno: int, warnings: Warnings) -> str:
    address = words[1]
    if "netmask" not in words[:-1]:
        return f"{address}/32"
    mask = words[words.index("netmask") + 1]
    try:
        bits = bin(int(mask, 16)).count("1")
    except ValueError:
        warnings.add(f"line {lineno}: netmask {mask!r:.20} is not hex")
        return f"{address}/32"
    return f"{address}/{bits}"


def _kind(iface: _Iface) -> str:
    if "LOOPBACK" in iface.flags:
        return "loopback"
    if iface.name.startswith(_VIRTUAL_PREFIXES):
        return "virtual"
    return ""
