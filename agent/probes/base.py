"""What every probe is and returns; re-exported by agent.probes.

Kept apart from __init__.py so probe modules can import it while the package builds PROBES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from agent.parsers import Parsed, ParseError
from agent.records import (
    BootInfo,
    CrashReport,
    Device,
    DiskIo,
    DnsCheck,
    DnsConfig,
    DriverInfo,
    Event,
    GatewayCheck,
    HostInventory,
    NetInterface,
    ParseWarnings,
    ProbeError,
    RaidArray,
    Route,
    SmartDevice,
    TimeSync,
    Volume,
)
from agent.sources import Source, SourceTimeout, Unavailable
from agent.specs import Spec

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProbeOutput:
    """Records a probe found, and its partial failures (one device unreadable, ...).

    The fields are the Snapshot's (agent/records.py); the runner merges every probe's
    output into one snapshot. `events` are log entries a probe read while collecting
    (a Windows event query, a macOS panic): they are spooled as Event records.

    A probe that cannot run at all raises instead (Unavailable, ParseError, anything);
    the runner turns that into a ProbeError.
    """

    inventory: HostInventory | None = None
    volumes: tuple[Volume, ...] = ()
    smart: tuple[SmartDevice, ...] = ()
    errors: tuple[ProbeError, ...] = ()
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
    events: tuple[Event, ...] = ()
    crashes: tuple[CrashReport, ...] = ()  # folded into boot.crashes by the runner


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What probes need from the agent's configuration."""

    dns_names: tuple[str, ...] = ()  # names that must resolve (agent.config dns_names)
    dns_timeout: float = 2.0


DEFAULT_CONTEXT = ProbeContext()


class Probe(Protocol):
    @property
    def name(self) -> str: ...

    def specs(self, os: str) -> tuple[Spec, ...]:
        """The specs this probe reads up front on `os` (capture uses them); specs found
        while collecting (smartctl per device) are not listed."""
        ...

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput: ...


def not_yet(probe: str, os: str) -> ProbeOutput:
    return ProbeOutput(errors=(ProbeError(probe, "unavailable", f"not implemented on {os} yet"),))


class Gather:
    """Collects a probe's partial results: each read+parse either gives a value or
    becomes a ProbeError (unavailable, timeout, parse) and the probe goes on.

        g = Gather("network")
        routes = g.parse(source, IP_ROUTE, ip_route.parse)      # Parsed[...] unwrapped
        ...
        return ProbeOutput(routes=routes or (), errors=g.errors, warnings=g.warnings)
    """

    def __init__(self, probe: str) -> None:
        self.probe = probe
        self._errors: list[ProbeError] = []
        self._warnings: list[ParseWarnings] = []

    @property
    def errors(self) -> tuple[ProbeError, ...]:
        return tuple(self._errors)

    @property
    def warnings(self) -> tuple[ParseWarnings, ...]:
        return tuple(self._warnings)

    def error(self, kind: str, message: str) -> None:
        self._errors.append(ProbeError(self.probe, kind, message))

    def read(self, source: Source, spec: Spec) -> str | None:
        try:
            return source.read(spec)
        except SourceTimeout as exc:
            self.error("timeout", f"{spec.name}: {exc}")
        except Unavailable as exc:
            self.error("unavailable", f"{spec.name}: {exc}")
        return None

    def parse(self, source: Source, spec: Spec, parser: Callable[[str], Parsed[T]]) -> T | None:
        text = self.read(source, spec)
        if text is None:
            return None
        return self.parse_text(spec.name, text, parser)

    def optional(self, source: Source, spec: Spec) -> str | None:
        """A spec whose absence is normal (no Wi-Fi, no md driver, no persistent journal):
        None, and no error. A timeout is still one."""
        try:
            return source.read(spec)
        except SourceTimeout as exc:
            self.error("timeout", f"{spec.name}: {exc}")
        except Unavailable:
            pass
        return None

    def parse_optional(
        self, source: Source, spec: Spec, parser: Callable[[str], Parsed[T]]
    ) -> T | None:
        text = self.optional(source, spec)
        return None if text is None else self.parse_text(spec.name, text, parser)

    def parse_text(self, name: str, text: str, parser: Callable[[str], Parsed[T]]) -> T | None:
        try:
            parsed = parser(text)
        except ParseError as exc:
            self.error("parse", f"{name}: {exc}")
            return None
        if parsed.warnings:
            self._warnings.append(ParseWarnings(name, parsed.warnings, parsed.examples))
        return parsed.value
