"""Protobuf → records, with validation. The only collector module that imports *_pb2.

Everything a misbehaving or hostile agent could send is checked here, and a
problem becomes BadBatch with a sentence that says what was wrong.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from agent.common.shape import Kind, shape
from agent.records import AgentStats, Body, Event, HostInventory, Priority, Severity, Snapshot
from collector.store import RecordKind, StoredRecord
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb

MAX_RECORDS_PER_BATCH = 10_000
# The store keeps integers in signed 64-bit columns (and cpu_cores in a 32-bit
# one), while the wire has uint64/uint32: a larger value would fail the commit,
# which an agent retries for ever. Refuse it here, where it is the data's fault.
MAX_INT64 = 2**63 - 1
MAX_INT32 = 2**31 - 1
_PRIORITIES = frozenset(int(p) for p in Priority)
R = TypeVar("R")


class BadBatch(ValueError):
    """The batch cannot be accepted as sent."""


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    stored: StoredRecord
    priority: Priority
    body: Body


# Per-field limits tighter than int64, keyed "Record.field": store columns of 32 bits.
_INT_LIMITS: dict[str, int] = {"HostInventory.cpu_cores": MAX_INT32}


def _check_text(value: str, where: str) -> str:
    # PostgreSQL text cannot hold NUL; these strings end up in text columns
    # (hosts) or in ticket text, so a NUL would fail the commit for ever.
    if "\x00" in value:
        raise BadBatch(f"{where} contains a NUL character")
    return value


def _check_scalar(value: object, kind: type, where: str, limit: int) -> object:
    if kind is str:
        assert isinstance(value, str)
        return _check_text(value, where)
    if kind is int:
        assert isinstance(value, int)
        if value > limit:
            raise BadBatch(f"{where} {value} is too large (at most {limit})")
    elif kind is float:
        assert isinstance(value, float)
        if not math.isfinite(value):
            raise BadBatch(f"{where} is not a finite number ({value})")
    return value


def from_pb(msg: Message, cls: type[R], where: str) -> R:
    """A message as its record, every value checked; `where` names it in errors
    ("snapshot.volumes[2].mount contains a NUL character").

    The checks run in a decoder compiled once per record class (_decoder): ingest decodes
    every record of every batch, and a 2 KB snapshot holds about 40 nested records. Only
    when that finds a bad value does the slow walk below run, to say where it is.
    """
    try:
        return _decoder(cls)(msg)  # type: ignore[return-value]
    except _Bad:
        _located(msg, cls, where)
        raise BadBatch(f"{where}: a value is out of range") from None


class _Bad(Exception):
    """A compiled decoder found a bad value; _located says which."""


_DECODERS: dict[type, Callable[[Message], object]] = {}


Parts = defaultdict[str, dict[bytes, object]]  # "devices", "inventory.disks" → bytes → record


class SnapshotMemo:
    """The parts of one agent's recent snapshots, by their wire bytes.

    Most of a host's snapshot repeats its last one (devices, drivers, routes, addresses,
    a quiet disk's SMART data), and decoding and checking those parts again was the
    largest cost of ingest after the rules (tests/bench/bench_ingest.py, realistic load).
    A part that arrives as the same bytes as before decodes to the same record, so it is
    taken from here; records are frozen, so sharing one between snapshots is safe.
    Bounded by what the host reports: a field's parts are forgotten once they number
    more than a few times what one snapshot has (parts that change every cycle, such as
    probe timings, come and go). Belongs to one stream, and is dropped with it.
    """

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: Parts = defaultdict(dict)


def _keep(parts: dict[bytes, object], key: bytes, record: object) -> object:
    parts[key] = record
    return record


def _bounded(parts: dict[bytes, object], count: int) -> dict[bytes, object]:
    """parts, emptied first when it holds far more than the count one snapshot sends."""
    if len(parts) > 4 * count + 16:
        parts.clear()
    return parts


_MEMO_DECODERS: dict[tuple[type, str], Callable[[Message, Parts], object]] = {}


def _memo_decoder(cls: type, path: str = "") -> Callable[[Message, Parts], object]:
    found = _MEMO_DECODERS.get((cls, path))
    if found is None:
        found = _MEMO_DECODERS[(cls, path)] = _compile(cls, memo=path)
    return found


def _decoder(cls: type) -> Callable[[Message], object]:
    found = _DECODERS.get(cls)
    if found is None:
        found = _DECODERS[cls] = _compile(cls)
    return found


def _compile(cls: type, memo: str | None = None) -> Callable[..., object]:
    """Python source for one class's checks and constructor call, exec'd once: no
    per-field dispatch, no error text built unless something is wrong.

    memo (the path of this class's message in the snapshot, "" for the snapshot itself):
    the decoder takes (message, parts) and looks its message fields up in parts
    (SnapshotMemo.parts) by their bytes before decoding them, keeping what it decoded."""
    env: dict[str, object] = {"_Bad": _Bad, "_fin": math.isfinite, "_cls": cls,
                              "_keep": _keep, "_bounded": _bounded}  # fmt: skip
    body: list[str] = []
    names: list[str] = []
    for f in shape(cls):
        n, v = f.name, f"v_{f.name}"
        names.append(v)
        match f.kind:
            case Kind.SCALAR if f.type is str:
                body += [f"{v} = m.{n}", f"if '\\x00' in {v}: raise _Bad"]
            case Kind.SCALAR if f.type is int:
                limit = _INT_LIMITS.get(f"{cls.__name__}.{n}", MAX_INT64)
                body += [f"{v} = m.{n}", f"if {v} > {limit}: raise _Bad"]
            case Kind.SCALAR if f.type is float:
                body += [f"{v} = m.{n}", f"if not _fin({v}): raise _Bad"]
            case Kind.SCALAR:
                body += [f"{v} = m.{n}"]
            case Kind.REPEATED_SCALAR if f.type is str:
                body += [f"{v} = tuple(m.{n})", f"if any('\\x00' in x for x in {v}): raise _Bad"]
            case Kind.REPEATED_SCALAR:
                body += [f"{v} = tuple(m.{n})"]
            case Kind.ENUM:
                env[f"_E_{n}"], env[f"_T_{n}"] = _ENUM_VALUES[f.type], f.type
                body += [f"{v} = m.{n}", f"if {v} not in _E_{n}: raise _Bad", f"{v} = _T_{n}({v})"]
            case Kind.MAP:
                check = "'\\x00' in x" if f.type is str else f"x > {MAX_INT64}"
                body += [
                    f"{v} = dict(m.{n})",
                    f"if any('\\x00' in k for k in {v}) or any({check} for x in {v}.values()):",
                    "    raise _Bad",
                ]
            case Kind.MESSAGE | Kind.REPEATED_MESSAGE if memo is not None:
                path = f"{memo}{n}"
                if any(g.kind in (Kind.MESSAGE, Kind.REPEATED_MESSAGE) for g in shape(f.type)):
                    env[f"_D_{n}"] = _memo_decoder(f.type, f"{path}.")
                    make = f"_D_{n}(x, parts)"
                else:
                    env[f"_D_{n}"] = _decoder(f.type)
                    make = f"_D_{n}(x)"
                # A part seen before is the record it was; a new one is decoded and kept.
                get = f"(o[k] if (k := x.SerializeToString()) in o else _keep(o, k, {make}))"
                if f.kind == Kind.REPEATED_MESSAGE:
                    body += [f"o = _bounded(parts['{path}'], len(m.{n}))",
                             f"{v} = tuple([{get} for x in m.{n}])"]  # fmt: skip
                else:
                    body += [f"o, x = _bounded(parts['{path}'], 1), m.{n}"]
                    body += [f"{v} = {get} if m.HasField('{n}') else None" if f.optional
                             else f"{v} = {get}"]  # fmt: skip
            case Kind.MESSAGE:
                env[f"_D_{n}"] = _decoder(f.type)
                if f.optional:
                    body += [f"{v} = _D_{n}(m.{n}) if m.HasField('{n}') else None"]
                else:
                    body += [f"{v} = _D_{n}(m.{n})"]
            case Kind.REPEATED_MESSAGE:
                env[f"_D_{n}"] = _decoder(f.type)
                body += [f"{v} = tuple(map(_D_{n}, m.{n}))"]
    source = f"def decode(m{'' if memo is None else ', parts'}):\n" + "".join(
        f"    {line}\n" for line in body
    )
    source += f"    return _cls({', '.join(names)})\n"
    exec(compile(source, f"<decoder {cls.__name__}>", "exec"), env)
    decode = env["decode"]
    assert callable(decode)
    return decode


def _located(msg: Message, cls: type[R], where: str) -> R:
    """The field-by-field walk that raises BadBatch naming the bad value's path."""
    values: dict[str, object] = {}
    name = cls.__name__
    for f in shape(cls):
        at = f"{where}.{f.name}"
        value = getattr(msg, f.name)
        match f.kind:
            case Kind.SCALAR:
                limit = _INT_LIMITS.get(f"{name}.{f.name}", MAX_INT64)
                values[f.name] = _check_scalar(value, f.type, at, limit)
            case Kind.REPEATED_SCALAR:
                values[f.name] = tuple(
                    _check_scalar(v, f.type, f"{at}[{i}]", MAX_INT64) for i, v in enumerate(value)
                )
            case Kind.ENUM:
                if int(value) not in _ENUM_VALUES[f.type]:
                    raise BadBatch(f"{at} has unknown value {int(value)}")
                values[f.name] = f.type(value)
            case Kind.MAP:
                checked: dict[str, object] = {}
                for key, item in value.items():
                    _check_text(key, f"{at} key")
                    checked[key] = _check_scalar(item, f.type, f"{at}[{key!r}]", MAX_INT64)
                values[f.name] = checked
            case Kind.MESSAGE:
                if not f.optional or msg.HasField(f.name):
                    values[f.name] = _located(value, f.type, at)
                else:
                    values[f.name] = None
            case Kind.REPEATED_MESSAGE:
                values[f.name] = tuple(
                    _located(item, f.type, f"{at}[{i}]") for i, item in enumerate(value)
                )
    return cls(**values)


_ENUM_VALUES: dict[type, frozenset[int]] = {
    Severity: frozenset(int(s) for s in Severity),
    Priority: frozenset(int(p) for p in Priority),
}


def inventory(msg: pb.HostInventory) -> HostInventory:
    return from_pb(msg, HostInventory, "inventory")


def snapshot(msg: pb.Snapshot, memo: SnapshotMemo | None = None) -> Snapshot:
    """memo: the stream's recent snapshot parts (the same record, decoded faster)."""
    if memo is None:
        return from_pb(msg, Snapshot, "snapshot")
    try:
        snap = _memo_decoder(Snapshot)(msg, memo.parts)
    except _Bad:
        _located(msg, Snapshot, "snapshot")
        raise BadBatch("snapshot: a value is out of range") from None
    assert isinstance(snap, Snapshot)
    return snap


def event(msg: pb.Event) -> Event:
    return from_pb(msg, Event, "event")


def stats(msg: pb.AgentStats) -> AgentStats:
    return from_pb(msg, AgentStats, "stats")


def _record(rec: pb.Record, memo: SnapshotMemo | None = None) -> DecodedRecord:
    if int(rec.priority) not in _PRIORITIES:
        raise BadBatch(f"record {rec.seq} has unknown priority {rec.priority}")
    body: Body
    match rec.WhichOneof("body"):
        case "snapshot":
            body, kind = snapshot(rec.snapshot, memo), RecordKind.SNAPSHOT
            at = rec.snapshot.taken_at_ms
        case "event":
            body, kind, at = event(rec.event), RecordKind.EVENT, rec.event.time_ms
        case "stats":
            body, kind, at = stats(rec.stats), RecordKind.STATS, rec.stats.time_ms
        case _:
            raise BadBatch(f"record {rec.seq} has no body")
    return DecodedRecord(
        StoredRecord(rec.seq, kind, at, rec.SerializeToString()), Priority(rec.priority), body
    )


def stored_body(payload: bytes, memo: SnapshotMemo | None = None) -> Body:
    """A stored record's payload (a serialized Record) back as a record, with the same
    checks as at ingest; BadBatch when it does not decode."""
    try:
        rec = pb.Record.FromString(payload)
    except DecodeError as exc:
        raise BadBatch(f"stored record is not a Record: {exc}") from None
    return _record(rec, memo).body


def check_envelope(batch: cpb.Batch, last_seq_in_stream: int) -> None:
    """Checks that need no decoding: sequence range and count."""
    if batch.seq_first < 1 or batch.seq_last < batch.seq_first or batch.seq_last > MAX_INT64:
        raise BadBatch(
            f"invalid sequence range {batch.seq_first}-{batch.seq_last} "
            f"(expected 1 <= seq_first <= seq_last <= {MAX_INT64})"
        )
    if batch.seq_first <= last_seq_in_stream:
        raise BadBatch(
            f"sequence {batch.seq_first} is not after {last_seq_in_stream}, "
            "the last one sent on this stream (out of order)"
        )
    if (
        not 1
        <= batch.record_count
        <= min(MAX_RECORDS_PER_BATCH, batch.seq_last - batch.seq_first + 1)
    ):
        raise BadBatch(
            f"record_count {batch.record_count} does not fit range "
            f"{batch.seq_first}-{batch.seq_last}"
        )


def decode_records(
    batch: cpb.Batch, payload: bytes, memo: SnapshotMemo | None = None
) -> list[DecodedRecord]:
    """Parse the decompressed payload and check it matches the envelope.

    memo: the stream's SnapshotMemo (the same records as without it, decoded faster)."""
    try:
        parsed = pb.TelemetryBatch.FromString(payload)
    except DecodeError as exc:
        raise BadBatch(f"payload is not a TelemetryBatch: {exc}") from None
    if len(parsed.records) != batch.record_count:
        raise BadBatch(
            f"payload holds {len(parsed.records)} records, "
            f"the batch declares record_count {batch.record_count}"
        )
    if not parsed.records:
        raise BadBatch("the batch holds no records")
    previous = batch.seq_first - 1
    for rec in parsed.records:
        if rec.seq <= previous or rec.seq > batch.seq_last:
            raise BadBatch(
                f"record sequence {rec.seq} is out of order or outside "
                f"{batch.seq_first}-{batch.seq_last}"
            )
        previous = rec.seq
    first, last = parsed.records[0].seq, parsed.records[-1].seq
    if first != batch.seq_first or last != batch.seq_last:
        raise BadBatch(
            f"records run from sequence {first} to {last}, "
            f"the batch declares {batch.seq_first}-{batch.seq_last}"
        )
    return [_record(r, memo) for r in parsed.records]


def welcome(
    *,
    collector_version: str,
    protocol_version: int,
    acked_seq: int,
    max_batch_bytes: int,
    preferred_dictionary_id: int,
    interval_seconds: int,
    probes: tuple[str, ...],
) -> cpb.CollectorMessage:
    return cpb.CollectorMessage(
        welcome=cpb.Welcome(
            collector_version=collector_version,
            protocol_version=protocol_version,
            acked_seq=acked_seq,
            max_batch_bytes=max_batch_bytes,
            preferred_dictionary_id=preferred_dictionary_id,
            config=cpb.ConfigUpdate(interval_seconds=interval_seconds, enabled_probes=list(probes)),
        )
    )


def ack(up_to_seq: int) -> cpb.CollectorMessage:
    return cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=up_to_seq))
