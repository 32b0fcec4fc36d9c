"""macOS gathering per domain: read the specs of agent/specs_macos.py, call the parsers.

Commands only (agent/specs_macos.py), so every function here runs on any OS against a
capture folder (DirectorySource); nothing imports a macOS-only module. Each read and parse
goes through Gather: a command that is missing, times out or prints something unparseable
becomes a ProbeError and the function goes on with the rest.

    inventory(source)  sysctl + sw_vers + system_profiler hardware/storage + hardware ports
    disk(source)       diskutil list + apfs list → APFS volumes; kernel disk errors (events)
    smart(source)      system_profiler storage → SMART verdict per NVMe / SATA drive
    network(source)    ifconfig + hardware ports + netstat -ibn + Wi-Fi → interfaces;
                       netstat -rn → routes; scutil --dns; sntp against the configured server
    drivers(source)    kmutil showloaded (kextstat before macOS 11) → loaded kexts
    boot(source)       sysctl boot facts, the SMC's previous shutdown cause, panic reports
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence

from agent import specs_macos as specs_
from agent.parsers import (
    ParseError,
    macos_diskutil_plist,
    macos_ifconfig,
    macos_kextstat,
    macos_log_ndjson,
    macos_netstat_ib,
    macos_netstat_rn,
    macos_networksetup_ports,
    macos_ntp_conf,
    macos_panic_report,
    macos_scutil_dns,
    macos_sntp,
    macos_sw_vers,
    macos_sysctl,
    macos_system_profiler_json,
)
from agent.probes.base import Gather, ProbeOutput
from agent.records import (
    BootInfo,
    CrashReport,
    Event,
    NetInterface,
    Severity,
    TimeSync,
)
from agent.sources import Source, SourceTimeout, Unavailable
from agent.specs import Spec

MAX_PANIC_REPORTS = 5  # the newest; a boot loop leaves dozens, the first few tell the story
# A panic restarts the Mac within a minute or two; one reported up to an hour before this
# boot (a Mac that stayed off after panicking on the way to sleep) still ended the last one.
PANIC_BEFORE_BOOT_S = 3600
PANIC_AFTER_BOOT_S = 600  # clocks and report times are a little late, never much
_PHYSICAL_KINDS = ("wifi", "ethernet")
_REPORT_DATE = re.compile(r"\d{4}-\d{2}-\d{2}-\d{6}")


def specs(domain: str) -> tuple[Spec, ...]:
    """What `domain` ("inventory", "disk", "smart", "network", "drivers", "boot") reads up
    front on macOS; specs found while collecting (sntp, each panic report) are not listed."""
    return specs_.BY_DOMAIN.get(domain, ())


def inventory(source: Source) -> ProbeOutput:
    g = Gather("inventory")
    base = g.parse(source, specs_.SYSCTL, macos_sysctl.parse)
    release = g.parse(source, specs_.SW_VERS, macos_sw_vers.parse)
    hardware = g.parse(
        source, specs_.SYSTEM_PROFILER_HARDWARE, macos_system_profiler_json.parse_hardware
    )
    disks = g.parse(source, specs_.SYSTEM_PROFILER_STORAGE, macos_system_profiler_json.parse_disks)
    if not disks:  # a VM's paravirtual disk is on no bus system_profiler knows
        disks = g.parse(source, specs_.DISKUTIL_LIST, macos_diskutil_plist.parse_list)
    ports = g.parse(source, specs_.NETWORKSETUP_PORTS, macos_networksetup_ports.parse) or ()
    if base is None:  # no hostname: the inventory would name no host
        return ProbeOutput(errors=g.errors, warnings=g.warnings)
    found = dataclasses.replace(
        base,
        os_name=release.os_name if release else "",
        os_version=release.os_version if release else "",
        cpu_model=base.cpu_model or (hardware.cpu_model if hardware else ""),
        machine_id=hardware.machine_id if hardware else "",
        vendor=(hardware.vendor if hardware else "") or base.vendor,
        disks=disks or (),
        nics=tuple(f"{p.name} {p.mac}" for p in ports if p.kind in _PHYSICAL_KINDS and p.mac),
    )
    return ProbeOutput(inventory=found, errors=g.errors, warnings=g.warnings)


def disk(source: Source) -> ProbeOutput:
    g = Gather("disk")
    apfs = g.read(source, specs_.DISKUTIL_APFS_LIST) or ""
    if apfs:
        try:
            macos_diskutil_plist.load(apfs, "diskutil apfs list")
        except ParseError as exc:  # free space then comes from diskutil list alone
            g.error("parse", f"{specs_.DISKUTIL_APFS_LIST.name}: {exc}")
            apfs = ""
    listing = g.read(source, specs_.DISKUTIL_LIST)
    volumes = None
    if listing is not None:
        parser = functools.partial(macos_diskutil_plist.parse_volumes, apfs_text=apfs)
        volumes = g.parse_text(specs_.DISKUTIL_LIST.name, listing, parser)
    events = g.parse(source, specs_.LOG_DISK_ERRORS, macos_log_ndjson.parse) or ()
    return ProbeOutput(
        volumes=volumes or (), events=_notable(events), errors=g.errors, warnings=g.warnings
    )


def smart(source: Source) -> ProbeOutput:
    g = Gather("smart")
    parser = macos_system_profiler_json.parse_smart
    devices = g.parse(source, specs_.SYSTEM_PROFILER_STORAGE, parser)
    return ProbeOutput(smart=devices or (), errors=g.errors, warnings=g.warnings)


def network(source: Source) -> ProbeOutput:
    g = Gather("network")
    ifconfig = g.parse(source, specs_.IFCONFIG, macos_ifconfig.parse) or ()
    ports = g.parse(source, specs_.NETWORKSETUP_PORTS, macos_networksetup_ports.parse) or ()
    counters = g.parse(source, specs_.NETSTAT_IB, macos_netstat_ib.parse) or ()
    wifi = (
        g.parse(source, specs_.SYSTEM_PROFILER_AIRPORT, macos_system_profiler_json.parse_wifi) or ()
    )
    routes = g.parse(source, specs_.NETSTAT_RN, macos_netstat_rn.parse) or ()
    dns = g.parse(source, specs_.SCUTIL_DNS, macos_scutil_dns.parse)
    return ProbeOutput(
        interfaces=_interfaces(ifconfig or ports, ports, counters, wifi),
        routes=routes,
        dns=dns,
        time_sync=_time_sync(source, g),
        errors=g.errors,
        warnings=g.warnings,
    )


def drivers(source: Source) -> ProbeOutput:
    g = Gather("drivers")
    found = None
    missing: list[tuple[str, Unavailable]] = []
    for spec in (specs_.KMUTIL_SHOWLOADED, specs_.KEXTSTAT):
        try:
            text = source.read(spec)
        except Unavailable as exc:
            missing.append((spec.name, exc))
            continue
        found = g.parse_text(spec.name, text, macos_kextstat.parse)
        break
    else:  # kextstat is only the fallback: its absence matters when kmutil is missing too
        for name, error in missing:
            kind = "timeout" if isinstance(error, SourceTimeout) else "unavailable"
            g.error(kind, f"{name}: {error}")
    return ProbeOutput(drivers=found or (), errors=g.errors, warnings=g.warnings)


def boot(source: Source) -> ProbeOutput:
    g = Gather("boot")
    info = g.parse(source, specs_.SYSCTL, macos_sysctl.parse_boot) or BootInfo()
    causes = g.parse(source, specs_.LOG_SHUTDOWN_CAUSE, macos_log_ndjson.parse) or ()
    crashes = _panic_reports(source, g)
    last_panic = _panic_before(crashes, info.boot_time_unix)
    state, detail = _previous_shutdown(causes, last_panic)
    info = dataclasses.replace(info, previous_shutdown=state, previous_shutdown_detail=detail)
    events = list(_notable(causes))
    if last_panic is not None:
        events.append(
            Event(
                last_panic.time_ms,
                "macos",
                "boot.panic",
                Severity.CRITICAL,
                last_panic.title,
                {"module": last_panic.module, "path": last_panic.path},
            )
        )
    return ProbeOutput(
        boot=info, crashes=crashes, events=tuple(events), errors=g.errors, warnings=g.warnings
    )


# --- helpers ---------------------------------------------------------------------------


def _interfaces(
    base: Sequence[NetInterface],
    ports: Sequence[NetInterface],
    counters: Sequence[NetInterface],
    wifi: Sequence[NetInterface],
) -> tuple[NetInterface, ...]:
    kinds = {p.name: p for p in ports}
    stats = {c.name: c for c in counters}
    radios = {w.name: w for w in wifi}
    merged: list[NetInterface] = []
    for itf in base:
        port, stat, radio = kinds.get(itf.name), stats.get(itf.name), radios.get(itf.name)
        kind = itf.kind or (port.kind if port else "") or ("wifi" if radio else "other")
        if port is not None and itf.kind != "loopback":
            kind = port.kind  # networksetup knows a Thunderbolt bridge from Wi-Fi; ifconfig not
        itf = dataclasses.replace(itf, kind=kind, mac=itf.mac or (port.mac if port else ""))
        if stat is not None:
            itf = dataclasses.replace(
                itf,
                mtu=itf.mtu or stat.mtu,
                rx_bytes=stat.rx_bytes,
                tx_bytes=stat.tx_bytes,
                rx_errors=stat.rx_errors,
                tx_errors=stat.tx_errors,
            )
        if radio is not None and kind == "wifi":
            itf = dataclasses.replace(
                itf, wifi_ssid=radio.wifi_ssid, wifi_signal_dbm=radio.wifi_signal_dbm
            )
        merged.append(itf)
    return tuple(merged)


def _time_sync(source: Source, g: Gather) -> TimeSync:
    server = specs_.DEFAULT_NTP_SERVER
    try:
        conf = source.read(specs_.NTP_CONF)
    except Unavailable:
        conf = ""  # never configured: timed uses Apple's default
    if conf:
        servers = g.parse_text(specs_.NTP_CONF.name, conf, macos_ntp_conf.parse)
        server = servers[0] if servers else server
    spec = specs_.sntp(server)
    text = g.read(source, spec)
    if text is None:
        return TimeSync(known=False, source="sntp", server=server, detail=g.errors[-1].message)
    return g.parse_text(spec.name, text, functools.partial(macos_sntp.parse, server=server)) or (
        TimeSync(known=False, source="sntp", server=server, detail="unparseable sntp output")
    )


def _panic_reports(source: Source, g: Gather) -> tuple[CrashReport, ...]:
    listing = g.read(source, specs_.PANIC_REPORTS)
    if listing is None:
        return ()
    paths = [line.strip() for line in listing.splitlines() if line.strip().startswith("/")]
    paths.sort(key=_report_date, reverse=True)
    found: list[CrashReport] = []
    seen: set[tuple[int, str]] = set()
    for path in paths[:MAX_PANIC_REPORTS]:
        spec = specs_.panic_report(path)
        parser = functools.partial(macos_panic_report.parse, path=path)
        report = g.parse(source, spec, parser)
        # panic-full and panic-base reports of one incident tell the same panic.
        if report is not None and (report.time_ms, report.title) not in seen:
            seen.add((report.time_ms, report.title))
            found.append(report)
    return tuple(found)


def _report_date(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    match = _REPORT_DATE.search(name)
    return match.group(0) if match else name


def _panic_before(crashes: Sequence[CrashReport], boot_time: int) -> CrashReport | None:
    if not boot_time:
        return None
    low, high = (boot_time - PANIC_BEFORE_BOOT_S) * 1000, (boot_time + PANIC_AFTER_BOOT_S) * 1000
    near = [c for c in crashes if low <= c.time_ms <= high]
    return max(near, key=lambda c: c.time_ms) if near else None


def _previous_shutdown(causes: Sequence[Event], panic: CrashReport | None) -> tuple[str, str]:
    """(clean | unclean | unknown, why): a panic just before this boot, else the cause code."""
    said = [e for e in causes if "cause" in e.fields]
    last = max(said, key=lambda e: e.time_ms) if said else None
    cause = last.fields["meaning"] if last else ""
    if panic is not None:
        return "unclean", f"kernel panic: {panic.title}" + (f"; {cause}" if cause else "")
    if last is None:
        return "unknown", ""  # Apple silicon logs no cause code: unknown without a panic
    return ("clean" if last.kind == "boot.clean_shutdown" else "unclean"), cause


def _notable(events: Sequence[Event]) -> tuple[Event, ...]:
    return tuple(e for e in events if e.severity > Severity.INFO)
