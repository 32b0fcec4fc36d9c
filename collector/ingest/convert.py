"""Protobuf → records, with validation. The only collector module that imports *_pb2.

Everything a misbehaving or hostile agent could send is checked here, and a
problem becomes BadBatch with a sentence that says what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from agent.records import (
    AgentStats,
    Body,
    Event,
    HostInventory,
    Priority,
    ProbeError,
    ProbeTiming,
    Severity,
    SmartDevice,
    Snapshot,
    Volume,
)
from collector.store import RecordKind, StoredRecord
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb

MAX_RECORDS_PER_BATCH = 10_000
_SEVERITIES = frozenset(int(s) for s in Severity)
_PRIORITIES = frozenset(int(p) for p in Priority)


class BadBatch(ValueError):
    """The batch cannot be accepted as sent."""


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    stored: StoredRecord
    priority: Priority
    body: Body


def inventory(msg: pb.HostInventory) -> HostInventory:
    return HostInventory(
        hostname=msg.hostname,
        os_family=msg.os_family,
        os_name=msg.os_name,
        os_version=msg.os_version,
        kernel=msg.kernel,
        arch=msg.arch,
        cpu_model=msg.cpu_model,
        cpu_cores=msg.cpu_cores,
        memory_bytes=msg.memory_bytes,
        boot_time_unix=msg.boot_time_unix,
        machine_id=msg.machine_id,
        agent_version=msg.agent_version,
    )


def snapshot(msg: pb.Snapshot) -> Snapshot:
    return Snapshot(
        taken_at_ms=msg.taken_at_ms,
        inventory=inventory(msg.inventory) if msg.HasField("inventory") else None,
        volumes=tuple(
            Volume(
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
            for v in msg.volumes
        ),
        smart=tuple(
            SmartDevice(
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
            for d in msg.smart
        ),
        errors=tuple(ProbeError(e.probe, e.kind, e.message) for e in msg.errors),
        timings=tuple(ProbeTiming(t.probe, t.wall_seconds, t.cpu_seconds) for t in msg.timings),
    )


def event(msg: pb.Event) -> Event:
    if int(msg.severity) not in _SEVERITIES:
        raise BadBatch(f"event has unknown severity {msg.severity}")
    return Event(
        time_ms=msg.time_ms,
        source=msg.source,
        kind=msg.kind,
        severity=Severity(msg.severity),
        message=msg.message,
        fields=dict(msg.fields),
    )


def stats(msg: pb.AgentStats) -> AgentStats:
    return AgentStats(
        time_ms=msg.time_ms,
        spool_records=msg.spool_records,
        spool_bytes=msg.spool_bytes,
        dropped=dict(msg.dropped),
    )


def _record(rec: pb.Record) -> DecodedRecord:
    if int(rec.priority) not in _PRIORITIES:
        raise BadBatch(f"record {rec.seq} has unknown priority {rec.priority}")
    body: Body
    match rec.WhichOneof("body"):
        case "snapshot":
            body, kind, at = snapshot(rec.snapshot), RecordKind.SNAPSHOT, rec.snapshot.taken_at_ms
        case "event":
            body, kind, at = event(rec.event), RecordKind.EVENT, rec.event.time_ms
        case "stats":
            body, kind, at = stats(rec.stats), RecordKind.STATS, rec.stats.time_ms
        case _:
            raise BadBatch(f"record {rec.seq} has no body")
    return DecodedRecord(
        StoredRecord(rec.seq, kind, at, rec.SerializeToString()), Priority(rec.priority), body
    )


def check_envelope(batch: cpb.Batch, last_seq_in_stream: int) -> None:
    """Checks that need no decoding: sequence range and count."""
    if batch.seq_first < 1 or batch.seq_last < batch.seq_first:
        raise BadBatch(f"invalid sequence range {batch.seq_first}-{batch.seq_last}")
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


def decode_records(batch: cpb.Batch, payload: bytes) -> list[DecodedRecord]:
    """Parse the decompressed payload and check it matches the envelope."""
    try:
        parsed = pb.TelemetryBatch.FromString(payload)
    except DecodeError as exc:
        raise BadBatch(f"payload is not a TelemetryBatch: {exc}") from None
    records = [_record(r) for r in parsed.records]
    if len(records) != batch.record_count:
        raise BadBatch(
            f"payload holds {len(records)} records, the batch declares {batch.record_count}"
        )
    previous = batch.seq_first - 1
    for r in records:
        if r.stored.seq <= previous or r.stored.seq > batch.seq_last:
            raise BadBatch(
                f"record seq {r.stored.seq} is out of order or outside "
                f"{batch.seq_first}-{batch.seq_last}"
            )
        previous = r.stored.seq
    if records[0].stored.seq != batch.seq_first or records[-1].stored.seq != batch.seq_last:
        raise BadBatch("the first and last record do not match seq_first and seq_last")
    return records


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
