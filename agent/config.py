"""Agent configuration: defaults < /etc/rdiag/agent.toml (or --config) < RDIAG_AGENT_* < flags.

Every key is documented in README's configuration reference; `rdiag-agent config show`
prints the effective values.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.common.config import ByteSize, LogSection, Seconds
from agent.redact import RedactionPolicy as RedactSection

ENV_PREFIX = "RDIAG_AGENT_"
KNOWN_PROBES = ("inventory", "disk", "smart", "network", "drivers", "boot")


def default_state_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "rdiag"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/rdiag")
    return Path("/var/lib/rdiag")


@dataclass(frozen=True)
class CollectorSection:
    address: str = "127.0.0.1:7443"
    insecure: bool = False  # plaintext gRPC; only with --insecure or this key
    ca_cert: Path | None = None  # trust this CA instead of the system roots
    client_cert: Path | None = None  # mutual TLS, when the collector asks for it
    client_key: Path | None = None
    server_name: str = ""  # TLS name override (when address is an IP)
    connect_timeout: Seconds = Seconds(15)
    backoff_initial: Seconds = Seconds(1)
    backoff_max: Seconds = Seconds(300)
    max_batch_bytes: ByteSize = ByteSize(1024 * 1024)
    max_in_flight: int = 4  # batches sent but not yet acked

    def validate(self) -> tuple[str, str] | None:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return "address", f"expected host:port, got {self.address!r}"
        if bool(self.client_cert) != bool(self.client_key):
            return "client_cert", "client_cert and client_key go together"
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            return "backoff_max", "expected 0 < backoff_initial <= backoff_max"
        if not 1 <= self.max_in_flight <= 64:
            return "max_in_flight", f"expected 1..64, got {self.max_in_flight}"
        if not 4096 <= self.max_batch_bytes <= 16 * 1024 * 1024:
            return "max_batch_bytes", "expected between 4KiB and 16MiB"
        return None


@dataclass(frozen=True)
class SpoolSection:
    path: Path | None = None  # default: <state_dir>/spool.db
    max_bytes: ByteSize = ByteSize(64 * 1024 * 1024)

    def validate(self) -> tuple[str, str] | None:
        if self.max_bytes < 64 * 1024:
            return "max_bytes", f"expected at least 64KiB, got {int(self.max_bytes)} bytes"
        return None


@dataclass(frozen=True)
class CollectSection:
    interval: Seconds = Seconds(60)
    probe_timeout: Seconds = Seconds(20)
    probes: tuple[str, ...] = KNOWN_PROBES
    # Read a capture folder instead of this host (simulated hosts, replays).
    source: Path | None = None
    # Names that must resolve, asked of every configured DNS server each cycle. Empty: the
    # collector's host name, when the collector address is a name.
    dns_names: tuple[str, ...] = ()
    dns_timeout: Seconds = Seconds(2)
    # Follow the kernel log (journal or /dev/kmsg) and send classified entries at once.
    follow_kernel_log: bool = True

    def validate(self) -> tuple[str, str] | None:
        # No upper bound tied to the interval here: `--interval 1s` alone must stay valid.
        # The runtime caps each probe at twice the interval (agent/service.py).
        if not self.probe_timeout > 0:
            return "probe_timeout", "expected more than 0s"
        if not 0 < self.dns_timeout <= 10:
            return "dns_timeout", "expected more than 0s and at most 10s"
        if len(self.dns_names) > 5:
            return "dns_names", f"expected at most 5 names, got {len(self.dns_names)}"
        for name in self.dns_names:
            if not _DNS_NAME.fullmatch(name):
                return "dns_names", f"{name!r} is not a DNS name"
        return check_schedule(self.interval, self.probes)


def check_schedule(interval: float, probes: tuple[str, ...]) -> tuple[str, str] | None:
    """What an agent's schedule must be, whoever sets it (its own file, or the collector)."""
    if interval < 1:
        return "interval", "expected at least 1s"
    unknown = sorted(set(probes) - set(KNOWN_PROBES))
    if unknown:
        return "probes", f"unknown probe(s) {unknown}; known: {list(KNOWN_PROBES)}"
    return None


_DNS_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?"
)


@dataclass(frozen=True)
class IdentitySection:
    agent_id: str = ""  # default: a UUID made on first start, kept in <state_dir>/agent_id
    state_dir: Path = field(default_factory=default_state_dir)


@dataclass(frozen=True)
class AgentConfig:
    collector: CollectorSection = field(default_factory=CollectorSection)
    spool: SpoolSection = field(default_factory=SpoolSection)
    collect: CollectSection = field(default_factory=CollectSection)
    identity: IdentitySection = field(default_factory=IdentitySection)
    redact: RedactSection = field(default_factory=RedactSection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def spool_path(self) -> Path:
        return self.spool.path or self.identity.state_dir / "spool.db"
