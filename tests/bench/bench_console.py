"""The console at fleet scale (issue 7 §6): with 10,000 hosts and 50,000 tickets in the
store, every page and API list call answers in <= 300 ms of server time.

Seeding (not timed, cached): a store filled the way a collector fills it, through
`SqlStore.save_batches` in commit groups. Hosts come from the agent's real probes run on
six capture folders (tests/fixtures/hosts), re-identified per host; tickets are drafted
from the shipped rule pack's own text (`collector.tickets.render.draft` on a finding of
each rule), with evidence, repeats, clears, the hold-down's auto-resolve, reopens, people
acknowledging, assigning, commenting and resolving, a ticket storm, three fleet incidents
(their host tickets merged into one fleet ticket each) and silences; a helpdesk sink is
registered, so every ticket operation has its delivery row. 200 hosts get the last day of
snapshots at 5-minute spacing (volumes filling, SMART counters growing, latency spikes,
interface errors, a reboot) and events. The write path costs ~7 ms per new ticket on this
machine, so 50,000 of them would take six minutes: only the recent week (5,000 tickets)
and one block of older history (3,000, all closed out) are written that way, and the
older history is that block copied into the earlier weeks (hosts moved within their
profile, times shifted, every note, file, outbox operation and delivery with it), as the
store would hold them. `--real-tickets N` moves the split (N >= --tickets: no copies).
Operations older than ten minutes are then marked delivered (with the helpdesk's ticket
link) as the outbox would have left them, and the newest go through the real outbox to
an in-process helpdesk. Telemetry past the default 30-day retention is purged.

The seeded database is cached under $TMPDIR/rdiag-bench-console/ by seed version and
scale (reseeded after two days: the host page shows the last week); each run works on a
copy of it, where every host but a few "stale" ones sends a heartbeat now, a viewer user
and an API token are added, and a real `rdiag-collector serve --console 127.0.0.1:0`
starts. Every page (logged in through the login form) and every API list (bearer token)
is asked twice to warm up, then N times round-robin; the figure is the server's own
measure, the `Server-Timing: app;dur=` header. The machine is shared: other work on it
moves the figures, which is why p95 and not max is judged.

    .venv/bin/python -m tests.bench.bench_console [--hosts N] [--tickets N] [--repeat N]
        [--real-tickets N] [--snapshot-hosts N] [--fresh] [--keep DIR] [--postgres-url URL]
    .venv/bin/python -m tests.bench --only console
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import hashlib
import json
import math
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Text, cast, create_engine, func, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

import agent
from agent.probes import PROBES
from agent.records import AgentStats, Event, HostInventory, Priority, Severity
from agent.runner import collect
from agent.sources import DirectorySource
from agent.uplink.convert import encode_body, record_bytes, snapshot_pb
from collector.engine import template
from collector.engine.history import HistoryDelta, RuleState, StoredEvent, event_key
from collector.engine.load import default_rules_dir, load_rules
from collector.engine.model import Change, Finding, IncidentUpdate, OnClear, Rule
from collector.store import (
    IncomingBatch,
    RecordKind,
    Resolution,
    SqlStore,
    StoredRecord,
    TicketDraft,
    TicketError,
    open_store,
)
from collector.store import sql as sql_module
from collector.store.schema import (
    deliveries,
    rule_states,
    ticket_files,
    ticket_notes,
    ticket_ops,
    ticket_refs,
    tickets,
)
from collector.tickets import render
from collector.tickets.outbox import Outbox
from collector.tickets.policy import TicketPolicy
from collector.tickets.sinks.base import Attachment, DeliveryError, Outgoing, Ref
from collector.web.auth import digest, hash_password
from rdiag_proto.v1 import telemetry_pb2 as pb
from tests.bench.report import ROOT, BenchError, Outcome, Row, judged, table
from tests.helpers.procs import start_collector

NAME = "console"
TARGET_MS = 300.0
SEED_VERSION = 2
CACHE_DIR = Path(tempfile.gettempdir()) / "rdiag-bench-console"

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
CACHE_MAX_AGE_MS = 2 * DAY
SLOT_MS = 10 * MINUTE  # one commit group per 10 simulated minutes
GROUP = 400  # batches per save_batches at most
RECENT_MS = 7 * DAY
HISTORY_MS = 83 * DAY  # before the recent week: ~90 days of tickets in all
RETENTION_MS = 30 * DAY  # the collector's default [store] retention
SNAPSHOT_EVERY_MS = 5 * MINUTE
SINK = "helpdesk"
HELPDESK_URL = "https://helpdesk.example.com/ticket/"
PEOPLE = ("alice", "bogdan", "chen", "dana", "emil", "fatou", "goran", "hana")
SITES = ("lyon", "paris", "berlin", "madrid", "milan", "lisbon", "warsaw", "prague", "vienna",
         "oslo", "dublin", "brussels")  # fmt: skip
PASSWORD = "bench console password"
TOKEN = "rdiag_bench_console_token_0123456789"
STALE_SHARE = 0.03  # hosts that do not send the heartbeat: "not seen recently"

# Capture folders and their share of the fleet: mostly Linux and Windows desktops.
PROFILES: tuple[tuple[str, int], ...] = (
    ("sim-linux-healthy", 28), ("sim-linux-laptop-faults", 14), ("linux-debian12-vm", 8),
    ("sim-linux-smart-failed", 4), ("sim-windows10-de-desktop", 34), ("sim-macos14-macbook", 12),
)  # fmt: skip
VENDORS = {
    "linux": ("LENOVO ThinkPad T14 Gen 3", "Dell Inc. Latitude 7420", "HP EliteBook 840 G8",
              "LENOVO ThinkCentre M70q"),
    "windows": ("FUJITSU ESPRIMO P758", "Dell Inc. OptiPlex 7090", "HP EliteDesk 800 G6",
                "LENOVO ThinkPad X1 Carbon Gen 9"),
    "darwin": ("Apple Inc. MacBook Air (Mac14,2)", "Apple Inc. MacBook Pro (Mac15,3)"),
}  # fmt: skip

# How often each rule fires across a fleet (transient network and volume findings most,
# hardware least); rules missing from the pack are skipped.
RULE_WEIGHTS: dict[str, float] = {
    "disk.volume_nearly_full": 14, "disk.volume_fills_within_24h": 4,
    "network.wifi_weak_signal": 9, "network.dns_timeouts": 7, "network.gateway_unreachable": 5,
    "network.link_flapping": 3, "network.dhcp_failed": 3, "network.time_not_synchronising": 3,
    "network.interface_errors": 3, "network.link_speed_degraded": 2, "network.ip_conflict": 1,
    "network.time_clock_skew": 1, "disk.inodes_nearly_exhausted": 1,
    "boot.unclean_shutdown": 6, "boot.service_failed": 5, "boot.systemd_unit_failed": 4,
    "boot.slow_boot": 3, "boot.oom_kills": 3, "boot.kernel_oops": 1, "boot.bugcheck": 2,
    "boot.kernel_panic": 1, "boot.service_crash_loop": 1,
    "disk.smart_reallocated_sectors": 3, "disk.smart_pending_sectors": 2,
    "disk.smart_health_failed": 1, "disk.io_errors": 2, "disk.io_latency_high": 3,
    "disk.fs_errors": 1, "disk.smart_temperature_high": 2, "disk.nvme_critical_warning": 0.5,
    "drivers.display_tdr": 3, "drivers.usb_errors": 2, "drivers.thermal_throttling": 3,
    "drivers.driver_load_failed": 1, "drivers.pcie_aer_errors": 1,
    "drivers.memory_corrected_errors": 1, "drivers.firmware_missing": 1,
    "drivers.hardware_error_fatal": 0.3,
}  # fmt: skip

# (rule, shared attribute, hosts, which OS): fleet incidents of the recent week.
INCIDENTS: tuple[tuple[str, str, int, str], ...] = (
    ("cross.fleet_dns_outage", "10.27.0.53", 350, ""),
    ("drivers.module_signature_rejected", "6.1.0-18-amd64", 120, "linux"),
    ("cross.fleet_driver_regression", "nvlddmkm", 60, "windows"),
)
STORM_RULE, STORM_HOSTS = "network.gateway_unreachable", 80


@dataclass(frozen=True, slots=True)
class Scale:
    hosts: int = 10_000
    tickets: int = 50_000
    real_tickets: int = 8_000  # through save_batches; the rest copies of older history
    open_tickets: int = 3_000
    snapshot_hosts: int = 200
    seed: int = 7

    def key(self) -> str:
        """Names the cached store: seed version, scale, and the schema's migrations (an
        index added to a migration must not be measured against a store without it)."""
        return (f"v{SEED_VERSION}-{schema_tag()}-{self.hosts}h-{self.tickets}t-"
                f"{self.real_tickets}r-{self.open_tickets}o-{self.snapshot_hosts}s-"
                f"{self.seed}")  # fmt: skip

    @property
    def recent(self) -> int:
        """Tickets of the recent week, written through the write path."""
        return min(self.tickets, max(self.open_tickets + 500, self.real_tickets * 5 // 8))

    @property
    def history(self) -> int:
        """The block of older history written through the write path (and copied)."""
        return max(0, min(self.real_tickets, self.tickets) - self.recent)


def schema_tag() -> str:
    folder = Path(sql_module.__file__).parent / "migrations" / "versions"
    digest_ = hashlib.sha256()
    for f in sorted(folder.glob("*.py")):
        digest_.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest_.hexdigest()[:8]


class SimClock:
    """The store's clock while seeding: simulated time, moved by the seeder."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


# -- hosts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    os: str
    inventory: HostInventory
    record: pb.Record  # the capture's snapshot as the agent encodes it: every host's base


@dataclass(frozen=True, slots=True)
class SimHost:
    index: int
    agent_id: str
    hostname: str
    site: str
    profile: int
    inventory: HostInventory

    @property
    def os(self) -> str:
        return self.inventory.os_family


def load_profiles() -> list[Profile]:
    """Each capture folder through the agent's real probes, once."""
    out = []
    for name, _ in PROFILES:
        folder = ROOT / "tests" / "fixtures" / "hosts" / name
        got = asyncio.run(collect(DirectorySource(folder), PROBES, timeout_s=20,
                                  clock_ms=lambda: 0, agent_version=agent.__version__))  # fmt: skip
        snap = got.snapshot
        inv = snap.inventory or HostInventory(hostname=name, os_family=DirectorySource(folder).os)
        rec = pb.Record(priority=pb.Priority.ValueType(int(Priority.NORMAL)))
        rec.snapshot.CopyFrom(snapshot_pb(dataclasses.replace(snap, inventory=inv)))
        out.append(Profile(name, inv.os_family, inv, rec))
    return out


def make_hosts(n: int, profiles: Sequence[Profile], rng: random.Random) -> list[SimHost]:
    weights = [w for _, w in PROFILES]
    kinds = {"linux": "lx", "windows": "pc", "darwin": "mac"}
    hosts = []
    for i in range(n):
        p = rng.choices(range(len(profiles)), weights)[0]
        prof = profiles[p]
        site = SITES[rng.randrange(len(SITES))]
        hostname = f"{kinds.get(prof.os, 'h')}-{site}-{i:05d}"
        agent_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        inv = dataclasses.replace(
            prof.inventory, hostname=hostname, machine_id=uuid.uuid5(uuid.NAMESPACE_DNS,
            hostname).hex, vendor=rng.choice(VENDORS.get(prof.os, ("",))),
        )  # fmt: skip
        hosts.append(SimHost(i, agent_id, hostname, site, p, inv))
    return hosts


def moved_index(hosts: Sequence[SimHost], buckets: dict[int, list[int]], r: int, i: int) -> int:
    """Copy r's host for history host i: another host of the same profile (a bijection
    within the profile, so a copied ticket stays on the kind of machine it was about)."""
    bucket = buckets[hosts[i].profile]  # ascending host indices
    return bucket[(bisect.bisect_left(bucket, i) + r * 7919) % len(bucket)]


# -- records, as the agent sends them ------------------------------------------------

Part = tuple[RecordKind, int, Callable[[int], bytes]]  # kind, observed at, payload of seq


def snapshot_part(host: SimHost, prof: Profile, t_ms: int,
                  vary: Callable[[pb.Snapshot], None] | None = None) -> Part:  # fmt: skip
    def payload(seq: int) -> bytes:
        rec = pb.Record()
        rec.CopyFrom(prof.record)
        rec.seq = seq
        s = rec.snapshot
        s.taken_at_ms = t_ms
        s.inventory.hostname = host.hostname
        s.inventory.machine_id = host.inventory.machine_id
        s.inventory.vendor = host.inventory.vendor
        if vary is not None:
            vary(s)
        return bytes(rec.SerializeToString())

    return RecordKind.SNAPSHOT, t_ms, payload


def event_part(ev: Event) -> Part:
    body = encode_body(ev, ev.priority)
    return RecordKind.EVENT, ev.time_ms, lambda seq: record_bytes(seq, body)


def stats_part(st: AgentStats) -> Part:
    body = encode_body(st, Priority.NORMAL)
    return RecordKind.STATS, st.time_ms, lambda seq: record_bytes(seq, body)


class Streams:
    """Each host's one spool epoch and its next sequence number."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}

    def batch(
        self, host: SimHost, received_ms: int, parts: Sequence[Part], *,
        inventory: bool = False, stats_ms: int = 0, draft: TicketDraft | None = None,
        history: HistoryDelta | None = None, incidents: tuple[IncidentUpdate, ...] = (),
    ) -> IncomingBatch:  # fmt: skip
        stats = None
        if stats_ms:
            stats = AgentStats(stats_ms, spool_records=0, spool_bytes=0)
            parts = [*parts, stats_part(stats)]
        first = self.seq.get(host.agent_id, 0) + 1
        records = tuple(StoredRecord(first + k, kind, at, make(first + k))
                        for k, (kind, at, make) in enumerate(parts))  # fmt: skip
        self.seq[host.agent_id] = first + len(records) - 1
        return IncomingBatch(
            host.agent_id, f"epoch-{host.agent_id[:8]}", first, first + len(records) - 1,
            records, received_ms, inventory=host.inventory if inventory else None,
            stats=stats, findings=((first, draft),) if draft is not None else (),
            history=(history,) if history is not None else (), incidents=incidents,
        )  # fmt: skip


# -- findings and their tickets, from the rule pack's own text -----------------------


class Fact:
    """A subject's fact for a rule's templates: text, or a number where a format asks."""

    __slots__ = ("number", "numeric", "text")

    def __init__(self, text: str, number: float, numeric: bool) -> None:
        self.text, self.number, self.numeric = text, number, numeric

    def __format__(self, spec: str) -> str:
        kind = spec[-1:]
        if kind and kind in "dxXobcn":
            return format(int(self.number), spec)
        if kind and kind in "eEfFgG%":
            return format(float(self.number), spec)
        return format(self.text, spec)

    def __str__(self) -> str:
        return self.text

    def plain(self) -> str | float:
        return self.number if self.numeric else self.text


TEXTS: dict[str, tuple[str, ...]] = {
    "model": ("Samsung SSD 870 EVO 500GB", "WDC WD10EZEX-08WN4A0", "KINGSTON SA400S37240G",
              "SAMSUNG MZVL2512HCJQ-00B00", "Micron 2450 NVMe 512GB"),
    "firmware": ("SVT02B6Q", "01.01A01", "SBFKB1B4", "22301900"),
    "driver": ("nvlddmkm", "igfxn", "iwlwifi", "e1000e", "amdgpu", "rtw89_pci", "Netwtw10"),
    "driver_version": ("31.0.15.3699", "27.20.100.9316", "6.1.0-18"),
    "service": ("Spooler", "wuauserv", "BITS", "cups", "sshd", "NetworkManager", "WinDefend"),
    "stop_code": ("0x0000009f", "0x00000124", "0x000000d1", "0x0000007e", "0x00000133"),
    "title": ("Kernel panic - not syncing: Fatal exception", "BUG: unable to handle page fault",
              "general protection fault"),
    "server": ("10.27.0.53", "10.27.0.54", "192.168.10.1"),
    "dns_server": ("10.27.0.53", "10.27.0.54"),
    "gateway": ("10.27.14.1", "10.31.0.1", "192.168.1.1"),
    "default_gateway": ("10.27.14.1", "10.31.0.1"),
    "address": ("10.27.14.37", "10.31.2.118", "192.168.1.23"),
    "mac": ("3c:52:82:1f:9a:0e", "f8:75:a4:02:11:7c", "a4:bb:6d:44:90:12"),
    "interface": ("wlan0", "eth0", "enp0s31f6", "Wi-Fi", "Ethernet"),
    "name": ("wlan0", "eth0", "enp0s31f6", "md0"),
    "wifi_ssid": ("corp-wifi", "corp-guest"),
    "source": ("kernel", "journal", "System"),
    "id": ("0000:00:1f.3", "0000:01:00.0", "USB\\VID_046D&PID_C52B"),
    "bus": ("pci", "usb"), "bus_id": ("0000:01:00.0",),
    "problem": ("the driver failed to start", "a required device is missing"),
    "module": ("nvidia", "vboxdrv", "zfs"), "fs": ("ext4", "xfs", "NTFS"),
    "fstype": ("ext4", "xfs", "NTFS", "apfs"), "event_id": ("41", "7034", "4101", "6008"),
    "path": ("/var/crash/_usr_bin_gnome-shell.1000.crash", "C:\\Windows\\MEMORY.DMP"),
    "duplex": ("half",), "health": ("FAILED",), "state": ("degraded",), "kind": ("oops",),
    "level": ("critical",), "scope": ("system",), "system_state": ("degraded",),
    "sync_action": ("recovery",), "oper_state": ("down",), "protocol": ("ATA", "NVMe"),
    "method": ("arp", "ping"), "action": ("rebuild",), "update": ("KB5034441",),
    "process": ("chrome", "java", "teams"), "command": ("READ FPDMA QUEUED",),
}  # fmt: skip
MOUNTS = {"linux": ("/", "/home", "/var"), "windows": ("C:", "D:"),
          "darwin": ("/", "/System/Volumes/Data")}  # fmt: skip
DEVICES = {"linux": ("sda", "nvme0n1", "sdb"), "windows": ("PhysicalDisk0", "PhysicalDisk1"),
           "darwin": ("disk0",)}  # fmt: skip
NUMBERS: dict[str, tuple[float, float]] = {
    "used_pct": (92, 99.5), "inodes_used_pct": (95, 99.9), "temperature_c": (58, 71),
    "reallocated_sectors": (8, 400), "pending_sectors": (1, 64), "power_on_hours": (3000, 41000),
    "wifi_signal_dbm": (-84, -75), "speed_mbps": (10, 100), "read_await_ms": (80, 900),
    "write_await_ms": (80, 1200), "util_pct": (90, 100), "boot_duration_s": (95, 420),
    "seconds_to_full": (3600, 80000), "growth_bytes_per_hour": (2e8, 4e9),
    "offset_ms": (2500, 90000), "sync_progress_pct": (3, 80), "queue_depth": (8, 64),
}  # fmt: skip
_NUMERIC = re.compile(r"(_pct|_ms|_s|_c|_bytes|_count|_hours|_dbm|_mbps|_total|_free|sectors|"
                      r"errors|timeout|spare|warning|status|code|uncorrect|uncorrectable|changes|threshold|"
                      r"taint|used|dropped|pid|qid|xid|port|csts|sector|active)$")  # fmt: skip
HOST_FIELDS = ("hostname", "os_name", "os_version", "kernel", "arch", "vendor", "cpu_model",
               "memory_bytes", "machine_id", "agent_version")  # fmt: skip
SUBJECT_KEYS = {"volume": "mount", "smart": "device", "disk_io": "device",
                "interface": "name", "gateway": "gateway", "device": "id", "raid": "name",
                "dns_check": "server"}  # fmt: skip


def fact(name: str, host: SimHost, rng: random.Random) -> Fact:
    if name == "mount":
        return Fact(rng.choice(MOUNTS.get(host.os, ("/",))), 0, False)
    if name == "device":
        return Fact(rng.choice(DEVICES.get(host.os, ("sda",))), 0, False)
    if name in TEXTS:
        return Fact(rng.choice(TEXTS[name]), 0, False)
    if name == "serial":
        return Fact(f"S{rng.randrange(10**9):09d}", 0, False)
    if name.endswith("_human"):
        return Fact(f"{rng.uniform(0.2, 400):.1f} GiB", 0, False)
    if name in NUMBERS or _NUMERIC.search(name):
        lo, hi = NUMBERS.get(name, (1, 500))
        value = round(rng.uniform(lo, hi), 1) if name in NUMBERS else rng.randint(1, 500)
        return Fact(f"{value:g}", value, True)
    return Fact(f"{name.replace('_', '-')}-{rng.randint(1, 9)}", rng.randint(1, 9), False)


_FIELDS: dict[str, tuple[str, ...]] = {}


def rule_fields(rule: Rule) -> tuple[str, ...]:
    known = _FIELDS.get(rule.id)
    if known is None:
        t = rule.ticket
        texts = [t.summary, t.symptoms, t.cause, rule.component,
                 *(s for steps in t.remediation.values() for s in steps)]  # fmt: skip
        if rule.fleet is not None:
            texts.append(rule.fleet.summary)
        names = dict.fromkeys([*(n for x in texts for n in template.fields_of(x)),
                               *rule.evidence.fields])  # fmt: skip
        known = _FIELDS[rule.id] = tuple(names)
    return known


def host_facts(host: SimHost) -> dict[str, Any]:
    inv = host.inventory
    out: dict[str, Any] = {k: getattr(inv, k) for k in HOST_FIELDS}
    site = SITES.index(host.site) if host.site in SITES else 0
    out.update(site=host.site, subnet=f"10.{20 + site}.0.0/16")
    return out


def make_draft(rule: Rule, host: SimHost, rng: random.Random, t_ms: int,
               overrides: dict[str, str] | None = None) -> TicketDraft:  # fmt: skip
    facts = host_facts(host)
    for name in rule_fields(rule):
        if name not in facts:
            facts[name] = fact(name, host, rng)
    facts.update(overrides or {})  # plain text: a host fact (kernel) lands in the JSON
    if rule.component:
        component = template.render(rule.component, facts)
    elif rule.subject in SUBJECT_KEYS:
        key = SUBJECT_KEYS[rule.subject]
        component = str(facts.get(key) or fact(key, host, rng))
    else:
        component = ""
    finding = Finding(rule=rule, agent_id=host.agent_id, component=component,
                      change=Change.OPENED, facts=facts, observed_at_ms=t_ms,
                      evidence=evidence(rule, facts, rng, t_ms))  # fmt: skip
    return render.draft(finding)


def evidence(rule: Rule, facts: dict[str, Any], rng: random.Random, t_ms: int) -> dict[str, Any]:
    """What the engine attaches (evaluate._evidence): values, a timeline, log lines."""
    shown = [n for n in rule_fields(rule) if isinstance(facts.get(n), Fact)][:8]
    values = {n: facts[n].plain() for n in shown}
    out: dict[str, Any] = {"values": values, "condition": rule.when.source}
    if rule.evidence.series and rule.subject not in ("event", "host"):
        out["series"] = {}
        for name in rule.evidence.series:
            v = values.get(name)
            end = float(v) if isinstance(v, int | float) and v else rng.uniform(1, 100)
            out["series"][name] = [[t_ms - (19 - k) * 15 * MINUTE, round(end * (0.8 + k / 95), 2)]
                                   for k in range(20)]  # fmt: skip
    patterns = [*rule.evidence.events, *(rule.match if rule.subject == "event" else ())]
    kinds = [p for p in patterns if "*" not in p and "|" not in p]
    if kinds:
        device = str(facts.get("device") or facts.get("driver") or "")
        out["events"] = [
            {"time_ms": t_ms - k * rng.randint(1, 40) * MINUTE, "kind": kind,
             "severity": "error" if k == 0 else "warning", "fields": {},
             "message": f"{kind.split('.')[-1].replace('_', ' ')} {device}".strip()}
            for k, kind in enumerate(rng.choices(kinds, k=rng.randint(1, 5)))
        ][::-1]  # fmt: skip
    return out


def trigger_part(rule: Rule, host: SimHost, prof: Profile, draft: TicketDraft, t_ms: int) -> Part:
    """The record a finding came from: its event, or the host's snapshot."""
    events = draft.evidence.get("events") or []
    if rule.subject == "event" and events:
        e = events[-1]
        ev = Event(t_ms, "kernel" if host.os == "linux" else "System", str(e["kind"]),
                   Severity.ERROR, str(e["message"]))  # fmt: skip
        return event_part(ev)
    return snapshot_part(host, prof, t_ms)


# -- the plan: what happens to each ticket, when --------------------------------------


@dataclass
class Occ:
    """One problem on one host becoming a ticket, and what the seeder knows of it."""

    host: SimHost
    rule: Rule
    draft: TicketDraft
    ticket_id: int = 0
    lookup: str = ""  # fleet:<rule> | storm: a ticket the store makes, found after the fact
    opened: int = 0
    fires: int = 0


@dataclass(frozen=True, slots=True)
class Action:
    t: int
    kind: str  # fire | clear | incident | ack | assign | comment | resolve | release | tick
    occ: int = -1
    arg: Any = None


BATCH_KINDS = frozenset({"fire", "clear", "incident"})


@dataclass
class Plan:
    occs: list[Occ] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, occ: Occ) -> int:
        self.occs.append(occ)
        self.keys.add(occ.draft.dedup_key)
        return len(self.occs) - 1

    def at(self, t: int, kind: str, occ: int = -1, arg: Any = None) -> None:
        self.actions.append(Action(t, kind, occ, arg))


def _span(rng: random.Random, lo: int, hi: int) -> int:
    """A duration between lo and hi, log-uniform: most short, some long."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def plan_ticket(plan: Plan, i: int, fire: int, end: int, fate: str, rng: random.Random,
                policy: TicketPolicy) -> None:  # fmt: skip
    """fate: open (still open at the end), resolved (auto or by a person)."""
    rule = plan.occs[i].rule
    auto = rule.on_clear == OnClear.RESOLVE
    plan.at(fire, "fire", i)
    last = fire
    margin = end - SLOT_MS * 2
    if fate == "open":
        for _ in range(rng.randint(0, 4)):
            t = last + _span(rng, 20 * MINUTE, 12 * HOUR)
            if t < margin:
                plan.at(t, "fire", i)
                last = t
        if not auto and rng.random() < 0.3 and last + HOUR < margin:
            plan.at(last + _span(rng, 20 * MINUTE, 6 * HOUR), "clear", i)
        _people(plan, i, fire, margin, rng, ack=0.45, assign=0.3, comment=0.1)
        return
    if auto:
        clear = fire + _span(rng, 15 * MINUTE, 14 * HOUR)
        clear = min(clear, margin - policy.hold_down_ms - 2 * SLOT_MS)
        for _ in range(rng.randint(0, 3)):
            t = fire + rng.randint(1, max(2, clear - fire - 1))
            plan.at(t, "fire", i)
        plan.at(clear, "clear", i)
        resolved = clear + policy.hold_down_ms + SLOT_MS
        plan.at(resolved, "tick")
        if rng.random() < 0.06:
            _people(plan, i, fire, clear, rng, ack=1, assign=0, comment=0.3)
        # A recurrence within the reopen window: the same ticket comes back.
        back = resolved + _span(rng, 2 * HOUR, 3 * DAY)
        if rng.random() < 0.04 and back + 4 * HOUR < margin:
            plan.at(back, "fire", i)
            again = back + _span(rng, 15 * MINUTE, 3 * HOUR)
            plan.at(again, "clear", i)
            plan.at(again + policy.hold_down_ms + SLOT_MS, "tick")
        return
    # A hardware or boot finding: a person confirms the fix.
    cleared = fire + _span(rng, 30 * MINUTE, 2 * DAY) if rng.random() < 0.6 else 0
    cleared = min(cleared, margin - 4 * SLOT_MS)
    done = max(cleared, fire) + _span(rng, 40 * MINUTE, 3 * DAY)
    done = min(done, margin - SLOT_MS)
    quiet = min(cleared or done, done) - SLOT_MS  # repeats stop before it clears or is fixed
    for _ in range(rng.randint(0, 2)):
        if quiet - fire > SLOT_MS:
            plan.at(fire + rng.randint(1, quiet - fire), "fire", i)
    if cleared:
        plan.at(cleared, "clear", i)
    _people(plan, i, fire, done, rng, ack=0.6, assign=0.3, comment=0.15)
    how = rng.choices(("fixed", "wont_fix", "duplicate"), (93, 4, 3))[0]
    plan.at(done, "resolve", i, how)


def _people(plan: Plan, i: int, fire: int, before: int, rng: random.Random, *,
            ack: float, assign: float, comment: float) -> None:  # fmt: skip
    first = fire + 2 * SLOT_MS
    if before - first < SLOT_MS:
        return
    who = rng.choice(PEOPLE)
    t = first + _span(rng, MINUTE, max(2 * MINUTE, before - first))
    if rng.random() < ack and t < before:
        plan.at(t, "ack", i, who)
    if rng.random() < assign and t + SLOT_MS < before:
        plan.at(t + SLOT_MS, "assign", i, (rng.choice(PEOPLE), who))
    if rng.random() < comment and t + 2 * SLOT_MS < before:
        plan.at(
            t + 2 * SLOT_MS,
            "comment",
            i,
            (who, "Called the user; they will keep the laptop on the dock tonight."),
        )


class Picker:
    """Rules by weight, hosts by OS; a fifth of the fleet has most of the trouble."""

    def __init__(self, rules: dict[str, Rule], hosts: Sequence[SimHost],
                 rng: random.Random) -> None:  # fmt: skip
        self.rng = rng
        self.rules = [rules[r] for r in RULE_WEIGHTS if r in rules]
        if len(self.rules) < 5:
            self.rules = [r for r in rules.values() if r.fleet is None]
        self.weights = [RULE_WEIGHTS.get(r.id, 1.0) for r in self.rules]
        self.by_os: dict[str, list[SimHost]] = {}
        for h in hosts:
            self.by_os.setdefault(h.os, []).append(h)
        self.hot = {os_: xs[: max(1, len(xs) // 5)] for os_, xs in self.by_os.items()}

    def pick(self) -> tuple[Rule, SimHost]:
        while True:
            rule = self.rng.choices(self.rules, self.weights)[0]
            systems = [o for o in rule.os if o in self.by_os] or list(self.by_os)
            os_ = self.rng.choices(systems, [len(self.by_os[o]) for o in systems])[0]
            pool = self.hot[os_] if self.rng.random() < 0.6 else self.by_os[os_]
            return rule, self.rng.choice(pool)


def plan_block(plan: Plan, picker: Picker, profiles: Sequence[Profile], n: int, n_open: int,
               start: int, end: int, rng: random.Random, policy: TicketPolicy) -> None:  # fmt: skip
    for k in range(n):
        fate = "open" if k < n_open else "resolved"
        for _ in range(20):
            rule, host = picker.pick()
            if fate == "open":
                # Half opened in the last two days, half waiting longer (the L2 backlog).
                lo = end - 2 * DAY if rng.random() < 0.5 else start
                fire = rng.randint(max(start, lo), end - 3 * SLOT_MS)
            else:
                fire = rng.randint(start, end - 6 * HOUR)
            draft = make_draft(rule, host, rng, fire)
            if draft.dedup_key not in plan.keys:
                break
        i = plan.add(Occ(host, rule, draft))
        plan_ticket(plan, i, fire, end, fate, rng, policy)


def plan_incidents(plan: Plan, rules: dict[str, Rule], hosts: Sequence[SimHost],
                   start: int, end: int, rng: random.Random) -> None:  # fmt: skip
    """Each: four hosts' own tickets, then the fifth makes the incident (and merges them);
    it grows over two hours to all its hosts; a person acknowledges the fleet ticket."""
    for n, (rule_id, group, size, os_) in enumerate(INCIDENTS):
        rule = rules.get(rule_id)
        if rule is None or rule.fleet is None:
            continue
        pool = [h for h in hosts if (h.os == os_ if os_ else True) and h.os in rule.os]
        if len(pool) < 6:
            continue
        members = rng.sample(pool, min(size, len(pool)))
        key = template.fields_of(rule.fleet.group_by)[0]
        t0 = start + (n + 1) * (end - start) // (len(INCIDENTS) + 2)
        for j, host in enumerate(members[:4]):
            draft = make_draft(rule, host, rng, t0 + j * 3 * MINUTE, {key: group})
            i = plan.add(Occ(host, rule, draft))
            plan.at(t0 + j * 3 * MINUTE, "fire", i)
        steps = [(20 * MINUTE, 5), (45 * MINUTE, max(6, len(members) // 6)),
                 (2 * HOUR, len(members))]  # fmt: skip
        done = 4
        for dt, upto in steps:
            if upto > done:
                step = (rule, group, members, done, upto, t0 + 20 * MINUTE)
                plan.at(t0 + dt, "incident", -1, step)
                done = upto
        fleet = plan.add(Occ(members[0], rule, plan.occs[-1].draft, lookup=f"fleet:{rule.id}"))
        who = rng.choice(PEOPLE)
        plan.at(t0 + 3 * HOUR, "ack", fleet, who)
        plan.at(
            t0 + 3 * HOUR + SLOT_MS,
            "comment",
            fleet,
            (who, f"Network team and vendor informed; {len(members)} hosts affected."),
        )


def plan_storm(plan: Plan, rules: dict[str, Rule], hosts: Sequence[SimHost], t: int,
               rng: random.Random, policy: TicketPolicy) -> None:  # fmt: skip
    """A site's switch reboots: more hosts than the breaker allows open at once."""
    rule = rules.get(STORM_RULE)
    if rule is None:
        return
    site = rng.choice(SITES)
    pool = [h for h in hosts if h.site == site] or list(hosts)
    for host in rng.sample(pool, min(STORM_HOSTS, len(pool))):
        draft = make_draft(rule, host, rng, t + rng.randint(0, 50_000))
        if draft.dedup_key in plan.keys:
            continue
        i = plan.add(Occ(host, rule, draft))
        plan.at(t, "fire", i)
        plan.at(t + 40 * MINUTE, "clear", i)
    plan.at(t + 40 * MINUTE + policy.hold_down_ms + SLOT_MS, "tick")
    storm = plan.add(Occ(pool[0], rule, plan.occs[-1].draft, lookup="storm"))
    who = rng.choice(PEOPLE)
    plan.at(t + 2 * SLOT_MS, "ack", storm, who)
    plan.at(t + 3 * SLOT_MS, "release", storm, who)
    plan.at(t + 3 * HOUR, "resolve", storm, "fixed")


# -- running a plan through the write path --------------------------------------------


@dataclass
class Seeder:
    store: SqlStore
    clock: SimClock
    profiles: Sequence[Profile]
    hosts: Sequence[SimHost]
    rng: random.Random
    streams: Streams = field(default_factory=Streams)
    rule_events: bool = True  # the engine's event history (only the recent week keeps it)
    states: dict[tuple[str, str, str], RuleState] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def save(self, batches: list[tuple[IncomingBatch, int]]) -> None:
        for k in range(0, len(batches), GROUP):
            chunk = batches[k : k + GROUP]
            results = self.store.save_batches([b for b, _ in chunk])
            for (_, occ), res in zip(chunk, results, strict=True):
                if occ >= 0 and res.tickets_opened:
                    self.plan.occs[occ].ticket_id = res.tickets_opened[0]
            self.counts["batches"] = self.counts.get("batches", 0) + len(chunk)
            opened = sum(len(r.tickets_opened) for r in results)
            self.counts["opened"] = self.counts.get("opened", 0) + opened
            if self.counts["opened"] >= 300 and not self.counts.get("analyzed"):
                self.analyze()

    def analyze(self) -> None:
        """PostgreSQL: the planner statistics autovacuum would have gathered by now. The
        copied history is one bulk transaction autovacuum has not seen yet; without them
        the outbox's reads of a ticket's operations hash-join every delivery row. (SQLite
        keeps no statistics unless asked, as a collector's database has none.)"""
        if not self.url.startswith("postgresql"):
            return
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
        finally:
            engine.dispose()
        self.counts["analyzed"] = self.counts.get("analyzed", 0) + 1

    plan: Plan = field(default_factory=Plan)

    def run(self, plan: Plan) -> None:
        self.plan = plan
        actions = sorted(plan.actions, key=lambda a: (a.t, a.kind not in BATCH_KINDS))
        k = 0
        while k < len(actions):
            slot = actions[k].t // SLOT_MS
            j = k
            while j < len(actions) and actions[j].t // SLOT_MS == slot:
                j += 1
            self.clock.now = max(self.clock.now, (slot + 1) * SLOT_MS)
            batches: list[tuple[IncomingBatch, int]] = []
            later: list[Action] = []
            for a in actions[k:j]:
                if a.kind in BATCH_KINDS:
                    batches += self.batches_of(a)
                else:
                    later.append(a)
            if batches:
                self.save(batches)
            ticks = [a for a in later if a.kind == "tick"]
            for a in later:
                if a.kind != "tick":
                    self.act(a)
            if ticks:  # the hold-down's auto-resolve, as the outbox worker's tick does it
                self.store.tick()
            k = j

    def state(self, occ: Occ, t: int, phase: str, held: str = "") -> HistoryDelta:
        key = (occ.host.agent_id, occ.rule.id, occ.draft.component)
        old = self.states.get(key)
        fire = phase == "active"
        st = RuleState(
            occ.rule.id, occ.draft.component, phase=phase, streak=1, since_ms=t,
            last_eval_ms=t, opened_ms=old.opened_ms if old and old.phase == "active" else t,
            last_fire_ms=t if fire else (old.last_fire_ms if old else t),
            cleared_ms=0 if fire else t, occurrences=(old.occurrences if old else 0) + fire,
            held=held, summary=occ.draft.summary,
        )  # fmt: skip
        self.states[key] = st
        delta = HistoryDelta(occ.host.agent_id, states={(occ.rule.id, occ.draft.component): st})
        if fire and self.rule_events and occ.rule.subject == "event":
            for e in occ.draft.evidence.get("events") or []:
                k = event_key(int(e["time_ms"]), str(e["kind"]), str(e["message"]), {})
                delta.events_added.append(StoredEvent(
                    k, int(e["time_ms"]), str(e["kind"]), str(e["severity"]),
                    str(e["message"]), {}))  # fmt: skip
        return delta

    def batches_of(self, a: Action) -> list[tuple[IncomingBatch, int]]:
        if a.kind == "incident":
            return self.incident(a)
        occ = self.plan.occs[a.occ]
        prof = self.profiles[occ.host.profile]
        if a.kind == "fire":
            occ.fires += 1
            draft = dataclasses.replace(occ.draft, observed_at_ms=a.t)
            delta = self.state(occ, a.t, "active")
        else:
            draft = dataclasses.replace(occ.draft, observed_at_ms=a.t, clear=True)
            delta = self.state(occ, a.t, "cleared")
        part = trigger_part(occ.rule, occ.host, prof, draft, a.t)
        b = self.streams.batch(occ.host, a.t + 400, [part], draft=draft, history=delta,
                               stats_ms=a.t if occ.fires == 1 else 0)  # fmt: skip
        return [(b, a.occ)]

    def incident(self, a: Action) -> list[tuple[IncomingBatch, int]]:
        rule, group, members, done, upto, opened = a.arg
        assert rule.fleet is not None
        out = []
        key = template.fields_of(rule.fleet.group_by)[0]
        fired: list[tuple[str, str, int]] = []
        for j, host in enumerate(members[:upto]):
            t = a.t - (upto - j) * 2_000 if j >= done else opened - (done - j) * 3 * MINUTE
            fired.append((host.agent_id, host.hostname, t))
        facts = {**host_facts(members[0]), key: group, "group": group, "hosts": upto}
        for name in template.fields_of(rule.fleet.summary):
            facts.setdefault(name, fact(name, members[0], self.rng))
        update_ = IncidentUpdate(
            rule_id=rule.id, group=group, summary=template.render(rule.fleet.summary, facts),
            opened_ms=opened, last_seen_ms=a.t, hosts=tuple(sorted(fired)), new=done < 5,
        )  # fmt: skip
        for j in range(done, upto):
            host = members[j]
            occ = Occ(host, rule, make_draft(rule, host, self.rng, fired[j][2], {key: group}))
            delta = self.state(occ, fired[j][2], "active", held=f"incident:{group}")
            part = snapshot_part(host, self.profiles[host.profile], fired[j][2])
            last = j == upto - 1
            out.append((self.streams.batch(host, fired[j][2] + 400, [part], history=delta,
                                           incidents=(update_,) if last else ()), -1))  # fmt: skip
        return out

    def find(self, occ: Occ) -> int:
        if occ.ticket_id or not occ.lookup:
            return occ.ticket_id
        kind, _, rule_id = occ.lookup.partition(":")
        found = [t for t in self.store.list_tickets(kind=kind, limit=50)
                 if not rule_id or t.rule_id == rule_id]  # fmt: skip
        occ.ticket_id = found[0].id if found else 0
        return occ.ticket_id

    def act(self, a: Action) -> None:
        s = self.store
        occ = self.plan.occs[a.occ]
        tid = self.find(occ)
        if not tid:
            return
        try:
            if a.kind == "ack":
                s.acknowledge(tid, a.arg)
            elif a.kind == "assign":
                s.assign(tid, a.arg[0], a.arg[1])
            elif a.kind == "comment":
                s.comment(tid, a.arg[1], a.arg[0])
            elif a.kind == "resolve":
                s.resolve_ticket(tid, self.rng.choice(PEOPLE), Resolution(a.arg),
                                 "Replaced the part; the user confirmed." if a.arg == "fixed"
                                 else "")  # fmt: skip
            elif a.kind == "release":
                s.release_storm(tid, a.arg)
        except TicketError:
            pass  # merged into an incident, or already resolved: as in the console


# -- the older history, copied -------------------------------------------------------

TICKET_TIMES = ("created_at_ms", "updated_at_ms", "first_seen_ms", "last_seen_ms",
                "sla_respond_ms", "sla_resolve_ms", "acknowledged_ms", "resolved_ms",
                "cleared_ms", "last_note_ms")  # fmt: skip
TICKET_LINKS = ("merged_into", "incident_id", "previous_id", "problem_id", "storm_id")
STATE_TIMES = ("since_ms", "last_eval_ms", "opened_ms", "last_fire_ms", "cleared_ms")


def replicate(conn: Connection, copies: int, partial: int, span_ms: int,
              move: Callable[[int, str], tuple[str, str]]) -> int:  # fmt: skip
    """Copy the history block (every ticket so far, all closed) `copies` times, each one
    span_ms later, on other hosts (move(r, agent_id)): tickets with their notes, files,
    outbox operations, deliveries and rule states. The last copy has only `partial` tickets
    when partial > 0. Returns the tickets written."""
    src = [dict(r) for r in conn.execute(select(tickets).order_by(tickets.c.id)).mappings()]
    if not src:
        return 0
    notes = [dict(r) for r in conn.execute(select(ticket_notes)).mappings()]
    files = [dict(r) for r in conn.execute(select(ticket_files)).mappings()]
    ops = [dict(r) for r in conn.execute(select(ticket_ops)).mappings()]
    dels = [dict(r) for r in conn.execute(select(deliveries)).mappings()]
    states = [dict(r) for r in conn.execute(select(rule_states)).mappings()]
    off_t = max(t["id"] for t in src)
    off_n = max((n["id"] for n in notes), default=0)
    off_f = max((f["id"] for f in files), default=0)
    off_o = max((o["id"] for o in ops), default=0)
    names = {t["agent_id"]: t["hostname"] for t in src}
    op_ticket = {o["id"]: o["ticket_id"] for o in ops}
    agent_of = {t["id"]: t["agent_id"] for t in src}
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    upsert = dialect_insert(rule_states)
    upsert = upsert.on_conflict_do_update(
        index_elements=[rule_states.c.agent_id, rule_states.c.rule_id, rule_states.c.component],
        set_={c.name: upsert.excluded[c.name] for c in rule_states.c
              if c.name not in ("agent_id", "rule_id", "component")},
    )  # fmt: skip
    written = 0
    for r in range(1, copies + 1):
        limit = partial if (r == copies and partial) else off_t
        # Only closed-out tickets: a live one's copies could meet on one host and problem.
        chosen = {t["id"] for t in src if t["id"] <= limit and t["state"] not in ("open", "held")}
        shift = r * span_ms
        hosts: dict[str, tuple[str, str]] = {a: move(r, a) for a in names}

        def swap(value: str, agent: str, hosts: dict[str, tuple[str, str]] = hosts) -> str:
            return value.replace(names[agent], hosts[agent][1])

        rows = []
        for t in src:
            if t["id"] not in chosen:
                continue
            agent, hostname = hosts[t["agent_id"]]
            row = dict(t, id=t["id"] + r * off_t, agent_id=agent, hostname=hostname,
                       dedup_key=render.dedup_key(agent, t["rule_id"], t["component"]))  # fmt: skip
            for c in ("summary", "description", "evidence", "content"):
                row[c] = swap(t[c], t["agent_id"])
            for c in TICKET_TIMES:
                if t[c]:
                    row[c] = t[c] + shift
            for c in TICKET_LINKS:
                if t[c]:
                    row[c] = t[c] + r * off_t
            rows.append(row)
        conn.execute(insert(tickets), rows)
        written += len(rows)
        conn.execute(insert(ticket_notes), [
            dict(n, id=n["id"] + r * off_n, ticket_id=n["ticket_id"] + r * off_t,
                 time_ms=n["time_ms"] + shift)
            for n in notes if n["ticket_id"] in chosen])  # fmt: skip
        frows = []
        for f in files:
            if f["ticket_id"] not in chosen:
                continue
            body = bytes(f["content"])
            agent = agent_of[f["ticket_id"]]
            body = body.replace(names[agent].encode(), hosts[agent][1].encode())
            frows.append(dict(f, id=f["id"] + r * off_f, ticket_id=f["ticket_id"] + r * off_t,
                              content=body, size=len(body),
                              sha256=hashlib.sha256(body).hexdigest()))  # fmt: skip
        if frows:
            conn.execute(insert(ticket_files), frows)
        orows = []
        for o in ops:
            if o["ticket_id"] not in chosen:
                continue
            ref = o["ref_id"]
            if ref:
                ref += r * (off_f if o["op"] == "attach" else off_n)
            orows.append(dict(o, id=o["id"] + r * off_o, ticket_id=o["ticket_id"] + r * off_t,
                              ref_id=ref, not_before_ms=o["not_before_ms"] + shift,
                              created_ms=o["created_ms"] + shift))  # fmt: skip
        if orows:
            conn.execute(insert(ticket_ops), orows)
        drows = [dict(d, op_id=d["op_id"] + r * off_o, updated_ms=d["updated_ms"] + shift,
                      next_attempt_ms=d["next_attempt_ms"] + shift)
                 for d in dels if op_ticket[d["op_id"]] in chosen]  # fmt: skip
        if drows:
            conn.execute(insert(deliveries), drows)
        srows = []
        for s in states:
            if s["agent_id"] not in hosts:
                continue
            row = dict(s, agent_id=hosts[s["agent_id"]][0])
            for c in STATE_TIMES:
                if s[c]:
                    row[c] = s[c] + shift
            srows.append(row)
        if srows:
            conn.execute(upsert, srows)
    if conn.dialect.name == "postgresql":
        # Rows written with their ids: the sequences must move past them.
        for table in ("tickets", "ticket_notes", "ticket_files", "ticket_ops"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))  # fmt: skip
    return written


# -- the helpdesk: delivered --------------------------------------------------------


class Helpdesk:
    """A helpdesk in this process that takes everything (one in 25 creates time out once)."""

    name = SINK

    def __init__(self) -> None:
        self.created = 0

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        self.created += 1
        if self.created % 25 == 0:
            raise DeliveryError("helpdesk timed out", retryable=True, status=504)
        return Ref(f"HD-{ticket.ticket_id}", f"{HELPDESK_URL}{ticket.ticket_id}")

    def find(self, dedup_key: str) -> Ref | None:
        return None

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        pass

    def attach(self, ref: Ref, file: Attachment) -> None:
        pass

    def resolve(self, ref: Ref, text: str) -> None:
        pass

    def reopen(self, ref: Ref, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def mark_delivered(conn: Connection, before_ms: int) -> int:
    """What the outbox would have recorded for operations older than before_ms, delivered to
    a helpdesk that answered: done, with the helpdesk's ticket for each create."""
    old = select(ticket_ops.c.id).where(ticket_ops.c.created_ms < before_ms,
                                        ticket_ops.c.cancelled == 0)  # fmt: skip
    at = select(ticket_ops.c.not_before_ms + 3_000).where(ticket_ops.c.id == deliveries.c.op_id)
    done = conn.execute(
        update(deliveries)
        .where(deliveries.c.state == "waiting", deliveries.c.op_id.in_(old))
        .values(state="done", attempts=1, next_attempt_ms=0, updated_ms=at.scalar_subquery())
    ).rowcount
    tid = cast(ticket_ops.c.ticket_id, Text)
    created = (
        select(ticket_ops.c.ticket_id, literal(SINK), literal("HD-") + tid,
               literal(HELPDESK_URL) + tid)
        .join(deliveries, deliveries.c.op_id == ticket_ops.c.id)
        .where(ticket_ops.c.op == "create", deliveries.c.state == "done")
        .distinct()
    )  # fmt: skip
    conn.execute(insert(ticket_refs).from_select(
        ["ticket_id", "sink", "external_id", "url"], created))  # fmt: skip
    return int(done)


# -- a day of snapshots ---------------------------------------------------------------


def day_of_snapshots(seeder: Seeder, hosts: Sequence[SimHost], end: int) -> int:
    """The last 24 h at 5-minute spacing for each host: one snapshot per batch (with the
    agent's stats every hour and the events of the moment), as an agent sends them."""
    rng = seeder.rng
    steps = DAY // SNAPSHOT_EVERY_MS
    traits = []
    for _ in hosts:
        traits.append({
            "fill": rng.random() < 0.3, "smart": rng.random() < 0.15, "nic": rng.random() < 0.2,
            "reboot": rng.randrange(steps) if rng.random() < 0.25 else -1,
            "unclean": rng.random() < 0.5, "spike": rng.randrange(steps),
        })  # fmt: skip
    written = 0
    for k in range(steps + 1):
        t = end - DAY + k * SNAPSHOT_EVERY_MS
        seeder.clock.now = max(seeder.clock.now, t)
        group = []
        for h, tr in zip(hosts, traits, strict=True):
            vary = _variation(k, steps, t, tr)
            parts = [snapshot_part(h, seeder.profiles[h.profile], t, vary)]
            if tr["reboot"] == k:
                kind = "boot.unclean_shutdown" if tr["unclean"] else "boot.clean_shutdown"
                level = Severity.ERROR if tr["unclean"] else Severity.INFO
                parts.append(event_part(Event(t - 1000, "journal", kind, level, kind)))
            if tr["smart"] and k % 36 == 7:
                parts.append(event_part(Event(t - 500, "kernel", "disk.io_error", Severity.ERROR,
                                              "I/O error, dev sda, sector 2048")))  # fmt: skip
            delta = HistoryDelta(h.agent_id, last_snapshot_ms=t)
            group.append((seeder.streams.batch(h, t + 300, parts, history=delta,
                                               stats_ms=t if k % 12 == 0 else 0), -1))  # fmt: skip
            written += 1
        seeder.save(group)
    return written


def _variation(k: int, steps: int, t: int, tr: dict[str, Any]) -> Callable[[pb.Snapshot], None]:
    f = k / steps

    def vary(s: pb.Snapshot) -> None:
        for v in s.volumes[:1]:
            total = v.used_bytes + v.free_bytes or 1
            share = (0.70 + 0.27 * f) if tr["fill"] else 0.55 + 0.02 * math.sin(k / 9)
            v.used_bytes = int(total * share)
            v.free_bytes = total - v.used_bytes
            if tr["fill"]:
                v.growth_bytes_per_hour = total * 0.27 / 24
                v.seconds_to_full = max(0.0, (1 - share) * total / v.growth_bytes_per_hour * 3600)
        for d in s.smart[:1]:
            d.power_on_hours += k // 12
            d.temperature_c = 38 + int(6 * math.sin(k / 20)) + (k == tr["spike"]) * 20
            if tr["smart"]:
                d.reallocated_sectors += k // 24
                d.pending_sectors += k // 72
        for io in s.disk_io[:1]:
            io.read_await_ms = 2.5 + (40.0 if abs(k - tr["spike"]) < 3 else 0.0)
            io.write_await_ms = 4.0 + (80.0 if abs(k - tr["spike"]) < 3 else 0.0)
            io.util_pct = 8.0 + (85.0 if abs(k - tr["spike"]) < 3 else 0.0)
        for n in s.interfaces[:1]:
            n.rx_bytes += k * 9_000_000
            n.tx_bytes += k * 2_000_000
            if tr["nic"]:
                n.rx_errors += k * 3
                n.carrier_changes += k // 30
        for c in s.dns_checks:
            if tr["nic"] and abs(k - tr["spike"]) < 4:
                c.status, c.rtt_ms = "timeout", 2000.0
        if tr["reboot"] >= 0 and k >= tr["reboot"] and s.HasField("boot"):
            s.boot.boot_id = f"boot-{tr['reboot']:04d}"
            s.boot.boot_time_unix = (t - (k - tr["reboot"]) * SNAPSHOT_EVERY_MS) // 1000
            s.boot.previous_shutdown = "unclean" if tr["unclean"] else "clean"

    return vary


# -- the whole seed ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    url: str
    meta: dict[str, Any]


def seed(url: str, scale: Scale, end: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Fill the empty store at url; returns what the benchmark needs to know about it."""
    started = time.monotonic()
    rng = random.Random(scale.seed)
    profiles = load_profiles()
    hosts = make_hosts(scale.hosts, profiles, rng)
    rules = {r.id: r for r in load_rules(default_rules_dir()).rules}
    policy = TicketPolicy()
    history_n = scale.history
    # The recent week makes a few percent fewer tickets than problems (reopens, repeats of
    # a copied problem within the reopen window, silenced hosts): copy that many more.
    copies_total = max(0, scale.tickets - scale.recent - history_n + scale.recent // 20)
    copies = math.ceil(copies_total / history_n) if history_n else 0
    partial = copies_total - (copies - 1) * history_n if copies else 0
    span = HISTORY_MS // (copies + 1)
    recent_start = end - RECENT_MS
    first = recent_start - (copies + 1) * span
    clock = SimClock(first - HOUR)

    store = open_store(url, sqlite_synchronous="OFF", clock=clock, policy=policy)
    sd = Seeder(store, clock, profiles, hosts, rng, rule_events=False, url=url)
    try:
        sd.store.register_sink(SINK)
        # Every host says hello (its inventory and a snapshot) over the first day.
        hello = []
        for h in hosts:
            t = first - DAY + rng.randint(0, DAY - HOUR)
            hello.append((t, h))
        hello.sort(key=lambda x: x[0])
        sd.save([(sd.streams.batch(h, t + 300, [snapshot_part(h, profiles[h.profile], t)],
                                   inventory=True, stats_ms=t), -1) for t, h in hello])  # fmt: skip
        log(f"hosts: {len(hosts):,} ({time.monotonic() - started:.0f} s)")

        picker = Picker(rules, hosts, rng)
        old = Plan()
        plan_block(old, picker, profiles, history_n, 0, first, first + span, rng, policy)
        sd.run(old)
        log(f"history block: {history_n:,} tickets ({time.monotonic() - started:.0f} s)")

        buckets: dict[int, list[int]] = {}
        for h in hosts:
            buckets.setdefault(h.profile, []).append(h.index)
        by_agent = {h.agent_id: h for h in hosts}

        def move(r: int, agent_id: str) -> tuple[str, str]:
            to = hosts[moved_index(hosts, buckets, r, by_agent[agent_id].index)]
            return to.agent_id, to.hostname

        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                copied = replicate(conn, copies, partial, span, move) if copies else 0
        finally:
            engine.dispose()
        sd.analyze()
        store = sd.store
        log(f"history copied: {copied:,} tickets in {copies} blocks "
            f"({time.monotonic() - started:.0f} s)")  # fmt: skip

        # The recent week, with what makes the console's day: incidents, a storm, silences.
        sd.rule_events = True
        recent = Plan(keys=set(old.keys))
        clock.now = max(clock.now, recent_start)
        for h in rng.sample(list(hosts), min(4, len(hosts))):
            store.add_silence("host", h.hostname, reason="hardware swap at the desk",
                              who=rng.choice(PEOPLE), expires_ms=recent_start + DAY)  # fmt: skip
        plan_incidents(recent, rules, hosts, recent_start, end, rng)
        plan_storm(recent, rules, hosts, recent_start + 2 * DAY + 7 * HOUR, rng, policy)
        # Some problems of the copied history come back: a linked new ticket, or a reopen.
        if copies and old.occs:
            for _ in range(scale.recent // 25):
                src = rng.choice(old.occs[: partial or len(old.occs)])
                to = hosts[moved_index(hosts, buckets, copies, src.host.index)]
                d = src.draft
                draft = dataclasses.replace(
                    d, agent_id=to.agent_id, hostname=to.hostname,
                    dedup_key=render.dedup_key(to.agent_id, d.rule_id, d.component),
                    summary=d.summary.replace(src.host.hostname, to.hostname),
                    description=d.description.replace(src.host.hostname, to.hostname),
                )  # fmt: skip
                if draft.dedup_key in recent.keys:
                    continue
                i = recent.add(Occ(to, src.rule, draft))
                plan_ticket(recent, i, rng.randint(recent_start, end - DAY), end, "resolved",
                            rng, policy)  # fmt: skip
        left = scale.recent - len(recent.occs)
        n_open = max(0, scale.open_tickets - 10)
        plan_block(recent, picker, profiles, left, min(n_open, left), recent_start, end, rng,
                   policy)  # fmt: skip
        sd.run(recent)
        store = sd.store
        clock.now = max(clock.now, end - 30 * MINUTE)
        store.tick()
        log(f"recent week: {len(recent.occs):,} problems ({time.monotonic() - started:.0f} s)")

        snap_hosts = hosts[: scale.snapshot_hosts]
        snapshots = day_of_snapshots(sd, snap_hosts, end - 5 * MINUTE)
        # Every other host's latest snapshot, minutes ago; a few retired hosts stay silent.
        clock.now = max(clock.now, end)
        latest = []
        for h in hosts[scale.snapshot_hosts :]:
            if rng.random() < 0.01:
                continue
            t = end - rng.randint(30_000, 5 * MINUTE)
            latest.append((sd.streams.batch(h, t + 300, [snapshot_part(h, profiles[h.profile], t)],
                                            stats_ms=t), -1))  # fmt: skip
        sd.save(latest)
        for scope, value, why in (("site", "oslo", "network maintenance window"),
                                  ("rule", "network.wifi_weak_signal", "new access points"),
                                  ("host", hosts[-1].hostname, "reimaging")):  # fmt: skip
            store.add_silence(scope, value, reason=why, who="dana", expires_ms=end + 30 * DAY)
        log(f"snapshots: {snapshots:,} ({time.monotonic() - started:.0f} s)")

        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                delivered = mark_delivered(conn, end - 10 * MINUTE)
        finally:
            engine.dispose()
        clock.now = end
        desk = Helpdesk()
        outbox = Outbox(store, [desk], clock)
        via_outbox = 0
        for _ in range(5):
            via_outbox += outbox.run_once()
        purged = store.purge_telemetry(end - RETENTION_MS)
        log(f"delivered: {delivered:,} by the seed, {via_outbox:,} by the outbox "
            f"({time.monotonic() - started:.0f} s)")  # fmt: skip
        meta = describe(store, url, snap_hosts)
        meta.update(seconds=round(time.monotonic() - started, 1), end_ms=end,
                    scale=dataclasses.asdict(scale), copies=copies, copied=copied,
                    purged=purged, snapshots=snapshots, batches=sd.counts.get("batches", 0),
                    delivered_by_seed=delivered, delivered_by_outbox=via_outbox)  # fmt: skip
        return meta
    finally:
        sd.store.close()


def describe(store: SqlStore, url: str, snap_hosts: Sequence[SimHost]) -> dict[str, Any]:
    """Counts, and the ids the endpoints ask for."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            by_state = {s: int(n) for s, n in conn.execute(
                select(tickets.c.state, func.count()).group_by(tickets.c.state))}  # fmt: skip
            by_priority = {s: int(n) for s, n in conn.execute(
                select(tickets.c.priority, func.count()).group_by(tickets.c.priority))}  # fmt: skip
            by_tier = {s: int(n) for s, n in conn.execute(
                select(tickets.c.tier, func.count()).group_by(tickets.c.tier))}  # fmt: skip
            counted = {name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                       for name in ("hosts", "telemetry", "ticket_notes", "ticket_files",
                                    "ticket_ops", "deliveries", "rule_states", "incidents",
                                    "incident_hosts", "host_events")}  # fmt: skip
            agents = [h.agent_id for h in snap_hosts] or [""]
            host = conn.execute(
                select(tickets.c.agent_id).where(tickets.c.agent_id.in_(agents))
                .group_by(tickets.c.agent_id).order_by(func.count().desc()).limit(1)
            ).scalar() or agents[0]  # fmt: skip
            busy = conn.execute(
                select(ticket_notes.c.ticket_id)
                .join(tickets, tickets.c.id == ticket_notes.c.ticket_id)
                .where(tickets.c.kind == "host", tickets.c.state == "open")
                .group_by(ticket_notes.c.ticket_id)
                .order_by(func.count().desc()).limit(1)
            ).scalar() or 1  # fmt: skip
            fleet = conn.execute(
                select(tickets.c.id).where(tickets.c.kind == "fleet")
                .order_by(tickets.c.occurrences.desc()).limit(1)
            ).scalar() or busy  # fmt: skip
            incident = conn.execute(
                text("SELECT id FROM incidents ORDER BY host_count DESC LIMIT 1")
            ).scalar() or 1  # fmt: skip
    finally:
        engine.dispose()
    h = store.get_host(host)
    return {
        "tickets": sum(by_state.values()), "by_state": by_state, "by_priority": by_priority,
        "by_tier": by_tier, "counts": counted, "host": host,
        "hostname": h.inventory.hostname if h else "", "ticket": int(busy), "fleet": int(fleet),
        "incident": int(incident),
    }  # fmt: skip


# -- the cache and the run's copy ------------------------------------------------------


def sqlite_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def cached_store(
    scale: Scale, fresh: bool, log: Callable[[str], None]
) -> tuple[Path, dict[str, Any], bool]:
    """The seeded SQLite file for scale (seeded now when missing, stale or --fresh)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    db = CACHE_DIR / f"{scale.key()}.db"
    meta_path = db.with_suffix(".json")
    now = int(time.time() * 1000)
    if not fresh and db.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if now - int(meta.get("end_ms", 0)) < CACHE_MAX_AGE_MS:
            return db, meta, True
    for f in [*sqlite_files(db), meta_path]:
        f.unlink(missing_ok=True)
    tmp = db.with_name(db.stem + ".seeding.db")
    for f in sqlite_files(tmp):
        f.unlink(missing_ok=True)
    meta = seed(f"sqlite:///{tmp}", scale, now, log)
    with sqlite3.connect(tmp) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to copy: the WAL folded in
    tmp.replace(db)
    for f in sqlite_files(tmp)[1:]:
        f.unlink(missing_ok=True)
    meta_path.write_text(json.dumps(meta, indent=1))
    return db, meta, False


def prepare(url: str, meta: dict[str, Any], rng: random.Random) -> None:
    """The run's own changes: heartbeats now from all but the stale hosts, a user, a token."""
    store = open_store(url)
    try:
        now = int(time.time() * 1000)
        beats = []
        for h in store.list_hosts():
            if rng.random() < STALE_SHARE or int(meta["end_ms"]) - h.last_seen_ms > DAY:
                continue
            epoch = f"epoch-{h.agent_id[:8]}"
            seq = store.stream_position(h.agent_id, epoch) + 1
            st = AgentStats(now, spool_records=0, spool_bytes=0)
            rec = StoredRecord(seq, RecordKind.STATS, now, record_bytes(seq, encode_body(
                st, Priority.NORMAL)))  # fmt: skip
            beats.append(IncomingBatch(h.agent_id, epoch, seq, seq, (rec,), now, stats=st))
        for k in range(0, len(beats), GROUP):
            store.save_batches(beats[k : k + GROUP])
        meta["heartbeats"] = len(beats)
        store.add_user("bench", "viewer", hash_password(PASSWORD))
        store.add_token("bench", "viewer", digest(TOKEN), "bench")
    finally:
        store.close()


# -- asking the console -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # page | api
    path: str


@dataclass(frozen=True, slots=True)
class Timing:
    endpoint: Endpoint
    server_ms: tuple[float, ...]
    client_ms: tuple[float, ...]
    status: int
    size: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error and bool(self.server_ms)

    def q(self, p: float) -> float:
        xs = sorted(self.server_ms)
        return xs[max(0, math.ceil(p * len(xs)) - 1)] if xs else math.nan


def endpoints(meta: dict[str, Any]) -> list[Endpoint]:
    host, name = meta["host"], meta["hostname"]
    resolved = int(meta["by_state"].get("resolved", 0))
    deep = max(0, min(40_000, resolved - 100) // 50 * 50)
    deep_all = max(0, min(45_000, int(meta["tickets"]) - 100) // 50 * 50)
    site = name.split("-")[1] if name.count("-") >= 2 else "lyon"
    pages = ["/", "/hosts", f"/hosts?q={site}", "/hosts?show=stale", "/hosts?show=open",
             f"/hosts/{host}", "/tickets", f"/tickets?state=resolved&offset={deep}",
             "/tickets?q=disk", "/tickets?priority=P1&tier=L2", f"/tickets?host={name}",
             f"/tickets/{meta['ticket']}", f"/tickets/{meta['fleet']}",
             f"/tickets/{meta['ticket']}/report.html", f"/hosts/{host}/report.html",
             "/incidents", f"/incidents/{meta['incident']}", "/rules", "/silences"]  # fmt: skip
    api = ["/api/v1/hosts", f"/api/v1/hosts?q={site}", "/api/v1/hosts?stale=true",
           "/api/v1/hosts?open_tickets=true", "/api/v1/findings", "/api/v1/findings?phase=active",
           "/api/v1/tickets", "/api/v1/tickets?state=open", "/api/v1/tickets?limit=500",
           "/api/v1/tickets?priority=P1&tier=L2", "/api/v1/tickets?state=resolved&priority=P3",
           "/api/v1/tickets?q=disk", f"/api/v1/tickets?host={name}",
           f"/api/v1/tickets?offset={deep_all}", f"/api/v1/tickets?state=resolved&offset={deep}",
           "/api/v1/incidents", "/api/v1/rules", "/api/v1/silences"]  # fmt: skip
    return [Endpoint("page", p) for p in pages] + [Endpoint("api", p) for p in api]


_TIMING = re.compile(r"app;dur=([0-9.]+)")


def login(client: httpx.Client) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if token is None:
        raise BenchError(f"the login page has no csrf field (HTTP {form.status_code})")
    r = client.post("/login", data={"username": "bench", "password": PASSWORD,
                                    "csrf": token.group(1), "next": "/"})  # fmt: skip
    if r.status_code != 200 or r.url.path != "/":
        raise BenchError(f"login failed: HTTP {r.status_code} at {r.url.path}")


def measure(base: str, eps: Sequence[Endpoint], repeat: int, warmup: int = 2) -> list[Timing]:
    """Each endpoint warmup times, then repeat rounds over all of them (round-robin: a busy
    moment on the shared machine lands on every endpoint a little, not on one a lot)."""
    pages = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    api = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        login(pages)
        server: dict[Endpoint, list[float]] = {e: [] for e in eps}
        client: dict[Endpoint, list[float]] = {e: [] for e in eps}
        status: dict[Endpoint, int] = {}
        size: dict[Endpoint, int] = {}
        errors: dict[Endpoint, str] = {}
        for n in range(warmup + repeat):
            for e in eps:
                c = pages if e.kind == "page" else api
                t0 = time.perf_counter()
                try:
                    r = c.get(e.path)
                except httpx.HTTPError as exc:
                    errors[e] = f"{type(exc).__name__}: {exc}"
                    continue
                took = (time.perf_counter() - t0) * 1000
                status[e] = r.status_code
                size[e] = len(r.content)
                if r.status_code != 200:
                    errors.setdefault(e, r.text[:200].replace("\n", " "))
                m = _TIMING.search(r.headers.get("server-timing", ""))
                if m is None:
                    errors.setdefault(e, "no Server-Timing header")
                elif n >= warmup:
                    server[e].append(float(m.group(1)))
                    client[e].append(took)
        return [Timing(e, tuple(server[e]), tuple(client[e]), status.get(e, 0), size.get(e, 0),
                       errors.get(e, "")) for e in eps]  # fmt: skip
    finally:
        pages.close()
        api.close()


def timings_table(ts: Sequence[Timing]) -> str:
    head = ("kind", "endpoint", "status", "p50 ms", "p95 ms", "max ms", "client p50", "KiB")
    body = []
    for t in ts:
        cp50 = sorted(t.client_ms)[len(t.client_ms) // 2] if t.client_ms else math.nan
        body.append((t.endpoint.kind, t.endpoint.path[:64], str(t.status), f"{t.q(0.5):.1f}",
                     f"{t.q(0.95):.1f}", f"{max(t.server_ms, default=math.nan):.1f}",
                     f"{cp50:.1f}", f"{t.size / 1024:.0f}"))  # fmt: skip
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    bad = [t for t in ts if not t.ok]
    lines += [f"  failed: {t.endpoint.path} HTTP {t.status}: {t.error}" for t in bad]
    return "\n".join(lines)


@contextmanager
def console(url: str, folder: Path) -> Iterator[str]:
    proc = start_collector(url, folder / "collector.log", console=True, timeout=120)
    try:
        if not proc.console_url:
            raise BenchError("the collector printed no console URL")
        yield proc.console_url.rstrip("/")
    finally:
        proc.stop()


def rows_of(ts: Sequence[Timing], meta: dict[str, Any], cached: bool,
            backend: str) -> list[Row]:  # fmt: skip
    rows = []
    for kind, label in (("page", "pages"), ("api", "API lists")):
        mine = [t for t in ts if t.endpoint.kind == kind and t.ok]
        failed = [t for t in ts if t.endpoint.kind == kind and not t.ok]
        if mine:
            worst = max(mine, key=lambda t: t.q(0.95))
            rows.append(judged(
                NAME, f"{backend}: worst p95 server time across {len(mine)} {label}",
                worst.q(0.95), "ms", at_most=TARGET_MS,
                note=f"{worst.endpoint.path} (p50 {worst.q(0.5):.0f} ms, max "
                     f"{max(worst.server_ms):.0f} ms); median of the {label}' p95: "
                     f"{sorted(t.q(0.95) for t in mine)[len(mine) // 2]:.0f} ms",
            ))  # fmt: skip
        total = len(mine) + len(failed)
        rows.append(Row(
            NAME, f"{backend}: {label} answering 200", float(len(mine)), f"of {total}",
            f"{total} of {total}", "pass" if not failed else "fail",
            note="; ".join(f"{t.endpoint.path}: HTTP {t.status} {t.error[:80]}"
                           for t in failed),
        ))  # fmt: skip
    st = meta["by_state"]
    c = meta["counts"]
    rows += [
        Row(NAME, f"{backend}: store: hosts / tickets", float(meta["tickets"]), "tickets",
            note=f"{c['hosts']:,} hosts; tickets " + ", ".join(f"{k} {v:,}" for k, v in
                                                              sorted(st.items()))),
        Row(NAME, f"{backend}: store: notes / files / outbox ops / deliveries",
            float(c["ticket_notes"]), "notes",
            note=f"files {c['ticket_files']:,}, ops {c['ticket_ops']:,}, deliveries "
                 f"{c['deliveries']:,}, findings {c['rule_states']:,}, incidents "
                 f"{c['incidents']} ({c['incident_hosts']:,} hosts)"),
        Row(NAME, f"{backend}: store: telemetry rows", float(c["telemetry"]), "records",
            note=f"{meta['snapshots']:,} snapshots of {meta['scale']['snapshot_hosts']} hosts "
                 f"over the last day at 5 min"),
        Row(NAME, f"{backend}: seeding (not timed against a target)", float(meta["seconds"]),
            "s", note=("cached: " if cached else "") + f"{meta['batches']:,} batches through "
            f"save_batches; {meta['copied']:,} of the tickets are copies of older history"),
    ]  # fmt: skip
    return rows


def run(scale: Scale | None = None, repeat: int = 20, fresh: bool = False,
        keep: Path | None = None, postgres_url: str | None = None) -> Outcome:  # fmt: skip
    scale = scale or Scale()

    def log(line: str) -> None:
        print(f"   seed: {line}", flush=True)

    db, meta, cached = cached_store(scale, fresh, log)
    rows: list[Row] = []
    details: dict[str, Any] = {"seed": meta, "cached": cached, "repeat": repeat}
    texts = []
    with tempfile.TemporaryDirectory(prefix="rdiag-bench-console-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        work = folder / "console.db"
        for f in sqlite_files(work):
            f.unlink(missing_ok=True)
        shutil.copyfile(db, work)
        url = f"sqlite:///{work}"
        prepare(url, meta, random.Random(scale.seed))
        with console(url, folder) as base:
            ts = measure(base, endpoints(meta), repeat)
        rows += rows_of(ts, meta, cached, "SQLite")
        texts.append(f"SQLite, server time per endpoint ({repeat} requests each after 2 "
                     f"warm-up):\n{timings_table(ts)}")  # fmt: skip
        details["sqlite"] = [timing_json(t) for t in ts]
        if postgres_url:
            pg_rows, pg_text, pg_details = on_postgres(postgres_url, scale, repeat, folder)
            rows += pg_rows
            texts.append(pg_text)
            details["postgresql"] = pg_details
    return Outcome(rows, details, "\n\n".join(texts))


def timing_json(t: Timing) -> dict[str, Any]:
    return {"kind": t.endpoint.kind, "path": t.endpoint.path, "status": t.status,
            "p50_ms": t.q(0.5), "p95_ms": t.q(0.95), "max_ms": max(t.server_ms, default=None),
            "server_ms": list(t.server_ms), "bytes": t.size, "error": t.error}  # fmt: skip


def on_postgres(admin_url: str, scale: Scale, repeat: int,
                folder: Path) -> tuple[list[Row], str, dict[str, Any]]:  # fmt: skip
    """The same on a fresh PostgreSQL database (seeded each time: no file to cache)."""
    from sqlalchemy import make_url

    from tests.bench.bench_ingest import postgres_unreachable

    why = postgres_unreachable(admin_url)
    if why is not None:
        return [Row(NAME, "PostgreSQL", None, "ms", status="skip", note=why)], "", {}
    name = f"rdiag_bench_console_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        meta = seed(
            url,
            scale,
            int(time.time() * 1000),
            lambda line: print(f"   seed (PostgreSQL): {line}", flush=True),
        )
        prepare(url, meta, random.Random(scale.seed))
        with console(url, folder) as base:
            ts = measure(base, endpoints(meta), repeat)
        text_ = f"PostgreSQL, server time per endpoint:\n{timings_table(ts)}"
        return (
            rows_of(ts, meta, False, "PostgreSQL"),
            text_,
            {"seed": meta, "timings": [timing_json(t) for t in ts]},
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_console",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    d = Scale()
    p.add_argument("--hosts", type=int, default=d.hosts)
    p.add_argument("--tickets", type=int, default=d.tickets)
    p.add_argument(
        "--real-tickets",
        type=int,
        default=d.real_tickets,
        help="tickets written through save_batches (the rest: copied history)",
    )
    p.add_argument("--open-tickets", type=int, default=d.open_tickets)
    p.add_argument("--snapshot-hosts", type=int, default=d.snapshot_hosts)
    p.add_argument("--repeat", type=int, default=20, help="requests per endpoint")
    p.add_argument("--fresh", action="store_true", help="seed again, ignoring the cache")
    p.add_argument("--keep", type=Path, help="keep the run's database and log in this folder")
    p.add_argument("--postgres-url", metavar="URL", help="also on a fresh PostgreSQL database")
    a = p.parse_args(argv)
    if min(a.hosts, a.tickets, a.repeat) < 1 or a.open_tickets >= a.tickets:
        p.error("hosts, tickets and repeat must be positive, open tickets fewer than tickets")
    if a.hosts < 50 or a.snapshot_hosts > a.hosts:
        p.error("at least 50 hosts, and no more snapshot hosts than hosts")
    scale = Scale(a.hosts, a.tickets, a.real_tickets, a.open_tickets, a.snapshot_hosts)
    outcome = run(scale, a.repeat, a.fresh, a.keep, a.postgres_url)
    print(outcome.text)
    print(table(outcome.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
