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
    reallocated_sectors: int = 0
    pending_sectors: int = 0
    offline_uncorrectable: int = 0
    nvme_critical_warning: int = 0
    nvme_percentage_used: int = 0
    smartctl_exit_status: int = 0

    @property
    def failed(self) -> bool:
        return self.health_known and not self.health_passed


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
