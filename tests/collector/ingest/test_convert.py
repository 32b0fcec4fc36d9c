"""collector.ingest.convert: protobuf → records, and every check a bad batch must fail.

Payloads are built with the agent's own encoder (agent.uplink.convert), so
what passes here is what a real agent sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from agent.records import (
    AgentStats,
    Body,
    Event,
    Priority,
    ProbeError,
    ProbeTiming,
    Severity,
    SmartDevice,
    Snapshot,
    Volume,
)
from agent.uplink.convert import (
    batch_payload,
    body_kind,
    encode_body,
    event_pb,
    inventory_pb,
    record_bytes,
    snapshot_pb,
    stats_pb,
)
from agent.uplink.spool import SpoolRow
from collector.ingest import convert
from collector.ingest.convert import MAX_INT32, MAX_INT64, MAX_RECORDS_PER_BATCH, BadBatch
from collector.store import RecordKind
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb
from tests.helpers.records import INVENTORY

GIB = 1024**3

# Every field set to something other than its default, so a dropped field shows.
VOLUME = Volume("/data", "/dev/sdb1", "ext4", 100 * GIB, 97 * GIB, 3 * GIB, 1000, 500, True)
SMART = SmartDevice(
    device="/dev/sda",
    protocol="ATA",
    model="WDC WD10EZEX",
    serial="WD-WCC6Y0",
    firmware="01.01A01",
    health_known=True,
    health_passed=False,
    temperature_c=-3,
    power_on_hours=41_000,
    reallocated_sectors=12,
    pending_sectors=3,
    offline_uncorrectable=2,
    nvme_critical_warning=1,
    nvme_percentage_used=7,
    smartctl_exit_status=8,
)
SNAPSHOT = Snapshot(
    taken_at_ms=1_700_000_000_123,
    inventory=INVENTORY,
    volumes=(VOLUME, dataclasses.replace(VOLUME, mount="/", read_only=False)),
    smart=(SMART,),
    errors=(ProbeError("smart", "timeout", "smartctl took more than 10 s"),),
    timings=(ProbeTiming("disk", 0.25, 0.125),),
)
EVENT = Event(
    1_700_000_000_456, "kernel", "disk.io_error", Severity.CRITICAL, "I/O error", {"dev": "sda"}
)
STATS = AgentStats(1_700_000_000_789, 12, 34_567, {"spool_full_low": 3, "rejected": 1})


def _rows(seqs: Sequence[int], bodies: Sequence[Body] | None = None) -> list[SpoolRow]:
    bodies = bodies or [SNAPSHOT] * len(seqs)
    out = []
    for seq, body in zip(seqs, bodies, strict=True):
        prio = Priority.CRITICAL if isinstance(body, Event) else Priority.NORMAL
        out.append(SpoolRow(seq, prio, body_kind(body), encode_body(body, prio)))
    return out


def _batch(first: int, last: int, count: int | None = None) -> cpb.Batch:
    return cpb.Batch(
        seq_first=first,
        seq_last=last,
        codec=cpb.CODEC_ZSTD,
        record_count=last - first + 1 if count is None else count,
    )


def _payload(*records: pb.Record) -> bytes:
    return pb.TelemetryBatch(records=list(records)).SerializeToString()


def _bad(message: str) -> Any:
    return pytest.raises(BadBatch, match=message)


# -- check_envelope ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "count", "after"),
    [
        (1, 1, 1, 0),
        (11, 13, 3, 10),
        (11, 20, 2, 5),  # gaps: the spool dropped records in between
        (1, MAX_RECORDS_PER_BATCH, MAX_RECORDS_PER_BATCH, 0),
        (MAX_INT64, MAX_INT64, 1, 0),
    ],
)
def test_envelope_accepts_a_well_formed_batch(first: int, last: int, count: int, after: int):
    convert.check_envelope(_batch(first, last, count), after)


@pytest.mark.parametrize(
    ("batch", "after", "message"),
    [
        pytest.param(_batch(0, 3), 0, r"invalid sequence range 0-3", id="seq-first-0"),
        pytest.param(_batch(5, 4, 1), 0, r"invalid sequence range 5-4", id="reversed"),
        pytest.param(
            _batch(MAX_INT64, MAX_INT64 + 1, 1),
            0,
            rf"invalid sequence range .* <= {MAX_INT64}",
            id="past-int64",
        ),
        pytest.param(
            _batch(4, 6), 6, r"sequence 4 is not after 6, .*\(out of order\)", id="overlap"
        ),
        pytest.param(_batch(6, 6), 6, r"sequence 6 is not after 6", id="repeat"),
        pytest.param(_batch(1, 3), 6, r"sequence 1 is not after 6", id="backwards"),
        pytest.param(_batch(1, 3, 0), 0, r"record_count 0 does not fit range 1-3", id="count-0"),
        pytest.param(_batch(1, 3, 4), 0, r"record_count 4 does not fit range 1-3", id="count-4"),
        pytest.param(
            _batch(1, 2 * MAX_RECORDS_PER_BATCH, MAX_RECORDS_PER_BATCH + 1),
            0,
            rf"record_count {MAX_RECORDS_PER_BATCH + 1} does not fit",
            id="count-over-max",
        ),
    ],
)
def test_envelope_refuses(batch: cpb.Batch, after: int, message: str):
    with _bad(message):
        convert.check_envelope(batch, after)


# -- decode_records ------------------------------------------------------------------------


def test_decode_records_gives_back_what_the_agent_encoded():
    bodies: list[Body] = [SNAPSHOT, EVENT, STATS]
    rows = _rows([11, 12, 14], bodies)
    decoded = convert.decode_records(_batch(11, 14, 3), batch_payload(rows))
    assert [d.stored.seq for d in decoded] == [11, 12, 14]
    assert [d.body for d in decoded] == bodies
    assert [d.priority for d in decoded] == [Priority.NORMAL, Priority.CRITICAL, Priority.NORMAL]
    assert [d.stored.kind for d in decoded] == [
        RecordKind.SNAPSHOT,
        RecordKind.EVENT,
        RecordKind.STATS,
    ]
    assert [d.stored.observed_at_ms for d in decoded] == [
        SNAPSHOT.taken_at_ms,
        EVENT.time_ms,
        STATS.time_ms,
    ]
    # The stored payload is the whole Record, seq included, as the agent sent it.
    for d, row in zip(decoded, rows, strict=True):
        rec = pb.Record.FromString(d.stored.payload)
        assert rec.seq == row.seq
        assert rec == pb.Record.FromString(record_bytes(row.seq, row.body))


@pytest.mark.parametrize(
    ("batch", "payload", "message"),
    [
        pytest.param(
            _batch(1, 3), b"\xff\xff\xff", r"payload is not a TelemetryBatch", id="garbage"
        ),
        pytest.param(
            _batch(1, 3),
            batch_payload(_rows([1, 3])),
            r"payload holds 2 records, the batch declares record_count 3",
            id="fewer-records",
        ),
        pytest.param(
            _batch(1, 3, 2),
            batch_payload(_rows([1, 2, 3])),
            r"payload holds 3 records, the batch declares record_count 2",
            id="more-records",
        ),
        pytest.param(_batch(1, 1, 0), b"", r"the batch holds no records", id="empty"),
        pytest.param(
            _batch(5, 7),
            batch_payload(_rows([5, 6, 9])),
            r"record sequence 9 is out of order or outside 5-7",
            id="above-range",
        ),
        pytest.param(
            _batch(5, 7),
            batch_payload(_rows([4, 6, 7])),
            r"record sequence 4 is out of order or outside 5-7",
            id="below-range",
        ),
        pytest.param(
            _batch(5, 7),
            batch_payload(_rows([5, 7, 6])),
            r"record sequence 6 is out of order",
            id="out-of-order",
        ),
        pytest.param(
            _batch(5, 7),
            batch_payload(_rows([5, 5, 7])),
            r"record sequence 5 is out of order",
            id="duplicate",
        ),
        pytest.param(
            _batch(5, 7, 2),
            batch_payload(_rows([6, 7])),
            r"records run from sequence 6 to 7, the batch declares 5-7",
            id="first-mismatch",
        ),
        pytest.param(
            _batch(5, 7, 2),
            batch_payload(_rows([5, 6])),
            r"records run from sequence 5 to 6, the batch declares 5-7",
            id="last-mismatch",
        ),
        pytest.param(
            _batch(5, 5),
            _payload(pb.Record(seq=5, priority=pb.PRIORITY_NORMAL)),
            r"record 5 has no body",
            id="missing-body",
        ),
        pytest.param(
            _batch(5, 5),
            _payload(pb.Record(seq=5, stats=stats_pb(STATS))),
            r"record 5 has unknown priority 0",
            id="unspecified-priority",
        ),
        pytest.param(
            _batch(5, 5),
            _payload(pb.Record(seq=5, priority=pb.Priority.ValueType(7), stats=stats_pb(STATS))),
            r"record 5 has unknown priority 7",
            id="unknown-priority",
        ),
        pytest.param(
            _batch(5, 5),
            _payload(
                pb.Record(
                    seq=5,
                    priority=pb.PRIORITY_CRITICAL,
                    event=pb.Event(kind="x", severity=pb.Severity.ValueType(9)),
                )
            ),
            r"event.severity has unknown value 9",
            id="unknown-severity",
        ),
        pytest.param(
            _batch(5, 5),
            _payload(pb.Record(seq=5, priority=pb.PRIORITY_CRITICAL, event=pb.Event(kind="x"))),
            r"event.severity has unknown value 0",
            id="unspecified-severity",
        ),
    ],
)
def test_decode_records_refuses(batch: cpb.Batch, payload: bytes, message: str):
    with _bad(message):
        convert.decode_records(batch, payload)


def test_unknown_fields_from_a_newer_agent_are_kept_not_refused():
    rec = pb.Record(seq=1, priority=pb.PRIORITY_NORMAL, snapshot=snapshot_pb(SNAPSHOT))
    newer = rec.SerializeToString() + b"\xa8\x06\x01"  # field 101, varint 1: unknown here
    payload = pb.TelemetryBatch(records=[pb.Record.FromString(newer)]).SerializeToString()
    (decoded,) = convert.decode_records(_batch(1, 1), payload)
    assert decoded.body == SNAPSHOT
    assert decoded.stored.payload.endswith(b"\xa8\x06\x01")


# -- conversions ---------------------------------------------------------------------------


def test_inventory_round_trips_every_field():
    assert convert.inventory(inventory_pb(INVENTORY)) == INVENTORY


def test_snapshot_round_trips_every_field():
    assert convert.snapshot(snapshot_pb(SNAPSHOT)) == SNAPSHOT
    bare = Snapshot(taken_at_ms=1)
    assert convert.snapshot(snapshot_pb(bare)) == bare  # no inventory stays None


def test_event_round_trips_every_field():
    assert convert.event(event_pb(EVENT)) == EVENT


def test_stats_round_trip_every_field():
    assert convert.stats(stats_pb(STATS)) == STATS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"memory_bytes": MAX_INT64 + 1}, r"inventory.memory_bytes \d+ is too large"),
        ({"cpu_cores": MAX_INT32 + 1}, r"inventory.cpu_cores \d+ is too large"),
        ({"hostname": "ws\x00042"}, r"inventory.hostname contains a NUL"),
        ({"os_name": "Debian\x00"}, r"inventory.os_name contains a NUL"),
        ({"machine_id": "\x00"}, r"inventory.machine_id contains a NUL"),
    ],
)
def test_inventory_refuses_what_the_store_cannot_hold(changes: dict[str, Any], message: str):
    msg = inventory_pb(INVENTORY)
    for name, value in changes.items():
        setattr(msg, name, value)
    with _bad(message):
        convert.inventory(msg)
    snap = snapshot_pb(SNAPSHOT)
    snap.inventory.CopyFrom(msg)
    with _bad(message):
        convert.snapshot(snap)


def test_inventory_accepts_the_largest_values_the_store_can_hold():
    msg = inventory_pb(INVENTORY)
    msg.memory_bytes, msg.cpu_cores = MAX_INT64, MAX_INT32
    inv = convert.inventory(msg)
    assert (inv.memory_bytes, inv.cpu_cores) == (MAX_INT64, MAX_INT32)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("volumes", "mount"), r"snapshot.volumes\[0\].mount contains a NUL"),
        (("volumes", "device"), r"snapshot.volumes\[0\].device contains a NUL"),
        (("smart", "model"), r"snapshot.smart\[0\].model contains a NUL"),
        (("smart", "serial"), r"snapshot.smart\[0\].serial contains a NUL"),
    ],
)
def test_snapshot_refuses_nul_in_text_that_reaches_tickets(path: tuple[str, str], message: str):
    msg = snapshot_pb(SNAPSHOT)
    repeated, name = path
    setattr(getattr(msg, repeated)[0], name, "bad\x00text")
    with _bad(message):
        convert.snapshot(msg)


@pytest.mark.parametrize("name", ["spool_records", "spool_bytes"])
def test_stats_refuse_counters_past_int64(name: str):
    msg = stats_pb(STATS)
    setattr(msg, name, MAX_INT64 + 1)
    with _bad(rf"stats.{name} \d+ is too large"):
        convert.stats(msg)


def test_welcome_and_ack_messages():
    msg = convert.welcome(
        collector_version="0.1.0",
        protocol_version=1,
        acked_seq=42,
        max_batch_bytes=1024,
        preferred_dictionary_id=7,
        interval_seconds=60,
        probes=("inventory", "disk"),
    )
    assert msg.WhichOneof("kind") == "welcome"
    w = msg.welcome
    assert (w.collector_version, w.protocol_version, w.acked_seq) == ("0.1.0", 1, 42)
    assert (w.max_batch_bytes, w.preferred_dictionary_id) == (1024, 7)
    assert (w.config.interval_seconds, list(w.config.enabled_probes)) == (60, ["inventory", "disk"])
    ack = convert.ack(99)
    assert ack.WhichOneof("kind") == "ack"
    assert ack.ack.up_to_seq == 99
