"""Collector configuration: defaults < the TOML file (--config) < RDIAG_COLLECTOR_* < flags."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from agent.common.config import _DURATION_UNITS, ByteSize, LogSection, Seconds, _parse_quantity
from agent.config import KNOWN_PROBES, check_schedule
from collector.tickets.policy import (
    DEFAULT_GROUPS,
    DEFAULT_MATRIX,
    DEFAULT_SLA,
    LEVELS,
    PRIORITIES,
    TicketPolicy,
)
from collector.tickets.sinks.config import OutboxSection, SinksSection

ENV_PREFIX = "RDIAG_COLLECTOR_"


@dataclass(frozen=True)
class ServerSection:
    listen: str = "127.0.0.1:7443"
    insecure: bool = False  # plaintext gRPC; only with --insecure or this key
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # when set, agents must present a certificate it signed
    max_message_bytes: ByteSize = ByteSize(4 * 1024 * 1024)  # compressed Batch, on the wire
    max_batch_bytes: ByteSize = ByteSize(16 * 1024 * 1024)  # a Batch payload once decompressed
    dictionaries: Path | None = None  # folder of *.zdict zstd dictionaries
    grace: Seconds = Seconds(5)  # on SIGTERM: finish in-flight commits for at most this long

    def validate(self) -> tuple[str, str] | None:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            return "listen", f"expected host:port, got {self.listen!r}"
        if bool(self.tls_cert) != bool(self.tls_key):
            return "tls_key", "tls_cert and tls_key go together"
        if not 64 * 1024 <= self.max_message_bytes <= 64 * 1024 * 1024:
            return "max_message_bytes", "expected between 64KiB and 64MiB"
        return None


@dataclass(frozen=True)
class StoreSection:
    url: str = "sqlite:///rdiag-collector.db"
    retention: Seconds = Seconds(30 * 86400)  # raw telemetry older than this is purged
    sqlite_synchronous: str = "FULL"  # FULL: an acked batch survives power loss
    # "observed": ticket times follow the newest observation stored (simulated fleets only).
    clock: str = "wall"

    def validate(self) -> tuple[str, str] | None:
        if self.clock not in ("wall", "observed"):
            return "clock", f"expected wall or observed, got {self.clock!r}"
        if "://" not in self.url:
            return "url", f"expected a database URL such as sqlite:///path.db, got {self.url!r}"
        if self.sqlite_synchronous.upper() not in ("FULL", "NORMAL"):
            return "sqlite_synchronous", "expected FULL or NORMAL"
        if self.retention < 3600:
            return "retention", "expected at least 1h"
        return None


@dataclass(frozen=True)
class IngestSection:
    # Batches grouped into one transaction at most. Groups form on their own:
    # whatever arrived while the previous commit ran goes into the next one.
    commit_max_batches: int = 256
    max_streams: int = 10_000  # concurrent agent streams; more are refused with RESOURCE_EXHAUSTED
    # Processes that decode and evaluate the streams (collector/ingest/workers.py): -1 is
    # one per CPU (at most 8), 0 evaluates on the collector's own event loop. 0 by default
    # until a scenario-library verify that failed once with workers is understood (README).
    workers: int = 0

    def validate(self) -> tuple[str, str] | None:
        if not 1 <= self.commit_max_batches <= 10_000:
            return "commit_max_batches", "expected 1..10000"
        if self.max_streams < 1:
            return "max_streams", "expected at least 1"
        if not -1 <= self.workers <= 64:
            return (
                "workers",
                f"expected -1 (one per CPU), 0 (in process) or 1..64, got {self.workers}",
            )
        return None


@dataclass(frozen=True)
class AgentsSection:
    """What every agent is told in Welcome (ConfigUpdate)."""

    interval: Seconds = Seconds(60)
    probes: tuple[str, ...] = KNOWN_PROBES

    def validate(self) -> tuple[str, str] | None:
        return check_schedule(self.interval, self.probes)


@dataclass(frozen=True)
class RulesSection:
    path: Path | None = None  # default: the rules/ folder shipped with rdiag
    reload_interval: Seconds = Seconds(5)  # how often the folder is checked for changes; 0: never
    max_events_per_host: int = 500  # history kept per host for count() windows
    max_points_per_series: int = 256  # history kept per metric series for trends
    # Sites for the `site` fact and fleet grouping: "name=CIDR", the longest prefix wins.
    sites: tuple[str, ...] = ()

    def validate(self) -> tuple[str, str] | None:
        if self.reload_interval and self.reload_interval < 1:
            return "reload_interval", "expected 0 (never) or at least 1s"
        if not 10 <= self.max_events_per_host <= 100_000:
            return "max_events_per_host", "expected 10..100000"
        if not 16 <= self.max_points_per_series <= 100_000:
            return "max_points_per_series", "expected 16..100000"
        for entry in self.sites:
            name, _, cidr = entry.partition("=")
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                return "sites", f"expected name=CIDR such as site-a=10.1.0.0/16, got {entry!r}"
            if not name.strip():
                return "sites", f"expected name=CIDR such as site-a=10.1.0.0/16, got {entry!r}"
        return None

    def site_map(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for entry in self.sites:
            name, _, cidr = entry.partition("=")
            out.setdefault(name.strip(), []).append(cidr.strip())
        return out


def _parse_duration(text: str) -> float | None:
    return _parse_quantity(text, _DURATION_UNITS)


@dataclass(frozen=True)
class ConsoleSection:
    """[console]: the L2 console and REST API (collector/web), served by the collector."""

    enabled: bool = True
    listen: str = "127.0.0.1:8480"  # HTTP; port 0: any free port (printed at start)
    tls_cert: Path | None = None  # HTTPS (and Secure cookies) when both are set
    tls_key: Path | None = None
    session_ttl: Seconds = Seconds(12 * 3600)  # a login lasts a working day
    stale_after: Seconds = Seconds(15 * 60)  # a host not heard from this long is "not seen"
    secure_cookies: bool = False  # set behind a TLS-terminating proxy; implied by tls_cert

    def validate(self) -> tuple[str, str] | None:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            return "listen", f"expected host:port, got {self.listen!r}"
        if bool(self.tls_cert) != bool(self.tls_key):
            return "tls_key", "tls_cert and tls_key go together"
        if not 300 <= self.session_ttl <= 30 * 86400:
            return "session_ttl", "expected between 5m and 30d"
        if self.stale_after < 60:
            return "stale_after", "expected at least 1m"
        return None


@dataclass(frozen=True)
class TicketsSection:
    """[tickets]: the lifecycle policy (collector.tickets.policy.TicketPolicy)."""

    # Overrides of the impact × urgency matrix, "impact/urgency=P1"; the rest keep
    # ServiceNow's defaults.
    matrix: tuple[str, ...] = ()
    # Overrides of the SLA targets, "P1=15m/4h" (respond / resolve).
    sla: tuple[str, ...] = ()
    # The helpdesk group each tier is assigned to, "L2=Desktop Support".
    groups: tuple[str, ...] = ()
    note_interval: Seconds = Seconds(1800)  # a repeat adds a note at most this often
    hold_down: Seconds = Seconds(1800)  # transient findings stay clear this long to resolve
    reopen_window: Seconds = Seconds(7 * 86400)  # a recurrence within it reopens
    problem_after: int = 3  # the n-th recurrence raises a problem record
    storm_max_new: int = 50  # new host tickets per storm_window that open a storm
    storm_window: Seconds = Seconds(60)
    group_wait: Seconds = Seconds(30)  # a new ticket waits this long before delivery

    def validate(self) -> tuple[str, str] | None:
        for entry in self.matrix:
            pair, _, prio = entry.partition("=")
            impact, _, urgency = pair.partition("/")
            if (
                impact.strip() not in LEVELS
                or urgency.strip() not in LEVELS
                or (prio.strip() not in PRIORITIES)
            ):
                return (
                    "matrix",
                    f"expected impact/urgency=P1..P5 such as high/low=P3, got {entry!r}",
                )
        for entry in self.sla:
            prio, _, times = entry.partition("=")
            respond, _, resolve = times.partition("/")
            if prio.strip() not in PRIORITIES or None in (
                _parse_duration(respond),
                _parse_duration(resolve),
            ):
                return "sla", f"expected P1..P5=RESPOND/RESOLVE such as P1=15m/4h, got {entry!r}"
        for entry in self.groups:
            tier, _, group = entry.partition("=")
            if tier.strip() not in ("L1", "L2", "L3") or not group.strip():
                return "groups", f"expected L1|L2|L3=group name, got {entry!r}"
        if not 1 <= self.problem_after <= 100:
            return "problem_after", "expected 1..100"
        if self.storm_max_new < 1:
            return "storm_max_new", "expected at least 1"
        if self.storm_window < 1:
            return "storm_window", "expected at least 1s"
        return None

    def policy(self) -> TicketPolicy:
        matrix = dict(DEFAULT_MATRIX)
        for entry in self.matrix:
            pair, _, prio = entry.partition("=")
            impact, _, urgency = pair.partition("/")
            matrix[(impact.strip(), urgency.strip())] = prio.strip()
        sla = dict(DEFAULT_SLA)
        for entry in self.sla:
            prio, _, times = entry.partition("=")
            respond, _, resolve = times.partition("/")
            sla[prio.strip()] = (
                int((_parse_duration(respond) or 0) * 1000),
                int((_parse_duration(resolve) or 0) * 1000),
            )
        groups = dict(DEFAULT_GROUPS)
        for entry in self.groups:
            tier, _, group = entry.partition("=")
            groups[tier.strip()] = group.strip()
        return TicketPolicy(
            matrix=matrix,
            sla=sla,
            groups=groups,
            note_interval_ms=int(self.note_interval * 1000),
            hold_down_ms=int(self.hold_down * 1000),
            reopen_window_ms=int(self.reopen_window * 1000),
            problem_after=self.problem_after,
            storm_max_new=self.storm_max_new,
            storm_window_ms=int(self.storm_window * 1000),
            group_wait_ms=int(self.group_wait * 1000),
        )


@dataclass(frozen=True)
class CollectorConfig:
    server: ServerSection = field(default_factory=ServerSection)
    store: StoreSection = field(default_factory=StoreSection)
    ingest: IngestSection = field(default_factory=IngestSection)
    agents: AgentsSection = field(default_factory=AgentsSection)
    rules: RulesSection = field(default_factory=RulesSection)
    tickets: TicketsSection = field(default_factory=TicketsSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    sinks: SinksSection = field(default_factory=SinksSection)
    console: ConsoleSection = field(default_factory=ConsoleSection)
    log: LogSection = field(default_factory=LogSection)
