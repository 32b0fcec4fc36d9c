"""What the agent reads, as data: one entry per fact, served by any Source.

A spec's `name` is also its file name in a capture folder (see agent/capture.py), so a
`DirectorySource` over a capture answers exactly what the live host answered. Names are
therefore plain file names: `[A-Za-z0-9._-]`, no separators.

| spec    | live source does                              | example                  |
|---------|-----------------------------------------------|--------------------------|
| File    | reads `path` (size-capped)                    | /etc/os-release          |
| Command | runs `argv` with `timeout`, kills it on expiry | smartctl --scan-open     |
| Call    | runs a registered psutil/os function → JSON   | disk_usage, host_facts   |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or name in {"host.toml", "manifest.json"}:
        raise ValueError(f"spec name {name!r} is not a plain file name (or is reserved)")


@dataclass(frozen=True, slots=True)
class File:
    name: str
    path: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class Command:
    """A command run without a shell, in the C locale.

    `ok_exit_mask`: exit-status bits that do not mean failure. None means only 0 is
    success. A status `s` is accepted when `s & ~ok_exit_mask == 0`.

    `max_age`: seconds an answer may be reused on a live host (agent/sources.py
    CachingSource). For facts that change once per boot or rarely, so the agent does not
    pay a fork and exec for them every cycle; 0 means ask every time.
    """

    name: str
    argv: tuple[str, ...]
    timeout: float = 10.0
    ok_exit_mask: int | None = None
    max_age: float = 0.0

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.argv:
            raise ValueError(f"{self.name}: empty argv")

    def exit_ok(self, status: int) -> bool:
        if status == 0:
            return True
        return self.ok_exit_mask is not None and status > 0 and status & ~self.ok_exit_mask == 0


@dataclass(frozen=True, slots=True)
class Call:
    """A fact gathered in-process (psutil, os, sysfs, a DNS query), serialised to text.

    `args` are strings passed to the function (the DNS servers and names to ask).
    """

    name: str
    func_name: str
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.name)


Spec = File | Command | Call


# --- the catalogue ---------------------------------------------------------------------

OS_RELEASE = File("os_release", "/etc/os-release")
# os-release(5): /etc/os-release takes precedence; /usr/lib/os-release is the fallback.
OS_RELEASE_USR_LIB = File("os_release_usr_lib", "/usr/lib/os-release")
MACHINE_ID = File("machine_id", "/etc/machine-id")

HOST_FACTS = Call("host_facts", "host_facts")
DISK_USAGE = Call("disk_usage", "disk_usage")

# smartctl(8) EXIT STATUS is a bit mask. Bit 0: command line did not parse; bit 1: device
# open failed (or in low-power mode with -n). Bits 2-7 are findings about the disk (a SMART
# command failed, DISK FAILING, prefail attributes at threshold, error log entries,
# self-test errors) and the JSON document is complete - those are data, not failures.
# https://www.smartmontools.org/browser/trunk/smartmontools/smartctl.8.in
SMARTCTL_OK_EXIT_MASK = 0xFC

# SMART data moves over hours, not minutes: a drive is read at most every 10 minutes and
# the device list every hour (smartctl costs 10-20 ms of CPU per device).
SMARTCTL_SCAN = Command(
    "smartctl_scan",
    ("smartctl", "--scan-open", "--json"),
    30.0,
    SMARTCTL_OK_EXIT_MASK,
    max_age=3600.0,
)


def smartctl_x(device: str, dev_type: str = "") -> Command:
    """`smartctl --json -x` for one device from the scan, named e.g. `smartctl_x.sda`.

    `--nocheck=standby` keeps a spun-down disk asleep (smartctl then exits with status 2,
    reported as unavailable) - polling must not wake disks. `-d <type>` repeats what the
    scan found, which matters behind RAID controllers (`/dev/bus/0 -d megaraid,3`).
    """
    argv = ["smartctl", "--json", "-x", "--nocheck=standby"]
    if dev_type:
        argv += ["-d", dev_type]
    argv.append(device)
    return Command(
        smartctl_x_name(device, dev_type), tuple(argv), 30.0, SMARTCTL_OK_EXIT_MASK, max_age=600.0
    )


def smartctl_x_name(device: str, dev_type: str = "") -> str:
    """`/dev/sda` → `smartctl_x.sda`; `/dev/bus/0` + `megaraid,3` → `smartctl_x.bus_0.megaraid_3`.

    The type is only kept when it selects one disk among several behind one name (it has a
    comma); plain `sat`/`nvme`/`scsi` would just make capture names harder to guess.
    """
    base = device.removeprefix("/dev/")
    if "," in dev_type:
        base += "." + dev_type
    return "smartctl_x." + re.sub(r"[^A-Za-z0-9._-]", "_", base).strip("._")


# --- kernel log and boot identity --------------------------------------------------------

BOOT_ID = File("boot_id", "/proc/sys/kernel/random/boot_id")
# What /dev/kmsg holds now, as text (agent/sources.py kmsg_dump): captured so a replayed or
# simulated host has a kernel log for the follower (agent/follow.py SourceReader).
KMSG_DUMP = Call("kmsg", "kmsg_dump")

HOUR = 3600.0
BOOT = 6 * HOUR  # facts fixed for the whole boot, re-read now and then all the same

# --- Linux: disk detail -----------------------------------------------------------------

DISKSTATS = File("diskstats", "/proc/diskstats")
MDSTAT = File("mdstat", "/proc/mdstat")
LSBLK = Command(
    "lsblk",
    ("lsblk", "-J", "-b", "-d", "-o", "NAME,MODEL,SERIAL,SIZE,ROTA,TRAN,TYPE"),
    10.0,
    max_age=HOUR,
)
DMI_VENDOR = File("dmi_sys_vendor", "/sys/class/dmi/id/sys_vendor")
DMI_PRODUCT = File("dmi_product_name", "/sys/class/dmi/id/product_name")

# --- Linux: network ---------------------------------------------------------------------

SYSFS_NET = Call("sysfs_net", "sysfs_net")
IP_ADDR = Command("ip_addr", ("ip", "addr", "show"), 5.0)
# The kernel's routing tables, read in-process (agent/parsers/proc_net_route.py); the
# `ip route` commands remain for captures made before, and hosts without /proc/net.
NET_ROUTE = File("net_route", "/proc/net/route")
NET_IPV6_ROUTE = File("net_ipv6_route", "/proc/net/ipv6_route")
IP_ROUTE = Command("ip_route", ("ip", "route", "show"), 5.0)
IP6_ROUTE = Command("ip6_route", ("ip", "-6", "route", "show"), 5.0)
RESOLV_CONF = File("resolv_conf", "/etc/resolv.conf")
RESOLVECTL = Command("resolvectl_status", ("resolvectl", "status", "--no-pager"), 5.0)
NET_WIRELESS = File("net_wireless", "/proc/net/wireless")
NET_ARP = File("net_arp", "/proc/net/arp")
TIMEDATECTL = Command("timedatectl", ("timedatectl", "show"), 5.0, max_age=600.0)
# systemd-timesyncd's server and offset (exit 1 where timesyncd is not running, e.g. with
# chrony: optional).
TIMESYNC_STATUS = Command(
    "timedatectl_timesync", ("timedatectl", "timesync-status"), 5.0, max_age=600.0
)
CHRONYC = Command("chronyc_tracking", ("chronyc", "-c", "tracking"), 5.0, max_age=600.0)


def ping(gateway: str, interface: str = "") -> Command:
    """One ICMP echo to the gateway, 1 s to answer (ping exits 1 on no reply: data)."""
    argv = ["ping", "-n", "-c", "1", "-W", "1"]
    if interface:
        argv += ["-I", interface]
    return Command("ping_gateway", (*argv, gateway), 3.0, ok_exit_mask=0x1)


def dns_checks(servers: tuple[str, ...], names: tuple[str, ...], timeout: float) -> Call:
    """Ask each server (at most 3) for each name (at most 5): agent/netcalls.py."""
    return Call("dns_checks", "dns_checks", (f"{timeout:g}", ",".join(servers), ",".join(names)))


# --- Linux: drivers and devices ---------------------------------------------------------

PROC_MODULES = File("modules", "/proc/modules")
TAINTED = File("tainted", "/proc/sys/kernel/tainted")
PCI_DEVICES = Call("pci_devices", "pci_devices")
EDAC = Call("edac", "edac_counts")

# --- Linux: boot and shutdown -----------------------------------------------------------

# is-system-running exits non-zero for every state but "running": the state is the data.
SYSTEM_STATE = Command("systemctl_state", ("systemctl", "is-system-running"), 5.0, 0xFF)
FAILED_UNITS = Command(
    "systemctl_failed",
    ("systemctl", "list-units", "--failed", "--all", "--output=json", "--no-pager"),
    10.0,
)
SYSTEMD_ANALYZE = Command(
    "systemd_analyze", ("systemd-analyze", "time", "--no-pager"), 10.0, max_age=BOOT
)
LIST_BOOTS = Command(
    "journal_boots",
    ("journalctl", "--list-boots", "-o", "json", "--no-pager"),
    10.0,
    max_age=BOOT,
)
PREVIOUS_BOOT_TAIL = Command(
    "journal_previous_tail",
    ("journalctl", "-b", "-1", "-n", "50", "-o", "json", "--no-pager"),
    10.0,
    max_age=BOOT,
)
# The previous boot's kernel messages at "warning" and worse: where its panic, oops or
# WARN() is, with the RIP and call-trace lines that name the function (level 4).
PREVIOUS_BOOT_KERNEL = Command(
    "journal_previous_kernel",
    # The last 2,000 lines: a crash is at the end, and a boot that logged I/O errors for
    # hours has hundreds of thousands.
    (
        *("journalctl", "-b", "-1", "-k", "-p", "0..4", "-n", "2000"),
        *("-o", "short-monotonic", "--no-pager"),
    ),
    10.0,
    max_age=BOOT,
)
CRASH_DIRS = Call("crash_dirs", "crash_dirs")

# smartctl before 7.0 (still on older LTS releases) has no --json: scan and read as text.
SMARTCTL_SCAN_TEXT = Command(
    "smartctl_scan_text", ("smartctl", "--scan-open"), 30.0, SMARTCTL_OK_EXIT_MASK, max_age=3600.0
)


def smartctl_x_text(device: str, dev_type: str = "") -> Command:
    json_spec = smartctl_x(device, dev_type)
    argv = tuple(a for a in json_spec.argv if a != "--json")
    return Command(
        json_spec.name + ".txt", argv, json_spec.timeout, SMARTCTL_OK_EXIT_MASK, max_age=600.0
    )
