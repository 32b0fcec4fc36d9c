"""Network: interfaces, addresses, routes, gateway reachability, DNS (configured and
asked), Wi-Fi signal, time synchronisation.

Linux reads sysfs (link state, speed, counters), `ip addr` (addresses, DHCP), `ip route`,
resolv.conf or resolvectl, /proc/net/wireless and /proc/net/arp, then actively: one ping
to each default gateway that the ARP cache does not already show as reachable, and one
DNS query per server and configured name. Windows and macOS: agent/probes/windows.py and
macos.py.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from agent.parsers import (
    chronyc_tracking,
    dns_checks_json,
    ip_addr,
    ip_route,
    proc_net_arp,
    proc_net_route,
    proc_net_wireless,
    resolv_conf,
    resolvectl_status,
    sysfs_net_json,
    timedatectl_show,
)
from agent.probes.base import DEFAULT_CONTEXT, Gather, ProbeContext, ProbeOutput
from agent.records import DnsCheck, DnsConfig, GatewayCheck, NetInterface, Route, TimeSync
from agent.sources import Source, Unavailable
from agent.specs import (
    CHRONYC,
    IP6_ROUTE,
    IP_ADDR,
    IP_ROUTE,
    NET_ARP,
    NET_IPV6_ROUTE,
    NET_ROUTE,
    NET_WIRELESS,
    RESOLV_CONF,
    RESOLVECTL,
    SYSFS_NET,
    TIMEDATECTL,
    TIMESYNC_STATUS,
    Spec,
    dns_checks,
    ping,
)

T = TypeVar("T")
MAX_DNS_SERVERS = 3
# systemd-resolved's stub listener: resolv.conf then names no real server.
STUB_RESOLVERS = frozenset({"127.0.0.53", "127.0.0.54"})


class NetworkProbe:
    name = "network"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "linux":
                return (
                    *(SYSFS_NET, IP_ADDR, NET_ROUTE, NET_IPV6_ROUTE, RESOLV_CONF, RESOLVECTL),
                    *(NET_WIRELESS, NET_ARP, TIMEDATECTL, CHRONYC),
                )
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("network")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("network")
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.network(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.network(source)
        return self._linux(source, context)

    def _linux(self, source: Source, context: ProbeContext) -> ProbeOutput:
        g = Gather(self.name)
        links = g.parse(source, SYSFS_NET, sysfs_net_json.parse) or ()
        addressed = g.parse(source, IP_ADDR, ip_addr.parse) or ()
        signal = g.parse_optional(source, NET_WIRELESS, proc_net_wireless.parse) or {}
        interfaces = _merge_interfaces(links, addressed, signal)
        routes = self._routes(g, source)
        dns = self._dns(g, source)
        checks = self._dns_checks(g, source, dns, context) if dns is not None else ()
        return ProbeOutput(
            interfaces=interfaces,
            routes=routes,
            gateway_checks=self._gateways(g, source, routes),
            dns=dns,
            dns_checks=checks,
            time_sync=self._time(g, source),
            errors=g.errors,
            warnings=g.warnings,
        )

    def _routes(self, g: Gather, source: Source) -> tuple[Route, ...]:
        v4 = g.parse_optional(source, NET_ROUTE, proc_net_route.parse)
        if v4 is None:
            # No /proc/net/route (an older capture, a container without procfs net):
            # ask iproute2 instead.
            return (
                *(g.parse(source, IP_ROUTE, ip_route.parse) or ()),
                *(g.parse_optional(source, IP6_ROUTE, ip_route.parse) or ()),
            )
        return (*v4, *(g.parse_optional(source, NET_IPV6_ROUTE, proc_net_route.parse_ipv6) or ()))

    def _dns(self, g: Gather, source: Source) -> DnsConfig | None:
        conf = g.parse(source, RESOLV_CONF, resolv_conf.parse)
        if conf is not None and not (set(conf.servers) & STUB_RESOLVERS):
            return conf
        # Behind systemd-resolved the real servers are in resolvectl (absent elsewhere:
        # that is no error when resolv.conf already named real servers).
        resolved = g.parse_optional(source, RESOLVECTL, resolvectl_status.parse)
        if resolved is not None and resolved.servers:
            return dataclasses.replace(
                resolved, search=resolved.search or (conf.search if conf else ())
            )
        return conf

    def _dns_checks(
        self, g: Gather, source: Source, dns: DnsConfig, context: ProbeContext
    ) -> tuple[DnsCheck, ...]:
        servers = tuple(s for s in dns.servers if s not in STUB_RESOLVERS)[:MAX_DNS_SERVERS]
        if not servers:
            return ()
        # With no names configured a live host asks nothing (the call returns at once);
        # a capture still answers with the checks it recorded.
        spec = dns_checks(servers, context.dns_names, context.dns_timeout)
        return g.parse(source, spec, dns_checks_json.parse) or ()

    def _gateways(
        self, g: Gather, source: Source, routes: tuple[Route, ...]
    ) -> tuple[GatewayCheck, ...]:
        gateways = {
            (r.gateway, r.interface)
            for r in routes
            if r.destination == "default" and r.gateway and r.family == 4
        }
        if not gateways:
            return ()
        arp = g.parse_optional(source, NET_ARP, proc_net_arp.parse) or {}
        checks: list[GatewayCheck] = []
        for gateway, interface in sorted(gateways):
            device, complete = arp.get(gateway, ("", False))
            if complete:
                checks.append(GatewayCheck(gateway, interface or device, True, "arp"))
                continue
            checks.append(_ping(source, gateway, interface))
        return tuple(checks)

    def _time(self, g: Gather, source: Source) -> TimeSync | None:
        # timedatectl knows whether the clock is synchronised, whoever syncs it; chrony
        # also gives the offset. Either may be missing (containers, minimal installs).
        sync = g.parse_optional(source, TIMEDATECTL, timedatectl_show.parse)
        tracking = g.parse_optional(source, CHRONYC, chronyc_tracking.parse)
        if tracking is not None and tracking.known:
            return tracking
        if sync is not None:
            # timedatectl show says whether the clock is synchronised; timesyncd's own
            # status adds the server and the offset.
            status = g.parse_optional(
                source, TIMESYNC_STATUS, timedatectl_show.parse_timesync_status
            )
            return timedatectl_show.combine(sync, status)
        # Neither answered: say so, an unsynchronised clock is a finding in itself.
        return TimeSync(known=False, detail="neither timedatectl nor chronyc answered")


def _ping(source: Source, gateway: str, interface: str) -> GatewayCheck:
    try:
        out = source.read(ping(gateway, interface))
    except Unavailable as exc:
        return GatewayCheck(gateway, interface, False, "ping", detail=str(exc))
    for word in out.split():
        if word.startswith("time="):
            try:
                return GatewayCheck(gateway, interface, True, "ping", float(word[5:]))
            except ValueError:
                break
    return GatewayCheck(
        gateway,
        interface,
        " 1 received" in out or " 1 packets received" in out,
        "ping",
        detail="no reply",
    )


def _merge_interfaces(
    links: tuple[NetInterface, ...],
    addressed: tuple[NetInterface, ...],
    signal: dict[str, int],
) -> tuple[NetInterface, ...]:
    """sysfs has the counters and speed, `ip addr` the addresses and DHCP: one record."""
    by_name = {i.name: i for i in addressed}
    merged: list[NetInterface] = []
    for link in links or addressed:
        ip = by_name.get(link.name)
        if ip is not None and link is not ip:
            link = dataclasses.replace(
                link,
                addresses=ip.addresses,
                dhcp=ip.dhcp,
                admin_up=link.admin_up or ip.admin_up,
                oper_state=link.oper_state or ip.oper_state,
                mac=link.mac or ip.mac,
            )
        if link.name in signal:
            link = dataclasses.replace(link, kind="wifi", wifi_signal_dbm=signal[link.name])
        merged.append(link)
    return tuple(merged)
