"""`resolvectl status` (systemd 239+) and `systemd-resolve --status` (older) → DnsConfig,
plus what each link contributes (ResolvectlStatus).

resolvectl(1): https://www.freedesktop.org/software/systemd/man/latest/resolvectl.html
(the layout is print_configuration() in systemd's src/resolve/resolvectl.c).

    Global
           Protocols: LLMNR=resolve -mDNS -DNSOverTLS DNSSEC=no/unsupported
    resolv.conf mode: stub
         DNS Servers: 1.1.1.1 9.9.9.9
    Fallback DNS Servers: 8.8.8.8
    Link 2 (ens3)
        Current Scopes: DNS
    DefaultRoute setting: yes            (systemd < 245; then `Protocols: +DefaultRoute`,
                                          and `Default Route: yes` since 257)
    Current DNS Server: 10.6.0.12
           DNS Servers: 10.6.0.12
                        10.6.0.5         (a list wraps onto unlabelled lines)
            DNS Domain: cloud.sts ~.     (`~` marks a routing-only domain, not searched)

Blocks start with `Global`, `Link N (name)` or `Delegate X`; inside, `Key: value` with
right-aligned keys. A server may carry `%ifname`, `:port` / `[v6]:port` and `#tls-name`;
only the address (with %ifname) is kept, so it can be queried. DnsConfig.servers is the
global list then each link's (first seen wins); the fallback servers count only when
nothing else is configured, because only then does resolved use them. Delegates are
per-domain and left out. Unknown lines are warnings; nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import DnsConfig

_LINK = re.compile(r"Link (\d+) \((.+)\)")
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z. ]*[A-Za-z]):(?:\s+(.*))?")
_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+(?:%[^\]]+)?)\](?::\d+)?")
_V4_PORT = re.compile(r"(\d+\.\d+\.\d+\.\d+):\d+")


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    name: str
    scopes: tuple[str, ...] = ()  # DNS, LLMNR/IPv4, mDNS/IPv6 ...; () = none
    current_server: str = ""
    servers: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()  # as printed; `~x` are routing-only
    default_route: bool | None = None  # None: this systemd does not say


@dataclass(frozen=True, slots=True)
class ResolvectlStatus:
    global_servers: tuple[str, ...] = ()
    global_domains: tuple[str, ...] = ()
    fallback_servers: tuple[str, ...] = ()
    current_server: str = ""
    links: tuple[ResolvedLink, ...] = ()


@dataclass(slots=True)
class _Block:
    kind: str  # global | link | delegate
    name: str = ""
    values: dict[str, list[str]] = field(default_factory=dict)


def parse(text: str) -> Parsed[DnsConfig]:
    status = parse_status(text)
    s = status.value
    servers = list(s.global_servers)
    if s.current_server:
        servers.append(s.current_server)
    domains = list(s.global_domains)
    for link in s.links:
        servers.extend(link.servers or ((link.current_server,) if link.current_server else ()))
        domains.extend(link.domains)
    if not servers:
        servers = list(s.fallback_servers)
    config = DnsConfig(
        servers=_unique(servers),
        search=_unique(d for d in domains if not d.startswith("~")),
        source="resolvectl",
    )
    return Parsed(config, status.warnings, status.examples)


def parse_status(text: str) -> Parsed[ResolvectlStatus]:
    warnings = Warnings()
    blocks: list[_Block] = []
    last_key = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "Global":
            blocks.append(_Block("global"))
            continue
        if link := _LINK.fullmatch(stripped):
            blocks.append(_Block("link", link.group(2)))
            continue
        if stripped.startswith("Delegate "):
            blocks.append(_Block("delegate", stripped.removeprefix("Delegate ")))
            continue
        if not blocks:
            warnings.add(f"line {lineno}: not resolvectl output: {stripped!r:.80}")
            continue
        values = blocks[-1].values
        if key := _KEY.fullmatch(line):
            last_key = key.group(1)
            values.setdefault(last_key, []).extend((key.group(2) or "").split())
        elif last_key:
            values.setdefault(last_key, []).extend(stripped.split())
        else:
            warnings.add(f"line {lineno}: value without a key: {stripped!r:.80}")
    return Parsed.of(_status(blocks), warnings)


def _status(blocks: list[_Block]) -> ResolvectlStatus:
    top = next((b.values for b in blocks if b.kind == "global"), {})
    links = tuple(_link(b) for b in blocks if b.kind == "link")
    return ResolvectlStatus(
        global_servers=_servers(top.get("DNS Servers", [])),
        global_domains=tuple(top.get("DNS Domain", [])),
        fallback_servers=_servers(top.get("Fallback DNS Servers", [])),
        current_server=_server(" ".join(top.get("Current DNS Server", []))),
        links=links,
    )


def _link(block: _Block) -> ResolvedLink:
    v = block.values
    scopes = tuple(s for s in v.get("Current Scopes", []) if s != "none")
    return ResolvedLink(
        name=block.name,
        scopes=scopes,
        current_server=_server(" ".join(v.get("Current DNS Server", []))),
        servers=_servers(v.get("DNS Servers", [])),
        domains=tuple(v.get("DNS Domain", [])),
        default_route=_default_route(v),
    )


def _default_route(values: dict[str, list[str]]) -> bool | None:
    for key in ("Default Route", "DefaultRoute setting"):
        if key in values:
            return values[key][:1] == ["yes"]
    protocols = values.get("Protocols", [])
    if "+DefaultRoute" in protocols:
        return True
    if "-DefaultRoute" in protocols:
        return False
    return None


def _servers(words: list[str]) -> tuple[str, ...]:
    return _unique(s for s in (_server(w) for w in words) if s)


def _server(word: str) -> str:
    """`1.1.1.1#cloudflare-dns.com`, `[fe80::1%eth0]:53`, `10.0.0.1:5353` → the address."""
    word = word.split("#", 1)[0]
    if bracketed := _BRACKETED.fullmatch(word):
        return bracketed.group(1)
    if v4 := _V4_PORT.fullmatch(word):
        return v4.group(1)
    return word


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
