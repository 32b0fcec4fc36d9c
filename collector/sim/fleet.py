"""A simulated host: a capture's raw outputs, the scenario's faults on top, the real probes.

Each cycle the host asks its faults what they look like now (their state keys). When no
key changed since the last cycle, the previous snapshot is re-stamped (its encoded bytes
reused with the new time appended: protobuf keeps the last value of a repeated scalar
field) and no probe runs: a healthy host of a 1,000-host day costs a few microseconds a
cycle. When a key changed, the raw outputs are rebuilt and the agent's real probes,
parsers, derive and redaction stages run on them, as on a workstation. A re-collected
snapshot is derived again for the next cycles (rates look back over the recent samples)
until two derivations agree; then re-stamping takes over.

The host's identity (host name, machine id, address, gateway, DNS servers) is stamped on
the records after parsing: it is what makes a thousand copies of one capture a fleet, not
a fault, and editing every OS's raw formats for it would buy no coverage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import agent
from agent import eventlog
from agent.derive import Deriver
from agent.parsers import host_facts_json, kernel_log
from agent.probes import PROBES
from agent.probes.base import ProbeContext
from agent.records import (
    DnsConfig,
    Event,
    HostInventory,
    NetInterface,
    Priority,
    Route,
    Snapshot,
)
from agent.redact import RedactionPolicy, Redactor
from agent.runner import collect
from agent.sources import DirectorySource
from agent.specs import Spec
from agent.uplink.convert import encode_body, snapshot_pb, varint
from agent.uplink.spool import Spool
from collector.sim.faults import FaultKind, Files, HostView, build
from collector.sim.scenario import Scenario, SimHostSpec
from rdiag_proto.v1 import telemetry_pb2 as pb

PROBE_TIMEOUT_S = 20.0
SPOOL_BYTES = 256 * 1024 * 1024  # a simulated day of a host fits, whatever the collector does
# Wire tags (field number << 3 | wire type): Record.snapshot is length-delimited (2),
# Snapshot.taken_at_ms a varint (0).
_SNAPSHOT_TAG = bytes([pb.Record.DESCRIPTOR.fields_by_name["snapshot"].number << 3 | 2])
_TAKEN_AT_TAG = bytes([pb.Snapshot.DESCRIPTOR.fields_by_name["taken_at_ms"].number << 3 | 0])


class Capture:
    """A capture folder read once: its files, its unavailable specs, its OS."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.directory = DirectorySource(folder)
        self.os = self.directory.os
        self.unavailable = frozenset(self.directory.unavailable)
        self.files: dict[str, str] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name not in ("host.toml", "manifest.json", "FAULTS.md"):
                self.files[path.name] = path.read_bytes().decode("utf-8", errors="replace")
        self.boot_time_ms = 0
        if "host_facts" in self.files:
            try:
                self.boot_time_ms = int(
                    host_facts_json.parse(self.files["host_facts"]).boot_time_unix * 1000
                )
            except Exception:  # a capture without usable host facts: offsets count from 0
                self.boot_time_ms = 0


class OverlaySource:
    """The capture, with the faults' edited outputs in front of it."""

    def __init__(self, capture: Capture, files: Mapping[str, str]) -> None:
        self.capture = capture
        self.files = files

    @property
    def os(self) -> str:
        return self.capture.os

    def read(self, spec: Spec) -> str:
        text = self.files.get(spec.name)
        if text is not None:
            return text
        text = self.capture.files.get(spec.name)
        if text is not None and spec.name not in self.capture.unavailable:
            return text
        return self.capture.directory.read(spec)  # raises Unavailable as the capture did


def kernel_events(host: HostView, logged: Iterable[tuple[float, str]]) -> tuple[Event, ...]:
    """Kernel messages logged at run times t, as dmesg prints them (seconds since the
    capture's boot), through the agent's kernel-log parser."""
    lines = [
        f"[{max(0.0, (host.start_ms + t * 1000 - host.boot_time_ms) / 1000):12.6f}] {message}"
        for t, message in logged
    ]
    if not lines:
        return ()
    return kernel_log.parse_dmesg("\n".join(lines), host.boot_time_ms).value


def restamp(record_prefix: bytes, snapshot: bytes, taken_at_ms: int) -> bytes:
    """A spooled snapshot Record whose snapshot says taken_at_ms (appended: last one wins)."""
    stamp = _TAKEN_AT_TAG + varint(taken_at_ms)
    inner = snapshot + stamp
    return record_prefix + _SNAPSHOT_TAG + varint(len(inner)) + inner


class SimHost:
    def __init__(
        self,
        spec: SimHostSpec,
        capture: Capture,
        faults: Sequence[FaultKind],
        *,
        start_ms: int,
        spool_path: Path,
        context: ProbeContext,
    ) -> None:
        self.spec = spec
        self.capture = capture
        self.faults = tuple(faults)
        self.view = HostView(spec, capture.os, capture.boot_time_ms, start_ms)
        self.start_ms = start_ms
        self.now_ms = start_ms
        self.context = context
        self.spool = Spool(spool_path, SPOOL_BYTES, clock_ms=lambda: self.now_ms, durable=False)
        self.deriver = Deriver()
        self.redactor = Redactor(RedactionPolicy())
        self._key: tuple[Hashable, ...] | None = None
        self._collected: Snapshot | None = None  # parsed, identity stamped, not derived
        self._derived: Snapshot | None = None  # the last derived (taken_at zeroed)
        self._encoded: bytes = b""  # snapshot_pb of _derived without taken_at
        self._settled = False
        self._kernel_t = -1.0
        # Kinds that log kernel messages (only they are asked, each cycle).
        self._kernel_faults = tuple(
            f for f in self.faults if type(f).kernel is not FaultKind.kernel
        )
        self._pending: list[bytes] = []  # snapshots not yet spooled (one commit per step)
        self.collections = 0  # how often the probes ran
        self.events = 0

    @property
    def agent_id(self) -> str:
        return self.spec.agent_id

    @property
    def inventory(self) -> HostInventory | None:
        """What the last collection reported (Hello carries it), None before the first."""
        return self._collected.inventory if self._collected is not None else None

    def _files(self, t: float) -> dict[str, str]:
        files: Files = dict(self.spec.profile.files)
        if self.spec.profile.dns_servers and "dns_checks" in self.capture.files:
            files["dns_checks"] = _dns_checks_for(
                self.capture.files["dns_checks"], self.spec.profile.dns_servers
            )
        for f in self.faults:
            if f.active(t):
                f.apply(_Layer(files, self.capture.files), self.view, t)
        return dict(files)

    async def cycle(self, t: float, executor: ThreadPoolExecutor) -> None:
        """One collection at t seconds into the run: spool its events and its snapshot."""
        self.now_ms = self.start_ms + int(t * 1000)
        if self._kernel_faults:
            self._kernel_events(t)
        key = tuple(f.state(t, self.view) for f in self.faults)
        if key != self._key or self._collected is None:
            self._key = key
            collected = await collect(
                OverlaySource(self.capture, self._files(t)),
                PROBES,
                timeout_s=PROBE_TIMEOUT_S,
                clock_ms=lambda: self.now_ms,
                agent_version=agent.__version__,
                executor=executor,
                context=self.context,
            )
            self.collections += 1
            self._collected = self._identity(collected.snapshot)
            for probe, events in collected.events.items():
                self._spool_events(probe, events)
            self._settled = False
        self._spool_snapshot()

    def _spool_snapshot(self) -> None:
        assert self._collected is not None
        if not self._settled:
            snap = dataclasses.replace(self._collected, taken_at_ms=self.now_ms)
            derived = dataclasses.replace(
                self.redactor.record(self.deriver.apply(snap)), taken_at_ms=0
            )
            self._settled = derived == self._derived
            if not self._settled:
                self._derived = derived
                self._encoded = snapshot_pb(derived).SerializeToString()
        self._pending.append(restamp(_NORMAL_PREFIX, self._encoded, self.now_ms))

    def flush(self) -> None:
        """Spool the snapshots collected so far (before an event: the spool keeps order)."""
        if self._pending:
            self.spool.append_many(Priority.NORMAL, "snapshot", self._pending)
            self._pending = []

    def _spool_events(self, probe: str, events: tuple[Event, ...]) -> None:
        name = eventlog.cursor_name(probe)
        for event, cursor in eventlog.fresh(events, self.spool.cursor(name)):
            self.flush()
            body = encode_body(self.redactor.record(event), event.priority)
            self.spool.append(event.priority, "event", body, cursor=(name, cursor))
            self.events += 1

    def _kernel_events(self, t: float) -> None:
        """Kernel messages the faults logged since the last cycle, through the dmesg parser."""
        logged = [m for f in self._kernel_faults for m in f.kernel(self.view, self._kernel_t, t)]
        self._kernel_t = t
        for event in kernel_events(self.view, logged):
            self.flush()
            body = encode_body(self.redactor.record(event), event.priority)
            self.spool.append(event.priority, "event", body)
            self.events += 1

    def _identity(self, snap: Snapshot) -> Snapshot:
        spec = self.spec
        inv = snap.inventory
        if inv is not None:
            inv = dataclasses.replace(
                inv, hostname=spec.hostname, machine_id=_machine_id(spec.agent_id)
            )
        else:
            inv = HostInventory(hostname=spec.hostname, os_family=self.capture.os)
        interfaces, routes = snap.interfaces, snap.routes
        checks = snap.gateway_checks
        if spec.address:
            interfaces, routes = _readdress(snap, spec.address, spec.profile.subnet)
            # The probe checked the capture's gateway: it is the readdressed one now.
            moved = {old.gateway: new.gateway for old, new in zip(snap.routes, routes, strict=True)
                     if old.destination == "default" and old.gateway != new.gateway}  # fmt: skip
            checks = tuple(
                dataclasses.replace(c, gateway=moved[c.gateway]) if c.gateway in moved else c
                for c in checks
            )
        dns = snap.dns
        if spec.profile.dns_servers:
            dns = dataclasses.replace(dns or DnsConfig(), servers=spec.profile.dns_servers)
        return dataclasses.replace(
            snap,
            inventory=inv,
            interfaces=interfaces,
            routes=routes,
            gateway_checks=checks,
            dns=dns,
        )

    def close(self) -> None:
        self.flush()
        self.spool.close()


_NORMAL_PREFIX = pb.Record(priority=pb.Priority.ValueType(int(Priority.NORMAL))).SerializeToString()


class _Layer(dict[str, str]):
    """The files a fault edits: what earlier layers wrote, else the capture's (copied on read)."""

    def __init__(self, top: Files, base: Mapping[str, str]) -> None:
        super().__init__()
        self._top = top
        self._base = base

    def __getitem__(self, key: str) -> str:
        if key in self._top:
            return self._top[key]
        return self._base[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._top.get(key, self._base.get(key, default))

    def __contains__(self, key: object) -> bool:
        return key in self._top or key in self._base

    def __setitem__(self, key: str, value: str) -> None:
        self._top[key] = value

    def __delitem__(self, key: str) -> None:
        self._top.pop(key, None)


def _machine_id(agent_id: str) -> str:
    return hashlib.sha256(agent_id.encode()).hexdigest()[:32]


def _dns_checks_for(text: str, servers: tuple[str, ...]) -> str:
    """The captured DNS checks, asked of the profile's servers instead of the captured one."""
    try:
        data = json.loads(text)
        checks = data.get("checks", [])
    except (ValueError, AttributeError):
        return text
    names = list(dict.fromkeys(c.get("name", "") for c in checks if isinstance(c, dict)))
    template = next((c for c in checks if isinstance(c, dict) and c.get("status") == "ok"), None)
    if template is None:
        return text
    data["checks"] = [{**template, "server": s, "name": n} for s in servers for n in names]
    return json.dumps(data)


def _readdress(
    snap: Snapshot, address: str, subnet: str
) -> tuple[tuple[NetInterface, ...], tuple[Route, ...]]:
    net = ipaddress.ip_network(subnet)
    gateway = str(net.network_address + 1)
    default = next((r for r in snap.routes if r.destination == "default" and r.family == 4), None)
    if default is None:
        return snap.interfaces, snap.routes
    interfaces = tuple(
        dataclasses.replace(
            i,
            addresses=(
                f"{address}/{net.prefixlen}",
                *(a for a in i.addresses if ":" in a),
            ),
        )
        if i.name == default.interface
        else i
        for i in snap.interfaces
    )
    routes = tuple(
        dataclasses.replace(r, gateway=gateway) if r is default else r for r in snap.routes
    )
    return interfaces, routes


def make_hosts(scenario: Scenario, spool_dir: Path, start_ms: int) -> list[SimHost]:
    captures: dict[Path, Capture] = {}
    faults = [build(f) for f in scenario.faults]
    context = ProbeContext(dns_timeout=2.0)
    every = scenario.hosts()
    picked = [f.hosts.pick(every) for f in scenario.faults]
    hosts: list[SimHost] = []
    for spec in every:
        capture = captures.get(spec.profile.capture)
        if capture is None:
            capture = captures[spec.profile.capture] = Capture(spec.profile.capture)
        mine = [k for k, chosen in zip(faults, picked, strict=True) if spec in chosen]
        hosts.append(
            SimHost(
                spec, capture, mine, start_ms=start_ms,
                spool_path=spool_dir / f"{spec.agent_id}.db", context=context,
            )
        )  # fmt: skip
    return hosts
