"""What a rule runs over (`for_each:`): the subjects, their facts and types, and their keys.

Facts are computed here once per record (percentages, human-readable sizes, counts), so
rule files compare numbers and templates print readable text. Every fact has a type, read
from the record's own annotations, so the condition checker can refuse `model > 5` at load.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

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
    RaidArray,
    SmartDevice,
    Snapshot,
    TimeSync,
    Volume,
)
from collector.engine.lang import T

Facts = dict[str, Any]


Getter = Callable[[Any], Any]


class LayeredFacts(dict[str, Any]):
    """A record's facts over its host's, read on demand: a condition reads two or three of
    a record's twenty fields, so a fact is computed the first time it is asked for (and
    kept), and a name the record does not have is read from the host's facts, which are
    shared by every record of the snapshot instead of copied into each."""

    __slots__ = ("host", "record", "getters")

    def __init__(
        self,
        own: Mapping[str, Any],
        host: Mapping[str, Any],
        record: object = None,
        getters: Mapping[str, Getter] | None = None,
    ) -> None:
        super().__init__(own)
        self.host = host
        self.record = record
        self.getters = getters or {}

    def __missing__(self, key: str) -> Any:
        getter = self.getters.get(key)
        if getter is None:
            return self.host[key]
        value = self[key] = getter(self.record)
        return value

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.getters or key in self.host

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def flat(self) -> dict[str, Any]:
        """Every fact, for a finding that outlives the snapshot."""
        for key in self.getters.keys() - self.keys():
            self[key]  # computes and keeps it
        return {**self.host, **self}


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


def _type_of(hint: object) -> T | None:
    if hint is bool:
        return T.BOOL
    if hint in (int, float):
        return T.NUM
    if hint is str:
        return T.STR
    origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint)[:1] == (str,):
        return T.LIST
    if origin in (types.UnionType, typing.Union):
        return None
    return None  # nested records and maps are not facts


def record_types(cls: type) -> dict[str, T]:
    hints = typing.get_type_hints(cls)
    found = {f.name: _type_of(hints[f.name]) for f in fields(cls)}
    return {name: t for name, t in found.items() if t is not None}


def _copy(record: object, names: Iterable[str]) -> Facts:
    # Records are flat, so a shallow read is enough, and several times cheaper than
    # dataclasses.asdict, which deep-copies (this runs for every record ingested).
    return {name: getattr(record, name) for name in names}


@dataclass(frozen=True, slots=True)
class Subject:
    name: str
    types: Mapping[str, T]  # every fact a condition or template may use
    key: Callable[[Facts], str]  # the default component: which part of the host this is
    records: Callable[[Snapshot], Iterable[object]]
    getters: Mapping[str, Getter] = field(default_factory=dict)  # fact name → how to read it

    def lazy(self, record: object, host: Mapping[str, Any]) -> LayeredFacts:
        return LayeredFacts({}, host, record, self.getters)


def _subject(
    name: str,
    cls: type,
    records: Callable[[Snapshot], Iterable[object]],
    key: Callable[[Facts], str],
    derived: Mapping[str, tuple[T, Callable[[Any], Any]]] | None = None,
) -> Subject:
    own = record_types(cls)
    extra = dict(derived or {})

    getters: dict[str, Getter] = {n: operator.attrgetter(n) for n in own}
    getters.update({n: fn for n, (_, fn) in extra.items()})
    types_ = {**own, **{k: t for k, (t, _) in extra.items()}}
    return Subject(name, types_, key, records, getters)


def _one(value: object | None) -> tuple[object, ...]:
    return () if value is None else (value,)


def _smart_attrs(d: SmartDevice) -> dict[int, tuple[int, int, int]]:
    return {a.id: (a.raw, a.value, a.threshold) for a in d.attributes}


SUBJECTS: Mapping[str, Subject] = {
    s.name: s
    for s in (
        # One evaluation per snapshot, over the host facts alone.
        Subject("host", {}, lambda f: "", lambda snap: (None,)),
        _subject(
            "volume",
            Volume,
            lambda snap: snap.volumes,
            lambda f: str(f["mount"]),
            {
                "used_pct": (T.NUM, lambda v: v.used_pct),
                "inodes_used_pct": (T.NUM, lambda v: v.inodes_used_pct),
                "free_human": (T.STR, lambda v: human_bytes(v.free_bytes)),
                "total_human": (T.STR, lambda v: human_bytes(v.total_bytes)),
                "used_human": (T.STR, lambda v: human_bytes(v.used_bytes)),
            },
        ),
        _subject(
            "smart",
            SmartDevice,
            lambda snap: snap.smart,
            lambda f: str(f["device"]),
            {
                # Unknown health (smartctl could not ask) is not a failure.
                "failed": (T.BOOL, lambda d: d.health_known and not d.health_passed),
                "health": (
                    T.STR,
                    lambda d: (
                        ("FAILED" if not d.health_passed else "PASSED")
                        if d.health_known
                        else "UNKNOWN"
                    ),
                ),
                "__attrs": (T.LIST, _smart_attrs),  # read by attr(); not a name rules see
            },
        ),
        _subject("disk_io", DiskIo, lambda snap: snap.disk_io, lambda f: str(f["device"])),
        _subject(
            "raid",
            RaidArray,
            lambda snap: snap.raid,
            lambda f: str(f["name"]),
            {"failed_count": (T.NUM, lambda r: len(r.failed_devices))},
        ),
        _subject(
            "interface",
            NetInterface,
            lambda snap: snap.interfaces,
            lambda f: str(f["name"]),
            {
                "apipa": (T.BOOL, lambda i: i.apipa),
                "ipv4_count": (T.NUM, lambda i: sum(1 for a in i.addresses if ":" not in a)),
            },
        ),
        _subject(
            "gateway", GatewayCheck, lambda snap: snap.gateway_checks, lambda f: str(f["gateway"])
        ),
        _subject("dns_check", DnsCheck, lambda snap: snap.dns_checks, lambda f: str(f["server"])),
        _subject(
            "dns_config",
            DnsConfig,
            lambda snap: _one(snap.dns),
            lambda f: "",
            {"server_count": (T.NUM, lambda d: len(d.servers))},
        ),
        _subject(
            "time_sync",
            TimeSync,
            lambda snap: _one(snap.time_sync),
            lambda f: "",
            {"abs_offset_ms": (T.NUM, lambda t: abs(t.offset_ms))},
        ),
        _subject("device", Device, lambda snap: snap.devices, lambda f: str(f["id"])),
        _subject("driver", DriverInfo, lambda snap: snap.drivers, lambda f: str(f["name"])),
        _subject(
            "boot",
            BootInfo,
            lambda snap: _one(snap.boot),
            lambda f: "",
            {
                "failed_unit_count": (T.NUM, lambda b: len(b.failed_units)),
                "crash_count": (T.NUM, lambda b: len(b.crashes)),
            },
        ),
        _subject(
            "crash",
            CrashReport,
            lambda snap: snap.boot.crashes if snap.boot else (),
            lambda f: f"{f['source']}:{f['kind']}",
        ),
    )
}

EVENT_TYPES: Mapping[str, T] = {
    "kind": T.STR,
    "source": T.STR,
    "severity": T.STR,
    "message": T.STR,
    "time_ms": T.NUM,
}
SUBJECT_NAMES = (*SUBJECTS, "event")


def event_facts(event: Event) -> Facts:
    return {
        "kind": event.kind,
        "source": event.source,
        "severity": event.severity.name.lower(),
        "message": event.message,
        "time_ms": event.time_ms,
        "__fields": event.fields,
    }


# -- host facts -----------------------------------------------------------------

_INVENTORY = {k: t for k, t in record_types(HostInventory).items() if k not in ("disks", "nics")}
HOST_TYPES: Mapping[str, T] = {
    **_INVENTORY,
    "agent_id": T.STR,
    "kernel_taint": T.NUM,
    "default_gateway": T.STR,
    "subnet": T.STR,
    "dns_server": T.STR,
    "dns_servers": T.NUM,
    "site": T.STR,
    "volume_max_used_pct": T.NUM,
    "system_volume_free_bytes": T.NUM,
}
_SYSTEM_MOUNTS = ("/", "C:\\", "C:")


def _subnet(snap: Snapshot) -> tuple[str, str]:
    """(default gateway, the IPv4 network of the interface that routes to it)."""
    default = next(
        (r for r in snap.routes if r.destination in ("default", "0.0.0.0/0") and r.family == 4),
        None,
    )
    if default is None:
        return "", ""
    for iface in snap.interfaces:
        if iface.name != default.interface:
            continue
        for addr in iface.addresses:
            if ":" in addr or addr.startswith("169.254."):
                continue
            network = _network(addr)
            if network is not None:
                return default.gateway, network
    return default.gateway, ""


@functools.lru_cache(maxsize=65_536)
def _network(addr: str) -> str | None:
    """ "10.1.2.3/24" → "10.1.2.0/24"; None if not an address. Cached: every snapshot of a
    host asks for the same one, and parsing it was a tenth of a quiet snapshot's rules."""
    try:
        return str(ipaddress.ip_interface(addr).network)
    except ValueError:
        return None


def host_facts(
    inv: HostInventory | None,
    agent_id: str,
    snap: Snapshot | None,
    site_of: Callable[[str], str] = lambda subnet: "",
) -> Facts:
    facts: Facts = _copy(inv, _INVENTORY) if inv else {k: _zero(t) for k, t in _INVENTORY.items()}
    facts["agent_id"] = agent_id
    facts["hostname"] = facts.get("hostname") or agent_id
    gateway, subnet = _subnet(snap) if snap else ("", "")
    servers = snap.dns.servers if snap and snap.dns else ()
    volumes = snap.volumes if snap else ()
    facts.update(
        kernel_taint=snap.kernel_taint if snap else 0,
        default_gateway=gateway,
        subnet=subnet,
        dns_server=servers[0] if servers else "",
        dns_servers=len(servers),
        site=site_of(subnet) if subnet else "",
        volume_max_used_pct=max((v.used_pct for v in volumes if not v.read_only), default=0.0),
        system_volume_free_bytes=next(
            (v.free_bytes for v in volumes if v.mount in _SYSTEM_MOUNTS), 0
        ),
    )
    return facts


def _zero(t: T) -> object:
    return {T.NUM: 0, T.STR: "", T.BOOL: False, T.LIST: ()}[t]


def subject_types(subject: str) -> dict[str, T]:
    """Every name a condition of this subject may read: its own facts over the host's."""
    own = EVENT_TYPES if subject == "event" else SUBJECTS[subject].types
    return {**HOST_TYPES, **{k: t for k, t in own.items() if not k.startswith("__")}}


def site_table(sites: Mapping[str, Iterable[str]]) -> Callable[[str], str]:
    """{site: [CIDR, ...]} → subnet → site (the longest matching prefix wins)."""
    nets = sorted(
        (
            (ipaddress.ip_network(c, strict=False), name)
            for name, cidrs in sites.items()
            for c in cidrs
        ),
        key=lambda pair: -pair[0].prefixlen,
    )

    # Cached: every snapshot of a host asks for its subnet's site again.
    @functools.lru_cache(maxsize=65_536)
    def site_of(subnet: str) -> str:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return ""
        for candidate, name in nets:
            if net.version == candidate.version and net.subnet_of(candidate):  # type: ignore[arg-type]
                return name
        return ""

    return site_of
