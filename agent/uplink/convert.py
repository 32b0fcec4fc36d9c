"""Records → protobuf bytes. The only agent module that imports the generated *_pb2 code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from google.protobuf.message import Message

from agent.common.shape import Kind, shape
from agent.records import AgentStats, Body, Event, HostInventory, Priority, Snapshot
from agent.uplink.spool import SpoolRow
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb

M = TypeVar("M", bound=Message)


def to_pb(record: object, message: type[M]) -> M:
    """A record as its protobuf message: fields copied by name (agent/common/shape.py)."""
    values: dict[str, object] = {}
    for f in shape(type(record)):
        value = getattr(record, f.name)
        match f.kind:
            case Kind.SCALAR | Kind.REPEATED_SCALAR:
                values[f.name] = value
            case Kind.ENUM:
                values[f.name] = int(value)
            case Kind.MAP:
                values[f.name] = dict(value)
            case Kind.MESSAGE:
                if value is not None:
                    values[f.name] = to_pb(value, _message_class(f.type))
            case Kind.REPEATED_MESSAGE:
                cls = _message_class(f.type)
                values[f.name] = [to_pb(item, cls) for item in value]
    return message(**values)


def _message_class(record_cls: type) -> type[Message]:
    # Every record class has the message of the same name in telemetry.proto.
    cls: type[Message] = getattr(pb, record_cls.__name__)
    return cls


def inventory_pb(inv: HostInventory) -> pb.HostInventory:
    return to_pb(inv, pb.HostInventory)


def snapshot_pb(s: Snapshot) -> pb.Snapshot:
    return to_pb(s, pb.Snapshot)


def event_pb(e: Event) -> pb.Event:
    return to_pb(e, pb.Event)


def stats_pb(s: AgentStats) -> pb.AgentStats:
    return to_pb(s, pb.AgentStats)


def body_kind(body: Body) -> str:
    match body:
        case Snapshot():
            return "snapshot"
        case Event():
            return "event"
        case AgentStats():
            return "stats"


def encode_body(body: Body, priority: Priority) -> bytes:
    """A Record without its seq: what the spool stores (the spool assigns the seq)."""
    rec = pb.Record(priority=pb.Priority.ValueType(int(priority)))
    match body:
        case Snapshot():
            rec.snapshot.CopyFrom(snapshot_pb(body))
        case Event():
            rec.event.CopyFrom(event_pb(body))
        case AgentStats():
            rec.stats.CopyFrom(stats_pb(body))
    return bytes(rec.SerializeToString())


# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/):
# a message's encoding is the concatenation of its fields in any order, and a
# repeated message field is a run of (tag, length, bytes). So a spooled
# Record plus a prepended seq field is a complete Record, and a run of those
# is a complete TelemetryBatch: batches are assembled without decoding.
_RECORD_SEQ_TAG = b"\x08"  # field 1 (seq), wire type 0 (varint)
_BATCH_RECORDS_TAG = b"\x0a"  # field 1 (records), wire type 2 (length-delimited)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def record_bytes(seq: int, body: bytes) -> bytes:
    return _RECORD_SEQ_TAG + varint(seq) + body


def batch_payload(rows: Sequence[SpoolRow]) -> bytes:
    """Serialized TelemetryBatch of the spooled rows, uncompressed."""
    parts: list[bytes] = []
    for row in rows:
        rec = record_bytes(row.seq, row.body)
        parts += (_BATCH_RECORDS_TAG, varint(len(rec)), rec)
    return b"".join(parts)


def hello_message(
    *,
    agent_id: str,
    epoch: str,
    inventory: HostInventory | None,
    agent_version: str,
    capabilities: Sequence[str],
    dictionaries: Sequence[int],
    protocol_version: int,
) -> cpb.AgentMessage:
    hello = cpb.Hello(
        agent_id=agent_id,
        spool_epoch=epoch,
        agent_version=agent_version,
        capabilities=list(capabilities),
        zstd_dictionaries=list(dictionaries),
        protocol_version=protocol_version,
    )
    if inventory is not None:
        hello.host.CopyFrom(inventory_pb(inventory))
    return cpb.AgentMessage(hello=hello)


def batch_message(
    rows: Sequence[SpoolRow], payload: bytes, codec: int, dictionary_id: int
) -> cpb.AgentMessage:
    return cpb.AgentMessage(
        batch=cpb.Batch(
            seq_first=rows[0].seq,
            seq_last=rows[-1].seq,
            codec=cpb.Codec.ValueType(codec),
            dictionary_id=dictionary_id,
            payload=payload,
            record_count=len(rows),
        )
    )
