"""The agent's vocabulary: frozen records, mirrored 1:1 by proto/rdiag_proto/v1/telemetry.proto.

Records are plain data. Protobuf appears only in agent/uplink/convert.py and
collector/ingest/convert.py; a round-trip test proves every field crosses the wire.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Priority(enum.IntEnum):
    """Values equal rdiag.v1.Priority. Higher is dropped later by the spool."""

    LOW = 1
    NORMAL = 2
    CRITICAL = 3


class Severity(enum.IntEnum):
    """Values equal rdiag.v1.Severity."""

    INFO = 1
    WARNING = 2
    ERROR = 3
    CRITICAL = 4


def _frozen_map(value: Mapping[str, str] | Mapping[str, int]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class InventoryDisk:
    """A physical disk as the OS lists it (lsblk, Get-PhysicalDisk, diskutil)."""

    name: str  # sda, nvme0n1, PhysicalDisk0, disk0
    model: str = ""
    serial: str = ""
    size_bytes: int = 0
    rotational: bool = False
    transport: str = ""  # sata | nvme | usb | sas | ...


@dataclass(frozen=True, slots=True)
class HostInventory:
    hostname: str
    os_family: str
    os_name: str = ""
    os_version: str = ""
    kernel: str = ""
    arch: str = ""
    cpu_model: str = ""
    cpu_cores: int = 0
    memory_bytes: int = 0
    boot_time_unix: int = 0
    machine_id: str = ""
    agent_version: str = ""
    disks: tuple[InventoryDisk, ...] = ()
    nics: tuple[str, ...] = ()  # physical interface names with their MAC: "eth0 52:54:00:12:34:56"
    uptime_seconds: int = 0
    vendor: str = ""  # system manufacturer and product: "Dell Inc. Latitude 7420"


@dataclass(frozen=True, slots=True)
class Volume:
    mount: str
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int  # available to unprivileged users, as df reports it
    inodes_total: int = 0
    inodes_free: int = 0
    read_only: bool = False
    # Bytes per hour over the agent's recent samples (agent/derive.py); 0 when unknown.
    growth_bytes_per_hour: float = 0.0
    # Seconds until full at that rate; 0 when not growing or unknown.
    seconds_to_full: float = 0.0

    @property
    def used_pct(self) -> float:
        """Percent used as df shows it: used / (used + available)."""
        usable = self.used_bytes + self.free_bytes
        return 100.0 * self.used_bytes / usable if usable else 0.0

    @property
    def inodes_used_pct(self) -> float:
        if not self.inodes_total:
            return 0.0
        return 100.0 * (self.inodes_total - self.inodes_free) / self.inodes_total


@dataclass(frozen=True, slots=True)
class SmartAttribute:
    """One row of the ATA SMART attribute table (smartctl -x / --json)."""

    id: int
    name: str
    value: int = 0  # normalised current value
    worst: int = 0
    threshold: int = 0
    raw: int = 0
    prefailure: bool = False
    when_failed: str = ""  # "" | "FAILING_NOW" | "In_the_past"


@dataclass(frozen=True, slots=True)
class SmartDevice:
    device: str
    protocol: str
    model: str = ""
    serial: str = ""
    firmware: str = ""
    health_known: bool = False
    health_passed: bool = True
    temperature_c: int = 0
    power_on_hours: int = 0
    reallocated_sectors: int = 0  # ATA 5
    pending_sectors: int = 0  # ATA 197
    offline_uncorrectable: int = 0  # ATA 198
    nvme_critical_warning: int = 0
    nvme_percentage_used: int = 0
    smartctl_exit_status: int = 0
    reported_uncorrect: int = 0  # ATA 187
    command_timeout: int = 0  # ATA 188
    udma_crc_errors: int = 0  # ATA 199
    nvme_media_errors: int = 0
    nvme_available_spare: int = 0
    nvme_available_spare_threshold: int = 0
    nvme_unsafe_shutdowns: int = 0
    nvme_error_log_entries: int = 0
    scsi_grown_defects: int = 0
    scsi_uncorrected_errors: int = 0
    selftest_failures: int = 0  # failed entries in the self-test log
    ata_error_count: int = 0  # ATA error log count
    attributes: tuple[SmartAttribute, ...] = ()

    @property
    def failed(self) -> bool:
        return self.health_known and not self.health_passed


@dataclass(frozen=True, slots=True)
class DiskIo:
    """Per-disk counters (/proc/diskstats) and what they mean over the last interval.

    The derived fields are 0 on the first sample after start (no interval yet).
    """

    device: str
    reads: int = 0
    writes: int = 0
    read_ms: int = 0
    write_ms: int = 0
    in_flight: int = 0
    io_ms: int = 0
    weighted_io_ms: int = 0
    read_await_ms: float = 0.0
    write_await_ms: float = 0.0
    util_pct: float = 0.0
    queue_depth: float = 0.0


@dataclass(frozen=True, slots=True)
class RaidArray:
    """A Linux md array (/proc/mdstat) or a Windows storage pool / macOS AppleRAID set."""

    name: str
    level: str = ""
    state: str = ""  # active | inactive | degraded | ...
    devices_total: int = 0
    devices_active: int = 0
    failed_devices: tuple[str, ...] = ()
    degraded: bool = False
    sync_action: str = ""  # recovery | resync | check | reshape
    sync_progress_pct: float = 0.0


@dataclass(frozen=True, slots=True)
class NetInterface:
    name: str
    mac: str = ""
    kind: str = ""  # ethernet | wifi | loopback | virtual | other
    oper_state: str = ""  # up | down | dormant | unknown | ...
    admin_up: bool = False
    carrier: bool = False
    speed_mbps: int = 0
    mtu: int = 0
    addresses: tuple[str, ...] = ()  # CIDR, "10.0.0.5/24"
    dhcp: bool = False
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    carrier_changes: int = 0
    wifi_ssid: str = ""
    wifi_signal_dbm: int = 0  # 0: not Wi-Fi or unknown
    duplex: str = ""  # full | half | "" (unknown)

    @property
    def apipa(self) -> bool:
        """Only a link-local IPv4 address: DHCP failed (Windows and macOS self-assign)."""
        v4 = [a for a in self.addresses if ":" not in a]
        return bool(v4) and all(a.startswith("169.254.") for a in v4)


@dataclass(frozen=True, slots=True)
class Route:
    destination: str  # "default" or CIDR
    gateway: str = ""
    interface: str = ""
    metric: int = 0
    family: int = 4


@dataclass(frozen=True, slots=True)
class GatewayCheck:
    gateway: str
    interface: str = ""
    reachable: bool = False
    method: str = ""  # arp | ping | tcp
    rtt_ms: float = 0.0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DnsConfig:
    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    source: str = ""  # resolv.conf | resolvectl | networkctl | nmcli | windows | scutil


@dataclass(frozen=True, slots=True)
class DnsCheck:
    """One active resolution: `name` asked of `server` ("" = the system resolver)."""

    name: str
    server: str = ""
    status: str = ""  # ok | timeout | servfail | nxdomain | refused | error
    rtt_ms: float = 0.0
    answers: int = 0
    detail: str = ""
    qtype: int = 1  # 1 A, 28 AAAA


@dataclass(frozen=True, slots=True)
class TimeSync:
    known: bool = False
    synchronized: bool = False
    offset_ms: float = 0.0
    source: str = ""  # timedatectl | chronyc | w32tm | sntp
    server: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Device:
    """A hardware device and its driver: PCI/USB on Linux, PnP on Windows."""

    id: str  # 0000:00:1f.2, PCI\\VEN_8086&DEV_...
    name: str = ""
    bus: str = ""  # pci | usb | pnp
    driver: str = ""  # "" = no driver bound
    problem_code: int = 0  # Windows ConfigManagerErrorCode; 0 = working
    problem: str = ""
    status: str = ""
    driver_version: str = ""
    # Hardware error counters since boot: PCIe AER (corrected; non-fatal + fatal) on PCI
    # devices, EDAC (CE; UE) on memory controllers. Rules look at their growth.
    corrected_errors: int = 0
    uncorrected_errors: int = 0


@dataclass(frozen=True, slots=True)
class DriverInfo:
    """A loaded kernel module (Linux) or an installed signed driver (Windows)."""

    name: str
    version: str = ""
    provider: str = ""
    signed: bool = True
    date: str = ""
    device: str = ""


@dataclass(frozen=True, slots=True)
class CrashReport:
    """A crash the host kept: pstore, /var/crash, a previous boot's journal, a BugCheck,
    a macOS panic report."""

    source: str  # pstore | var_crash | journal | bugcheck | minidump | macos_panic
    kind: str  # panic | oops | bug | warning | bugcheck | hang | ...
    time_ms: int = 0
    title: str = ""
    stop_code: str = ""  # Windows BugCheck code, 0x0000009f
    module: str = ""  # the faulting driver or module, when named
    path: str = ""
    panicked: bool = False  # the report ended in a kernel panic (an oops, then panic)


@dataclass(frozen=True, slots=True)
class BootInfo:
    boot_id: str = ""
    boot_time_unix: int = 0
    previous_shutdown: str = "unknown"  # clean | unclean | unknown
    previous_shutdown_detail: str = ""
    boot_duration_s: float = 0.0
    emergency_mode: bool = False
    system_state: str = ""  # systemd: running | degraded | maintenance | ...
    failed_units: tuple[str, ...] = ()
    crashes: tuple[CrashReport, ...] = ()
    previous_boot_id: str = ""


@dataclass(frozen=True, slots=True)
class ParseWarnings:
    """Lines or entries a parser did not understand: counted, a few kept as examples."""

    spec: str
    count: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeError:
    probe: str
    kind: str  # timeout | unavailable | error | parse
    message: str


@dataclass(frozen=True, slots=True)
class ProbeTiming:
    probe: str
    wall_seconds: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at_ms: int
    inventory: HostInventory | None = None
    volumes: tuple[Volume, ...] = ()
    smart: tuple[SmartDevice, ...] = ()
    errors: tuple[ProbeError, ...] = ()
    timings: tuple[ProbeTiming, ...] = ()
    disk_io: tuple[DiskIo, ...] = ()
    raid: tuple[RaidArray, ...] = ()
    interfaces: tuple[NetInterface, ...] = ()
    routes: tuple[Route, ...] = ()
    gateway_checks: tuple[GatewayCheck, ...] = ()
    dns: DnsConfig | None = None
    dns_checks: tuple[DnsCheck, ...] = ()
    time_sync: TimeSync | None = None
    devices: tuple[Device, ...] = ()
    drivers: tuple[DriverInfo, ...] = ()
    kernel_taint: int = 0
    boot: BootInfo | None = None
    warnings: tuple[ParseWarnings, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    time_ms: int
    source: str
    kind: str
    severity: Severity
    message: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen_map(self.fields))

    @property
    def priority(self) -> Priority:
        """Errors and worse are spooled CRITICAL (sent at once, dropped last)."""
        return Priority.CRITICAL if self.severity >= Severity.ERROR else Priority.NORMAL


@dataclass(frozen=True, slots=True)
class AgentStats:
    time_ms: int
    spool_records: int
    spool_bytes: int
    dropped: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dropped", _frozen_map(self.dropped))


Body = Snapshot | Event | AgentStats


@dataclass(frozen=True, slots=True)
class Record:
    """A body with the sequence number the spool gave it."""

    seq: int
    priority: Priority
    body: Body
