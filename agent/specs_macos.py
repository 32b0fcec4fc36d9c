"""What the agent reads on macOS, as data: commands only (no PyObjC, no IOKit bindings).

Every command is in the base system of macOS 11-14 (sw_vers, sysctl, system_profiler,
diskutil, networksetup, ifconfig, netstat, scutil, sntp, kmutil, log, find) and runs without
a shell in the C locale (agent/sources.py), so its output is the documented English one.
smartctl is not part of macOS: SMART status comes from system_profiler (`smart_status`),
the lead's smartctl probe covers Macs where smartmontools was installed.

Specs found while collecting (the configured NTP server, each panic report) are made by
`sntp()` and `panic_report()`; their names are fixed or derived so a capture replays them.

Man pages: sw_vers(1), sysctl(8), system_profiler(8), diskutil(8), networksetup(8),
ifconfig(8), netstat(1), scutil(8), sntp(1), kmutil(8), log(1), find(1) - as installed on
macOS (`man 8 diskutil`), mirrored at https://keith.github.io/xcode-man-pages/ .
"""

from __future__ import annotations

import re

from agent.specs import Command, File, Spec

# Reused on a live host for their max_age (agent/sources.py CachingSource): `log show
# --last boot` can take tens of seconds on a long uptime, kmutil one to three.
MINUTE = 60.0
HOUR = 60 * MINUTE
PER_BOOT = 6 * HOUR  # fixed for the boot; re-read now and then all the same

SW_VERS = Command("sw_vers", ("sw_vers",), 10.0, max_age=HOUR)

# One sysctl(8) run for the inventory and the boot facts. `name: value` lines (no -n), so
# the parser never depends on the order. An oid this kernel lacks is reported on stderr
# and sysctl exits 1 after printing the others, which are still good: bit 0 is accepted.
SYSCTL = Command(
    "sysctl",
    (
        "sysctl",
        *("kern.hostname", "kern.ostype", "kern.osrelease", "kern.osversion"),
        *("kern.boottime", "kern.bootsessionuuid"),
        *("hw.model", "hw.machine", "hw.memsize", "hw.ncpu", "hw.physicalcpu"),
        "machdep.cpu.brand_string",
    ),
    10.0,
    ok_exit_mask=0x1,
)

# system_profiler(8) -json: one document, one top-level key per data type. The default
# detail level is kept (not -detailLevel mini): mini drops serial numbers, which the
# inventory wants (redaction hashes them before they leave the host).
SYSTEM_PROFILER_HARDWARE = Command(
    "system_profiler_hardware",
    ("system_profiler", "-json", "SPHardwareDataType"),
    30.0,
    max_age=HOUR,
)
# SMART status "Verified" / "Failing" per physical drive lives in these three data types.
SYSTEM_PROFILER_STORAGE = Command(
    "system_profiler_storage",
    ("system_profiler", "-json", "SPStorageDataType", "SPNVMeDataType", "SPSerialATADataType"),
    60.0,
    max_age=10 * MINUTE,
)
# Wi-Fi: current network, "-61 dBm / -92 dBm" signal / noise.
SYSTEM_PROFILER_AIRPORT = Command(
    "system_profiler_airport", ("system_profiler", "-json", "SPAirPortDataType"), 30.0
)

DISKUTIL_LIST = Command("diskutil_list", ("diskutil", "list", "-plist"), 30.0)
# Container free space (CapacityFree) and volume roles; optional: without it free space is
# derived from diskutil list (container size minus what the volumes use).
DISKUTIL_APFS_LIST = Command("diskutil_apfs_list", ("diskutil", "apfs", "list", "-plist"), 30.0)

NETWORKSETUP_PORTS = Command("networksetup_ports", ("networksetup", "-listallhardwareports"), 10.0)
IFCONFIG = Command("ifconfig", ("ifconfig", "-a"), 10.0)
# -i interfaces, -b bytes, -n numeric: per-interface packet, byte and error counters.
NETSTAT_IB = Command("netstat_ib", ("netstat", "-ibn"), 10.0)
NETSTAT_RN = Command("netstat_rn", ("netstat", "-rn", "-f", "inet"), 10.0)
SCUTIL_DNS = Command("scutil_dns", ("scutil", "--dns"), 10.0)

# The server "Set time and date automatically" uses: systemsetup(8) writes it here as
# `server time.apple.com` (reading it back with systemsetup needs admin rights).
NTP_CONF = File("ntp_conf", "/etc/ntp.conf")
DEFAULT_NTP_SERVER = "time.apple.com"
SNTP_TIMEOUT_S = 5


def sntp(server: str = DEFAULT_NTP_SERVER) -> Command:
    """`sntp -t 5 <server>`: one query, prints the offset; it never sets the clock (no -s).

    One spec name whatever the server, so a capture replays it without knowing the server.
    """
    return Command("sntp", ("sntp", "-t", str(SNTP_TIMEOUT_S), server), SNTP_TIMEOUT_S + 10.0)


# kmutil(8) showloaded replaced kextstat(8) in macOS 11; kextstat still exists there (it runs
# kmutil and prints the same table) and is the only one before 11, hence the fallback.
KMUTIL_SHOWLOADED = Command("kmutil_showloaded", ("kmutil", "showloaded"), 60.0, max_age=HOUR)
KEXTSTAT = Command("kextstat", ("kextstat",), 60.0, max_age=HOUR)

# log(1): `--last boot` covers exactly the current boot, where the kernel logs the cause of
# the previous shutdown a few seconds in (Intel Macs; the SMC's AppleSMC kext logs it).
# Apple silicon Macs log no cause code (Eclectic Light, "A lost cause code", 20 Apr 2025):
# there the previous shutdown is judged from panic reports.
LOG_SHUTDOWN_CAUSE = Command(
    "log_shutdown_cause",
    (
        *("log", "show", "--last", "boot", "--style", "ndjson"),
        *("--predicate", 'eventMessage CONTAINS "Previous shutdown cause"'),
    ),
    120.0,
    max_age=PER_BOOT,
)
# Kernel (pid 0) disk trouble in the last hour: block I/O errors ("disk0s2: I/O error."),
# the NVMe and AHCI drivers, APFS errors. Matched on the sender image (the kext), which is
# stable; the parser then classifies the messages.
LOG_DISK_ERRORS = Command(
    "log_disk_errors",
    (
        *("log", "show", "--last", "1h", "--style", "ndjson", "--predicate"),
        'processID == 0 AND (eventMessage CONTAINS "I/O error"'
        ' OR senderImagePath CONTAINS "IONVMeFamily"'
        ' OR senderImagePath CONTAINS "IOAHCIBlockStorage"'
        ' OR (senderImagePath CONTAINS "apfs" AND eventMessage CONTAINS[c] "error"))',
    ),
    120.0,
)

DIAGNOSTIC_REPORTS = "/Library/Logs/DiagnosticReports"
PANIC_MAX_AGE_DAYS = 30
# Kernel panic reports: `*.panic` (10.x-11; Intel Macs also later), `panic-full-*.ips` and
# `panic-base-*.ips` (Apple silicon, macOS 12+), `Kernel-*.ips`. find(1) lists them, one
# path a line; the probe then reads each as a File. -maxdepth 1 skips Retired/ (reports
# already sent to Apple, duplicates of the ones here).
PANIC_REPORTS = Command(
    "panic_reports",
    (
        *("find", DIAGNOSTIC_REPORTS, "-maxdepth", "1", "-type", "f", "("),
        *("-name", "*.panic", "-o", "-name", "panic-full-*.ips"),
        *("-o", "-name", "panic-base-*.ips", "-o", "-name", "Kernel-*.ips", ")"),
        *("-mtime", f"-{PANIC_MAX_AGE_DAYS}"),
    ),
    15.0,
    max_age=10 * MINUTE,
)
PANIC_REPORT_PREFIX = "panic_report."


def panic_report(path: str) -> File:
    """One report listed by PANIC_REPORTS, named `panic_report.<file name>`."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return File(PANIC_REPORT_PREFIX + re.sub(r"[^A-Za-z0-9._-]", "_", base), path)


# --- per domain: what each probe reads up front (capture uses these) -------------------

INVENTORY: tuple[Spec, ...] = (
    SW_VERS,
    SYSCTL,
    SYSTEM_PROFILER_HARDWARE,
    DISKUTIL_LIST,
    SYSTEM_PROFILER_STORAGE,
    NETWORKSETUP_PORTS,
)
DISK: tuple[Spec, ...] = (DISKUTIL_LIST, DISKUTIL_APFS_LIST, LOG_DISK_ERRORS)
SMART: tuple[Spec, ...] = (SYSTEM_PROFILER_STORAGE,)
NETWORK: tuple[Spec, ...] = (
    NETWORKSETUP_PORTS,
    IFCONFIG,
    NETSTAT_IB,
    NETSTAT_RN,
    SCUTIL_DNS,
    SYSTEM_PROFILER_AIRPORT,
    NTP_CONF,
)
DRIVERS: tuple[Spec, ...] = (KMUTIL_SHOWLOADED, KEXTSTAT)
BOOT: tuple[Spec, ...] = (SYSCTL, LOG_SHUTDOWN_CAUSE, PANIC_REPORTS)

BY_DOMAIN: dict[str, tuple[Spec, ...]] = {
    "inventory": INVENTORY,
    "disk": DISK,
    "smart": SMART,
    "network": NETWORK,
    "drivers": DRIVERS,
    "boot": BOOT,
}
