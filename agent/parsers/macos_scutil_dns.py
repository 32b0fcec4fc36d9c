"""`scutil --dns` → DnsConfig (the resolvers for unscoped queries).

scutil(8): https://keith.github.io/xcode-man-pages/scutil.8.html ; the resolver keys are
those of dnsinfo.h (configd, https://github.com/apple-oss-distributions/configd).

    DNS configuration

    resolver #1
      search domain[0] : corp.example.com
      nameserver[0] : 10.20.0.53
      nameserver[1] : 10.20.0.54
      if_index : 4 (en0)
      flags    : Request A records
      reach    : 0x00020002 (Reachable,Directly Reachable Address)

    resolver #2
      domain   : local
      options  : mdns
      ...

    DNS configuration (for scoped queries)
    ...

Servers and search domains come from the resolvers without a `domain` (the default ones
every query may use); per-domain resolvers (mDNS `local`, a VPN's split DNS) answer only
for their domain and are left out, as is the scoped section that repeats the default
resolvers per interface. No default resolver (offline, no DHCP) gives an empty DnsConfig.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import DnsConfig

_ENTRY = re.compile(r"([a-z_ ]+?)(?:\[\d+\])?\s*:\s*(.*)")


def parse(text: str) -> Parsed[DnsConfig]:
    warnings = Warnings()
    if "DNS configuration" not in text:
        raise ParseError("scutil --dns: no `DNS configuration` section")
    servers: list[str] = []
    search: list[str] = []
    resolvers: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("DNS configuration"):
            if "scoped" in stripped:
                break
            continue
        if stripped.startswith("resolver #"):
            current = {}
            resolvers.append(current)
            continue
        match = _ENTRY.fullmatch(stripped)
        if current is None or match is None:
            if stripped != "No DNS configuration available":
                warnings.add(f"line {lineno}: not a resolver entry: {stripped!r:.80}")
            continue
        current.setdefault(match.group(1).strip(), []).append(match.group(2).strip())
    for resolver in resolvers:
        if "domain" in resolver:
            continue
        servers += [s for s in resolver.get("nameserver", []) if s not in servers]
        search += [d for d in resolver.get("search domain", []) if d not in search]
    return Parsed.of(DnsConfig(tuple(servers), tuple(search), "scutil"), warnings)
