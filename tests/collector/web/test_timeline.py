"""A host's history: the store reads it back (sampled), the timeline turns it into charts.

The store tests fill a real SQLite store through the ingest's own path (the agent's
encoding, the collector's decode_records with its SnapshotMemo, save_batches)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agent.records import (
    Body,
    BootInfo,
    CrashReport,
    DiskIo,
    DnsCheck,
    Event,
    GatewayCheck,
    HostInventory,
    NetInterface,
    Priority,
    Severity,
    SmartDevice,
    Snapshot,
    Volume,
)
from agent.uplink.convert import batch_payload, body_kind, encode_body
from agent.uplink.spool import SpoolRow
from collector.ingest import convert
from collector.store import IncomingBatch, RecordKind, SqlStore, StoredRecord, open_store
from collector.web.plots import Series
from collector.web.timeline import (
    HOUR_MS,
    boot_marks,
    counter_rates,
    fill_forecast,
    host_timeline,
)
from rdiag_proto.v1 import collector_pb2 as cpb
from tests.helpers.records import inventory

GIB = 1024**3
MIN = 60_000
T0 = 1_760_000_000_000
AGENT = "ws-042"


def ingest(
    store: SqlStore,
    agent_id: str,
    bodies: Sequence[Body],
    *,
    epoch: str = "epoch-1",
    host: HostInventory | None = None,
) -> None:
    """bodies as the agent spools them and the collector's ingest decodes and stores them."""
    memo = convert.SnapshotMemo()
    seq = store.stream_position(agent_id, epoch)
    for start in range(0, len(bodies), 200):
        chunk = bodies[start : start + 200]
        rows = [SpoolRow(seq + i + 1, Priority.NORMAL, body_kind(b),
                         encode_body(b, Priority.NORMAL)) for i, b in enumerate(chunk)]  # fmt: skip
        payload = batch_payload(rows)
        envelope = cpb.Batch(seq_first=rows[0].seq, seq_last=rows[-1].seq,
                             record_count=len(rows), payload=payload)  # fmt: skip
        convert.check_envelope(envelope, seq)
        decoded = convert.decode_records(envelope, payload, memo)
        store.save_batches([IncomingBatch(
            agent_id, epoch, rows[0].seq, rows[-1].seq, tuple(d.stored for d in decoded),
            received_at_ms=T0, inventory=host or inventory(agent_id),
        )])  # fmt: skip
        seq = rows[-1].seq


def volume(used: float, total: float = 100 * GIB, mount: str = "/") -> Volume:
    return Volume(mount, "/dev/sda1", "ext4", int(total), int(used), int(total - used))


def host_snapshot(i: int, step: int = 10 * MIN) -> Snapshot:
    """A snapshot with something in every section, varying with i."""
    return Snapshot(
        taken_at_ms=T0 + i * step,
        volumes=(volume(20 * GIB + i * 0.01 * GIB), volume(GIB // 4, GIB, "/boot")),
        smart=(SmartDevice("sda", "ATA", model="Samsung SSD 860", health_known=True,
                           temperature_c=35 + i % 5, reallocated_sectors=i // 50),),
        disk_io=(DiskIo("sda", reads=i * 100, read_await_ms=1.5, write_await_ms=4.25,
                        util_pct=12.5),),
        interfaces=(NetInterface("eth0", kind="ethernet", oper_state="up", rx_errors=i,
                                 rx_dropped=2 * i),),
        gateway_checks=(GatewayCheck("10.0.0.1", "eth0", reachable=i % 7 != 3, rtt_ms=0.5),),
        dns_checks=(DnsCheck("example.com", "10.0.0.53", status="ok" if i % 5 else "timeout",
                             rtt_ms=12.0, answers=1),),
        boot=BootInfo(boot_id="b0", boot_time_unix=T0 // 1000 - 3600,
                      previous_shutdown="clean"),
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store("sqlite:///" + str(tmp_path / "c.db"))
    yield opened
    opened.close()


# -- the store ------------------------------------------------------------------------


def test_snapshots_and_events_come_back_as_sent(store: SqlStore) -> None:
    snaps = [host_snapshot(i) for i in range(20)]
    events = [Event(T0 + i * MIN + 1, "kernel", "disk.io_error", Severity.ERROR,
                    f"I/O error {i}", {"device": "sda"}) for i in range(5)]  # fmt: skip
    ingest(store, AGENT, sorted([*snaps, *events], key=_time))
    ingest(store, "someone-else", [host_snapshot(i) for i in range(3)])
    got = store.host_snapshots(AGENT, since_ms=T0)
    assert got.records == tuple(snaps)
    assert (got.matched, got.skipped) == (20, 0)
    evs = store.host_events(AGENT, since_ms=T0)
    assert evs.records == tuple(events) and evs.matched == 5


def test_the_window_bounds_what_is_read(store: SqlStore) -> None:
    ingest(store, AGENT, [host_snapshot(i) for i in range(30)])
    got = store.host_snapshots(AGENT, since_ms=T0 + 100 * MIN, until_ms=T0 + 200 * MIN)
    assert [s.taken_at_ms for s in got.records] == [T0 + i * 10 * MIN for i in range(10, 21)]
    assert store.host_snapshots("nobody", since_ms=0).records == ()


def test_sampling_keeps_at_most_max_points_evenly_and_always_the_newest(store: SqlStore) -> None:
    # Two epochs (the agent's spool was reset): one host's history all the same.
    ingest(store, AGENT, [host_snapshot(i) for i in range(600)])
    ingest(store, AGENT, [host_snapshot(i) for i in range(600, 1001)], epoch="epoch-2")
    got = store.host_snapshots(AGENT, since_ms=T0, max_points=50)
    times = [s.taken_at_ms for s in got.records]
    assert got.matched == 1001 and len(times) == 50
    assert times[0] == T0 and times[-1] == T0 + 1000 * 10 * MIN  # the oldest and the newest
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert times == sorted(times)
    assert max(gaps) - min(gaps) <= 10 * MIN  # even: every gap is 20 or 21 intervals
    assert len(store.host_snapshots(AGENT, since_ms=T0, max_points=1).records) == 1
    assert (
        store.host_snapshots(AGENT, since_ms=T0, max_points=1).records[0].taken_at_ms == (times[-1])
    )
    with pytest.raises(ValueError, match="max_points must be at least 1"):
        store.host_snapshots(AGENT, since_ms=T0, max_points=0)


def test_an_undecodable_payload_is_skipped_and_counted(store: SqlStore) -> None:
    ingest(store, AGENT, [host_snapshot(i) for i in range(3)])
    bad_mount = Snapshot(T0 + 5 * MIN, volumes=(volume(GIB, mount="/a\x00b"),))
    rows = (
        StoredRecord(4, RecordKind.SNAPSHOT, T0 + MIN, b"\xff\xfenot a protobuf"),
        # Well-formed, but the value the ingest refuses (a NUL in a text field).
        StoredRecord(5, RecordKind.SNAPSHOT, T0 + 5 * MIN,
                     b"\x08\x05" + encode_body(bad_mount, Priority.NORMAL)),
        # An event where a snapshot should be.
        StoredRecord(6, RecordKind.SNAPSHOT, T0 + 7 * MIN,
                     b"\x08\x06" + encode_body(Event(T0, "k", "x", Severity.INFO), Priority.LOW)),
    )  # fmt: skip
    store.save_batches([IncomingBatch(AGENT, "epoch-1", 4, 6, rows, T0)])
    got = store.host_snapshots(AGENT, since_ms=T0)
    assert got.matched == 6 and got.skipped == 3
    assert [s.taken_at_ms for s in got.records] == [T0, T0 + 10 * MIN, T0 + 20 * MIN]


def test_events_are_the_newest_limit_oldest_first(store: SqlStore) -> None:
    events = [Event(T0 + i * MIN, "kernel", "net.link_down", Severity.WARNING, f"e{i}")
              for i in range(30)]  # fmt: skip
    ingest(store, AGENT, events)
    got = store.host_events(AGENT, since_ms=T0, limit=10)
    assert [e.message for e in got.records] == [f"e{i}" for i in range(20, 30)]
    assert got.matched == 30
    since = store.host_events(AGENT, since_ms=T0 + 25 * MIN)
    assert [e.message for e in since.records] == [f"e{i}" for i in range(25, 30)]


def _time(b: Body) -> int:
    return b.taken_at_ms if isinstance(b, Snapshot) else b.time_ms


# -- disk usage and the fill forecast -------------------------------------------------


def growing(hours: float, *, start: float, per_hour: float, noise: float = 0.0,
            t0: int = T0, step: int = 10 * MIN) -> list[tuple[int, float]]:  # fmt: skip
    rng = random.Random(7)
    n = int(hours * HOUR_MS / step) + 1
    return [(t0 + i * step, start + per_hour * i * step / HOUR_MS + rng.uniform(-noise, noise))
            for i in range(n)]  # fmt: skip


def test_the_fill_forecast_predicts_when_a_growing_volume_is_full() -> None:
    # 20 GiB used, +2 GiB an hour with ±0.3 GiB of noise for 30 h: 80 GiB of 100, 10 h left.
    readings = growing(30, start=20 * GIB, per_hour=2 * GIB, noise=0.3 * GIB)
    last = readings[-1][0]
    snaps = [Snapshot(t, volumes=(volume(u),)) for t, u in readings]
    timeline = host_timeline(snaps, [], start_ms=last - 48 * HOUR_MS, end_ms=last, now_ms=last)
    [forecast] = timeline.forecasts
    assert forecast.full_at_ms is not None
    assert abs((forecast.full_at_ms - last) / (10 * HOUR_MS) - 1) < 0.03
    assert abs(forecast.bytes_per_hour / (2 * GIB) - 1) < 0.02
    assert forecast.text == "full in 10 h"
    disk = timeline.section("disk")
    [chart] = disk.charts
    dashed = [s for s in chart.series if s.dashed]
    assert [s.name for s in dashed] == ["/ forecast"]
    # The window's quarter (12 h) reaches past full: the dashed line ends at 100 %.
    assert dashed[0].points[-1] == (forecast.full_at_ms, 100.0)
    assert dashed[0].colour == 0  # the colour of the / readings
    assert 'stroke-dasharray="6 4"' in chart.svg
    assert disk.rows[0][0] == "/" and "full in 10 h" in disk.rows[0][1]


def test_the_forecast_fits_only_the_growth_since_the_last_clean_up() -> None:
    before = growing(10, start=50 * GIB, per_hour=1 * GIB)
    after = growing(5, start=30 * GIB, per_hour=3 * GIB, t0=before[-1][0] + 10 * MIN)
    readings = [(t, int(u), 100 * GIB) for t, u in before + after]
    f = fill_forecast("/", readings, now_ms=readings[-1][0])
    assert abs(f.bytes_per_hour / (3 * GIB) - 1) < 0.01
    assert f.full_at_ms is not None
    assert abs((f.full_at_ms - readings[-1][0]) / HOUR_MS - 55 / 3) < 0.1


def test_a_volume_that_does_not_grow_is_not_filling() -> None:
    flat = [(T0 + i * 10 * MIN, 40 * GIB, 100 * GIB) for i in range(50)]
    f = fill_forecast("/", flat, now_ms=flat[-1][0])
    assert (f.full_at_ms, f.text) == (None, "not filling")
    shrinking = [(t, u - i * GIB // 100, c) for i, (t, u, c) in enumerate(flat)]
    assert fill_forecast("/", shrinking, now_ms=T0).text == "not filling"
    assert fill_forecast("/", flat[:1], now_ms=T0).text == "not enough readings to forecast"
    snaps = [Snapshot(t, volumes=(volume(u),)) for t, u, _ in flat]
    timeline = host_timeline(snaps, [], start_ms=T0, end_ms=flat[-1][0], now_ms=flat[-1][0])
    assert not [s for s in timeline.section("disk").charts[0].series if s.dashed]


# -- counters, SMART, I/O, network ----------------------------------------------------


def test_counter_rates_treat_a_drop_as_a_reset() -> None:
    h = HOUR_MS
    assert counter_rates([(0, 100), (h, 160), (2 * h, 10), (3 * h, 40)]) == (
        (h, 60.0), (2 * h, 10.0), (3 * h, 30.0),
    )  # fmt: skip
    assert counter_rates([(0, 5), (0, 9), (30 * MIN, 9)]) == (
        (30 * MIN, 0.0),
    )  # same time: no rate
    assert counter_rates([(0, 5)]) == ()


def test_interface_error_rates_survive_a_reboot_and_skip_loopback() -> None:
    snaps = []
    for i in range(12):
        count = 6 * i if i < 6 else 6 * (i - 6)  # reset to zero at the reboot
        nics = (NetInterface("eth0", kind="ethernet", rx_errors=count),
                NetInterface("lo", kind="loopback", rx_errors=1000 * i))  # fmt: skip
        snaps.append(Snapshot(T0 + i * 10 * MIN, interfaces=nics))
    timeline = host_timeline(snaps, [], start_ms=T0, end_ms=T0 + 2 * HOUR_MS, now_ms=T0)
    [rates, *_] = timeline.section("network").charts
    by_name = {s.name: s for s in rates.series}
    assert set(by_name) == {"eth0 errors", "eth0 drops"}
    values = [v for _, v in by_name["eth0 errors"].points]
    # 6 per 10 min is 36 an hour, including across the reset (0 after 30: 0 new errors).
    assert values == [36.0] * 5 + [0.0] + [36.0] * 5


def test_every_section_is_drawn_from_a_full_snapshot_history() -> None:
    snaps = [host_snapshot(i) for i in range(100)]
    events = [Event(T0 + 30 * MIN, "kernel", "disk.io_error", Severity.ERROR, "I/O error",
                    {"device": "sda"}),
              Event(T0 + 90 * MIN, "kernel", "disk.ata_error", Severity.ERROR, "UNC",
                    {"device": "sda"})]  # fmt: skip
    end = snaps[-1].taken_at_ms
    timeline = host_timeline(snaps, events, start_ms=T0, end_ms=end, now_ms=end)
    assert [s.key for s in timeline.sections] == ["disk", "io", "smart", "network", "boot"]
    assert not [s.key for s in timeline.sections if s.empty]
    io = timeline.section("io")
    titles = [c.title for c in io.charts]
    assert titles[0].startswith("Disk latency")
    latency = {s.name: s.points[-1][1] for s in io.charts[0].series}
    assert latency == {"sda read": 1.5, "sda write": 4.25}
    errors: Series = io.charts[-1].series[0]
    assert errors.step and errors.points[-1] == (end, 2.0)
    assert ("sda errors", "2 in this window; last 2025-10-09 10:23 UTC disk.ata_error") in io.rows
    smart = timeline.section("smart")
    counters = {s.name: s for s in smart.charts[0].series}
    assert counters["reallocated sectors"].points[-1] == (end, 1.0)
    assert "Drive temperature" in [c.title for c in smart.charts]
    network = timeline.section("network")
    assert [c.title for c in network.charts] == [
        "Interface errors and drops (per hour)", "Gateway round trip", "DNS resolution time",
        "Failed network checks per snapshot",
    ]  # fmt: skip
    failed = {s.name: s for s in network.charts[-1].series}
    assert sum(v for _, v in failed["DNS checks failed"].points) == 20  # i % 5 == 0
    rows = dict(network.rows)
    assert rows["DNS 10.0.0.53"] == "failed 20 of 100 checks (timeout 20)"
    assert rows["Gateway 10.0.0.1 via eth0"].endswith("unreachable in 14 of 100 checks")


def test_sections_without_data_say_so() -> None:
    timeline = host_timeline([], [], start_ms=T0, end_ms=T0 + HOUR_MS, now_ms=T0 + HOUR_MS)
    assert len(timeline.sections) == 5
    for section in timeline.sections:
        assert section.empty and not section.charts and not section.rows
    assert timeline.section("smart").empty == "No SMART data reported in this window."


# -- boot history ---------------------------------------------------------------------


def test_boot_marks_come_from_events_and_snapshots_once_each() -> None:
    boot2 = T0 + HOUR_MS
    panic = CrashReport("pstore", "panic", time_ms=boot2 - MIN, title="Kernel panic - not syncing")
    snaps = [
        Snapshot(T0, boot=BootInfo("aaaaaaaa11", T0 // 1000 - 600, previous_shutdown="clean")),
        Snapshot(T0 + 2 * HOUR_MS, boot=BootInfo(
            "bbbbbbbb22", boot2 // 1000, previous_shutdown="unclean",
            previous_shutdown_detail="power loss", crashes=(panic,),
            failed_units=("nginx.service",))),
        Snapshot(T0 + 3 * HOUR_MS, boot=BootInfo(
            "bbbbbbbb22", boot2 // 1000, previous_shutdown="unclean", crashes=(panic,),
            failed_units=("nginx.service",))),
    ]  # fmt: skip
    events = [
        Event(boot2 - MIN + 20_000, "kernel", "boot.panic", Severity.CRITICAL, "Kernel panic"),
        Event(T0 + 4 * HOUR_MS, "windows", "boot.bugcheck", Severity.CRITICAL, "0x0000009f"),
        Event(T0 + 4 * HOUR_MS + MIN, "windows", "boot.unexpected_shutdown", Severity.ERROR,
              "Kernel-Power 41"),
        Event(T0 + 5 * HOUR_MS, "windows", "boot.service_failed", Severity.WARNING, "Spooler"),
        Event(T0 + 5 * HOUR_MS, "kernel", "disk.io_error", Severity.ERROR, "not a boot"),
    ]  # fmt: skip
    marks = boot_marks(snaps, events)
    assert [(m.time_ms - T0, m.kind) for m in marks] == [
        (-600_000 - 1, "clean_shutdown"),
        (-600_000, "boot"),
        (HOUR_MS - MIN + 20_000, "panic"),  # the event and the crash report: one mark
        (HOUR_MS - 1, "unclean_shutdown"),
        (HOUR_MS, "boot"),
        (2 * HOUR_MS, "failed_unit"),  # nginx, once, though two snapshots list it
        (4 * HOUR_MS, "bluescreen"),
        (4 * HOUR_MS + MIN, "unclean_shutdown"),
        (5 * HOUR_MS, "failed_unit"),
    ]
    labels = {m.kind: m.label for m in marks}
    assert labels["failed_unit"] == "boot.service_failed: Spooler"
    assert "power loss" in [m.label for m in marks if m.kind == "unclean_shutdown"][0]
    timeline = host_timeline(snaps, events, start_ms=T0, end_ms=T0 + 6 * HOUR_MS, now_ms=T0)
    boot = timeline.section("boot")
    assert len(boot.marks) == 7  # the first boot and its shutdown were before the window
    assert boot.charts[0].svg.count('class="mark m-') == 7
    rows = dict(boot.rows)
    assert rows["Previous shutdown"] == "unclean"
    assert rows["Failed units"] == "nginx.service"
    assert rows["In this window"] == (
        "Kernel panics: 1, Unclean shutdowns: 2, Boots: 1, Failed units: 2, Bluescreens: 1"
    )
