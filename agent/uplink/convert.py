"""Records → protobuf bytes. The only agent module that imports the generated *_pb2 code."""

from __future__ import annotations

from collections.abc import Sequence

from agent.records import (
    AgentStats,
    Body,
    Event,
    HostInventory,
    Priority,
    ProbeError,
    ProbeTiming,
    SmartDevice,
    Snapshot,
    Volume,
)
from agent.uplink.spool import SpoolRow
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb


def inventory_pb(inv: HostInventory) -> pb.HostInventory:
    return pb.HostInventory(
        hostname=inv.hostname,
        os_family=inv.os_family,
        os_name=inv.os_name,
        os_version=inv.os_version,
        kernel=inv.kernel,
        arch=inv.arch,
        cpu_model=inv.cpu_model,
        cpu_cores=inv.cpu_cores,
        memory_bytes=inv.memory_bytes,
        boot_time_unix=inv.boot_time_unix,
        machine_id=inv.machine_id,
        agent_version=inv.agent_version,
    )


def _volume(v: Volume) -> pb.Volume:
    return pb.Volume(
        mount=v.mount,
        device=v.device,
        fstype=v.fstype,
        total_bytes=v.total_bytes,
        used_bytes=v.used_bytes,
        free_bytes=v.free_bytes,
        inodes_total=v.inodes_total,
        inodes_free=v.inodes_free,
        read_only=v.read_only,
    )


def _smart(d: SmartDevice) -> pb.SmartDevice:
    return pb.SmartDevice(
        device=d.device,
        protocol=d.protocol,
        model=d.model,
        serial=d.serial,
        firmware=d.firmware,
        health_known=d.health_known,
        health_passed=d.health_passed,
        temperature_c=d.temperature_c,
        power_on_hours=d.power_on_hours,
        reallocated_sectors=d.reallocated_sectors,
        pending_sectors=d.pending_sectors,
        offline_uncorrectable=d.offline_uncorrectable,
        nvme_critical_warning=d.nvme_critical_warning,
        nvme_percentage_used=d.nvme_percentage_used,
        smartctl_exit_status=d.smartctl_exit_status,
    )


def _error(e: ProbeError) -> pb.ProbeError:
    return pb.ProbeError(probe=e.probe, kind=e.kind, message=e.message)


def _timing(t: ProbeTiming) -> pb.ProbeTiming:
    return pb.ProbeTiming(probe=t.probe, wall_seconds=t.wall_seconds, cpu_seconds=t.cpu_seconds)


def snapshot_pb(s: Snapshot) -> pb.Snapshot:
    msg = pb.Snapshot(
        taken_at_ms=s.taken_at_ms,
        volumes=[_volume(v) for v in s.volumes],
        smart=[_smart(d) for d in s.smart],
        errors=[_error(e) for e in s.errors],
        timings=[_timing(t) for t in s.timings],
    )
    if s.inventory is not None:
        msg.inventory.CopyFrom(inventory_pb(s.inventory))
    return msg


def event_pb(e: Event) -> pb.Event:
    return pb.Event(
        time_ms=e.time_ms,
        source=e.source,
        kind=e.kind,
        severity=pb.Severity.ValueType(int(e.severity)),
        message=e.message,
        fields=dict(e.fields),
    )


def stats_pb(s: AgentStats) -> pb.AgentStats:
    return pb.AgentStats(
        time_ms=s.time_ms,
        spool_records=s.spool_records,
        spool_bytes=s.spool_bytes,
        dropped=dict(s.dropped),
    )


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


def _varint(n: int) -> bytes:
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
    return _RECORD_SEQ_TAG + _varint(seq) + body


def batch_payload(rows: Sequence[SpoolRow]) -> bytes:
    """Serialized TelemetryBatch of the spooled rows, uncompressed."""
    parts: list[bytes] = []
    for row in rows:
        rec = record_bytes(row.seq, row.body)
        parts += (_BATCH_RECORDS_TAG, _varint(len(rec)), rec)
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
