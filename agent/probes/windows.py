"""The Windows side of each domain probe: read the Windows specs, parse, merge.

Each function reads through a Source (the live host, or a capture folder replayed on any
OS), so nothing here is Windows-only. Every read+parse goes through Gather: a spec that is
unavailable, times out or does not parse becomes a ProbeError and the rest still reports.

    windows.disk(source)                       # volumes + disk events of the last 7 days
    windows.disk(source, since_ms=last_poll)   # events since then (host clock, UTC ms)
    windows.specs("network")                   # what capture records for that domain

Events carry `log` and `record_id`; agent.parsers.win_events_json.newer_than() drops the
ones a caller already sent (one cursor per domain).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from agent import specs_windows as win
from agent.parsers import (
    win_boot_events,
    win_cim_os_json,
    win_dns_client_json,
    win_events_json,
    win_ip_config_json,
    win_net_adapter_json,
    win_physical_disk_json,
    win_pnp_devices_json,
    win_routes_json,
    win_signed_drivers_json,
    win_volumes_json,
    win_w32tm,
)
from agent.probes.base import Gather, ProbeOutput
from agent.records import Device, Event, NetInterface
from agent.sources import Source
from agent.specs import Spec

SPECS: dict[str, tuple[Spec, ...]] = {
    "inventory": (win.INVENTORY,),
    "disk": (win.VOLUMES, win.EVENTS["disk"]),
    "smart": (win.PHYSICAL_DISKS,),
    "network": (
        *(win.NET_ADAPTERS, win.IP_ADDRESSES, win.ROUTES, win.DNS_CLIENT, win.W32TM_STATUS),
        win.EVENTS["network"],
    ),
    "drivers": (win.PNP_PROBLEM_DEVICES, win.SIGNED_DRIVERS, win.EVENTS["drivers"]),
    "boot": (win.EVENTS["boot"],),
}


def specs(domain: str) -> tuple[Spec, ...]:
    """The specs `domain` reads up front with the default event window (for capture)."""
    return SPECS[domain]


def inventory(source: Source) -> ProbeOutput:
    g = Gather("inventory")
    found = g.parse(source, win.INVENTORY, win_cim_os_json.parse)
    return ProbeOutput(inventory=found, errors=g.errors, warnings=g.warnings)


def disk(source: Source, *, since_ms: int | None = None) -> ProbeOutput:
    g = Gather("disk")
    volumes = g.parse(source, win.VOLUMES, win_volumes_json.parse) or ()
    events = _events(g, source, "disk", since_ms)
    return ProbeOutput(volumes=volumes, events=events, errors=g.errors, warnings=g.warnings)


def smart(source: Source) -> ProbeOutput:
    g = Gather("smart")
    devices = g.parse(source, win.PHYSICAL_DISKS, win_physical_disk_json.parse) or ()
    return ProbeOutput(smart=devices, errors=g.errors, warnings=g.warnings)


def network(source: Source, *, since_ms: int | None = None) -> ProbeOutput:
    g = Gather("network")
    adapters = g.parse(source, win.NET_ADAPTERS, win_net_adapter_json.parse) or ()
    addresses = g.parse(source, win.IP_ADDRESSES, win_ip_config_json.parse) or ()
    routes = g.parse(source, win.ROUTES, win_routes_json.parse) or ()
    # With no adapter list, every interface's DNS servers count rather than none.
    up = {a.name for a in adapters if a.oper_state == "up"} if adapters else None
    dns = g.parse(source, win.DNS_CLIENT, partial(win_dns_client_json.parse, interfaces=up))
    time_sync = g.parse(source, win.W32TM_STATUS, win_w32tm.parse)
    return ProbeOutput(
        interfaces=merge_addresses(adapters, addresses),
        routes=routes,
        dns=dns,
        time_sync=time_sync,
        events=_events(g, source, "network", since_ms),
        errors=g.errors,
        warnings=g.warnings,
    )


def merge_addresses(
    adapters: tuple[NetInterface, ...], addresses: tuple[NetInterface, ...]
) -> tuple[NetInterface, ...]:
    """Adapters with their addresses; address-only interfaces (loopback) are appended."""
    by_name = {a.name: a for a in addresses}
    merged = [
        replace(a, addresses=by_name[a.name].addresses, dhcp=by_name[a.name].dhcp)
        if a.name in by_name
        else a
        for a in adapters
    ]
    known = {a.name for a in adapters}
    for extra in addresses:
        if extra.name not in known:
            loopback = all(_is_loopback(cidr) for cidr in extra.addresses)
            if loopback:  # Get-NetAdapter does not list the loopback pseudo-interface
                extra = replace(
                    extra, kind="loopback", oper_state="up", admin_up=True, carrier=True
                )
            else:
                extra = replace(extra, oper_state="unknown")
            merged.append(extra)
    return tuple(merged)


def _is_loopback(cidr: str) -> bool:
    return cidr.startswith("127.") or cidr.split("/")[0] == "::1"


def drivers(source: Source, *, since_ms: int | None = None) -> ProbeOutput:
    g = Gather("drivers")
    devices = g.parse(source, win.PNP_PROBLEM_DEVICES, win_pnp_devices_json.parse) or ()
    signed = g.parse(source, win.SIGNED_DRIVERS, win_signed_drivers_json.parse) or ()
    versions = {d.device.upper(): d.version for d in signed}
    with_versions: tuple[Device, ...] = tuple(
        replace(d, driver_version=versions.get(d.id.upper(), "")) for d in devices
    )
    return ProbeOutput(
        devices=with_versions,
        drivers=signed,
        events=_events(g, source, "drivers", since_ms),
        errors=g.errors,
        warnings=g.warnings,
    )


def boot(source: Source, *, since_ms: int | None = None, boot_time_ms: int = 0) -> ProbeOutput:
    """Boot facts from a month of boot events; only events at or after `since_ms` are emitted.

    `boot_time_ms` (LastBootUpTime, from the inventory) pins the current boot; without it
    the newest EventLog 6005 does.
    """
    g = Gather("boot")
    history = g.parse(source, win.EVENTS["boot"], win_events_json.parse)
    if history is None:
        return ProbeOutput(errors=g.errors, warnings=g.warnings)
    emitted = tuple(e for e in history if since_ms is None or e.time_ms >= since_ms)
    return ProbeOutput(
        boot=win_boot_events.boot_info(history, boot_time_ms),
        crashes=win_boot_events.crashes(history),
        events=emitted,
        errors=g.errors,
        warnings=g.warnings,
    )


def _events(g: Gather, source: Source, domain: str, since_ms: int | None) -> tuple[Event, ...]:
    return g.parse(source, win.events(domain, since_ms), win_events_json.parse) or ()
