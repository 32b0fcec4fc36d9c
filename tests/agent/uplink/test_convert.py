"""Principle 11: every record field crosses the wire, agent encoder to collector decoder.

The records are built from dataclasses.fields(), not by hand, so a field added
to agent/records.py is set here automatically; a test then fails until both
convert modules carry it. Every value is non-zero on the wire (a zero would
decode the same whether or not the field was sent) and differs from the
dataclass default (a default would hide a decoder that forgot the field).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import types
import typing
from collections.abc import Mapping
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

from agent import records
from agent.records import AgentStats, Event, Priority, Snapshot
from agent.uplink.convert import batch_message, batch_payload, body_kind, encode_body
from agent.uplink.spool import SpoolRow
from collector.ingest.convert import _record, decode_records
from collector.store import RecordKind
from rdiag_proto.v1 import telemetry_pb2 as pb

_64BIT = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def proto_of(cls: type) -> Any:
    """The message of the same name in telemetry.proto (the declared catalog)."""
    return getattr(pb, cls.__name__).DESCRIPTOR


class Maker:
    """Builds a record with every field set to a distinct, non-zero, non-default value."""

    def __init__(self, flip_bools: bool = False) -> None:
        self._n = itertools.count(1)
        self.flip_bools = flip_bools  # the second variant: every bool False

    def value(self, tp: Any, owner: type, name: str) -> Any:
        origin = typing.get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
            return self.value(inner, owner, name)
        if origin is tuple:
            item = typing.get_args(tp)[0]
            return tuple(self.value(item, owner, name) for _ in range(2))
        if origin in (Mapping, dict) or tp is Mapping:
            key_tp, value_tp = typing.get_args(tp)
            # Map values have no field descriptor of their own: use large ints (uint64 maps).
            if value_tp is int:
                return {f"{name}-key-{i}": 2**40 + next(self._n) for i in range(2)}
            return {f"{name}-key-{i}": self.value(value_tp, owner, name) for i in range(2)}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            members = list(tp)
            return members[(next(self._n) % (len(members) - 1)) + 1]  # never the first
        if tp is bool:
            return not self.flip_bools
        if tp is int:
            n = next(self._n)
            field = proto_of(owner).fields_by_name[name]
            return 2**40 + n if field.type in _64BIT else 100 + n
        if tp is float:
            return next(self._n) + 0.125
        if tp is str:
            return f"{owner.__name__}.{name}-{next(self._n)}"
        if dataclasses.is_dataclass(tp):
            return self.make(tp)  # type: ignore[arg-type]
        raise AssertionError(f"no value maker for {tp!r} ({owner.__name__}.{name})")

    def make(self, cls: type) -> Any:
        hints = typing.get_type_hints(cls, vars(records))
        kwargs = {f.name: self.value(hints[f.name], cls, f.name) for f in dataclasses.fields(cls)}
        return cls(**kwargs)


def assert_fully_set(obj: Any, flip_bools: bool) -> None:
    """No field is zero (so absent on the wire) or equal to its default."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{type(obj).__name__}.{f.name}"
        if isinstance(value, bool):
            # True in one variant (non-zero on the wire), False in the other (differs
            # from a True default): together they catch an omission on either side.
            assert value is not flip_bools, where
            continue
        assert value, f"{where} is zero/empty"
        if f.default is not dataclasses.MISSING:
            assert value != f.default, f"{where} equals its default"
        if dataclasses.is_dataclass(value):
            assert_fully_set(value, flip_bools)
        if isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item):
                    assert_fully_set(item, flip_bools)


BODIES = (Snapshot, Event, AgentStats)


def all_bodies(flip_bools: bool) -> list[Any]:
    maker = Maker(flip_bools)
    return [maker.make(cls) for cls in BODIES]


def test_every_body_type_is_covered() -> None:
    assert set(typing.get_args(records.Body)) == set(BODIES)


# Every record class of agent/records.py but the spool's envelope (Record: seq, body).
RECORD_CLASSES = sorted(
    (
        cls
        for cls in vars(records).values()
        if isinstance(cls, type)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == records.__name__
        and cls is not records.Record
    ),
    key=lambda c: c.__name__,
)


def test_every_record_class_is_reachable_from_a_body() -> None:
    """A record class no body contains would never be converted or tested."""
    reached: set[type] = set()

    def walk(cls: type) -> None:
        if cls in reached:
            return
        reached.add(cls)
        for tp in typing.get_type_hints(cls, vars(records)).values():
            for arg in (tp, *typing.get_args(tp)):
                if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                    walk(arg)

    for body in BODIES:
        walk(body)
    assert set(RECORD_CLASSES) == reached


@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
def test_record_fields_and_proto_fields_are_the_same_set(cls: type) -> None:
    assert {f.name for f in dataclasses.fields(cls)} == set(proto_of(cls).fields_by_name)


@pytest.mark.parametrize("flip_bools", [False, True], ids=["bools-true", "bools-false"])
@pytest.mark.parametrize("priority", list(Priority))
def test_every_field_survives_encode_then_decode(priority: Priority, flip_bools: bool) -> None:
    for seq, body in enumerate(all_bodies(flip_bools), start=7):
        assert_fully_set(body, flip_bools)
        decoded = _record(pb.Record.FromString(_single(seq, priority, body)))
        assert decoded.body == body
        assert type(decoded.body) is type(body)
        assert decoded.priority is priority
        assert decoded.stored.seq == seq
        assert decoded.stored.kind == RecordKind(body_kind(body))


def _single(seq: int, priority: Priority, body: Any) -> bytes:
    """The bytes of one Record as it travels inside a batch."""
    payload = batch_payload([SpoolRow(seq, priority, body_kind(body), encode_body(body, priority))])
    (rec,) = pb.TelemetryBatch.FromString(payload).records
    return bytes(rec.SerializeToString())


def test_observed_time_comes_from_the_body() -> None:
    snap, event, stats = all_bodies(False)
    rows = [
        SpoolRow(i, Priority.NORMAL, body_kind(b), encode_body(b, Priority.NORMAL))
        for i, b in enumerate((snap, event, stats), start=1)
    ]
    out = decode_records(batch_message(rows, b"", 1, 0).batch, batch_payload(rows))
    assert [r.stored.observed_at_ms for r in out] == [
        snap.taken_at_ms,
        event.time_ms,
        stats.time_ms,
    ]


def test_a_batch_of_mixed_rows_decodes_in_order_with_its_seqs() -> None:
    bodies = all_bodies(False) + all_bodies(True)
    prios = [Priority.NORMAL, Priority.CRITICAL, Priority.LOW] * 2
    seqs = [3, 4, 9, 10, 200, 2**33]  # gaps are normal: acked, dropped or superseded records
    rows = [
        SpoolRow(s, p, body_kind(b), encode_body(b, p))
        for s, p, b in zip(seqs, prios, bodies, strict=True)
    ]
    payload = batch_payload(rows)

    parsed = pb.TelemetryBatch.FromString(payload)
    assert [r.seq for r in parsed.records] == seqs
    assert [r.WhichOneof("body") for r in parsed.records] == [
        "snapshot", "event", "stats", "snapshot", "event", "stats"]  # fmt: skip
    assert [int(r.priority) for r in parsed.records] == [int(p) for p in prios]

    msg = batch_message(rows, payload, 1, 0)  # codec none: the payload as is
    assert (msg.batch.seq_first, msg.batch.seq_last, msg.batch.record_count) == (3, 2**33, 6)
    decoded = decode_records(msg.batch, payload)
    assert [d.stored.seq for d in decoded] == seqs
    assert [d.body for d in decoded] == bodies
    assert [d.priority for d in decoded] == prios


def test_stored_payload_is_the_record_with_its_seq() -> None:
    """The collector keeps each Record's bytes: they must parse back to the same record."""
    body = all_bodies(False)[0]
    rows = [SpoolRow(42, Priority.NORMAL, "snapshot", encode_body(body, Priority.NORMAL))]
    (decoded,) = decode_records(batch_message(rows, b"", 1, 0).batch, batch_payload(rows))
    again = _record(pb.Record.FromString(decoded.stored.payload))
    assert again.body == body
    assert again.stored.seq == 42


def test_an_empty_snapshot_round_trips_with_no_inventory() -> None:
    body = Snapshot(taken_at_ms=1)
    rows = [SpoolRow(1, Priority.NORMAL, "snapshot", encode_body(body, Priority.NORMAL))]
    (decoded,) = decode_records(batch_message(rows, b"", 1, 0).batch, batch_payload(rows))
    assert decoded.body == body
    assert isinstance(decoded.body, Snapshot) and decoded.body.inventory is None


def test_batch_payload_of_no_rows_is_an_empty_batch() -> None:
    assert batch_payload([]) == b""
    assert list(pb.TelemetryBatch.FromString(b"").records) == []
