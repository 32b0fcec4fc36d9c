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
# The store keeps integers in signed 64-bit columns (and cpu_cores in a 32-bit
# one), while the wire has uint64/uint32: a larger value would fail the commit,
# which an agent retries for ever. Refuse it here, where it is the data's fault.
MAX_INT64 = 2**63 - 1
MAX_INT32 = 2**31 - 1
_SEVERITIES = frozenset(int(s) for s in Severity)
_PRIORITIES = frozenset(int(p) for p in Priority)


class BadBatch(ValueError):
    """The batch cannot be accepted as sent."""


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    stored: StoredRecord
    priority: Priority
    body: Body


def _int(value: int, limit: int, what: str) -> int:
    if value > limit:
        raise BadBatch(f"{what} {value} is too large (at most {limit})")
    return value


def _text(value: str, what: str) -> str:
    # PostgreSQL text cannot hold NUL; these strings end up in text columns
    # (hosts) or in ticket text, so a NUL would fail the commit for ever.
    if "\x00" in value:
        raise BadBatch(f"{what} contains a NUL character")
    return value


def inventory(msg: pb.HostInventory) -> HostInventory:
    return HostInventory(
        hostname=_text(msg.hostname, "inventory hostname"),
        os_family=_text(msg.os_family, "inventory os_family"),
        os_name=_text(msg.os_name, "inventory os_name"),
        os_version=_text(msg.os_version, "inventory os_version"),
        kernel=_text(msg.kernel, "inventory kernel"),
        arch=_text(msg.arch, "inventory arch"),
        cpu_model=_text(msg.cpu_model, "inventory cpu_model"),
        cpu_cores=_int(msg.cpu_cores, MAX_INT32, "inventory cpu_cores"),
        memory_bytes=_int(msg.memory_bytes, MAX_INT64, "inventory memory_bytes"),
        boot_time_unix=msg.boot_time_unix,
        machine_id=_text(msg.machine_id, "inventory machine_id"),
        agent_version=_text(msg.agent_version, "inventory agent_version"),
    )


def snapshot(msg: pb.Snapshot) -> Snapshot:
    return Snapshot(
        taken_at_ms=msg.taken_at_ms,
        inventory=inventory(msg.inventory) if msg.HasField("inventory") else None,
        volumes=tuple(
            Volume(
                mount=_text(v.mount, "volume mount"),
                device=_text(v.device, "volume device"),
                fstype=_text(v.fstype, "volume fstype"),
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
                device=_text(d.device, "SMART device"),
                protocol=_text(d.protocol, "SMART protocol"),
                model=_text(d.model, "SMART model"),
                serial=_text(d.serial, "SMART serial"),
                firmware=_text(d.firmware, "SMART firmware"),
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
        spool_records=_int(msg.spool_records, MAX_INT64, "stats spool_records"),
        spool_bytes=_int(msg.spool_bytes, MAX_INT64, "stats spool_bytes"),
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


def decode_records(batch: cpb.Batch, payload: bytes) -> list[DecodedRecord]:
    """Parse the decompressed payload and check it matches the envelope."""
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
    return [_record(r) for r in parsed.records]


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
