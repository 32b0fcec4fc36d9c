"""Rates the agent derives from successive samples: volume growth and disk latency."""

from __future__ import annotations

from agent.derive import MAX_KEYS, Deriver
from agent.records import DiskIo, Snapshot, Volume

GIB = 1024**3


def _snap(t_s: float, used: int, free: int, mount: str = "/") -> Snapshot:
    total = used + free
    return Snapshot(
        int(t_s * 1000), volumes=(Volume(mount, "/dev/sda1", "ext4", total, used, free),)
    )


def test_a_volume_filling_at_2_gib_an_hour_is_seen_as_such() -> None:
    d = Deriver()
    out = None
    for minute in range(0, 31, 5):
        used = 50 * GIB + minute * (2 * GIB // 60)
        out = d.apply(_snap(minute * 60, used, 100 * GIB - used))
    assert out is not None
    (v,) = out.volumes
    assert abs(v.growth_bytes_per_hour - 2 * GIB) < 0.01 * GIB
    # 49 GiB free at 2 GiB/h: about 24.5 hours left.
    assert 24 * 3600 < v.seconds_to_full < 25 * 3600


def test_the_first_samples_and_a_short_span_give_no_rate() -> None:
    d = Deriver()
    (v,) = d.apply(_snap(0, GIB, GIB)).volumes
    assert v.growth_bytes_per_hour == 0 and v.seconds_to_full == 0
    (v,) = d.apply(_snap(30, 2 * GIB, 0)).volumes  # 30 s later: too short to trust
    assert v.growth_bytes_per_hour == 0


def test_a_shrinking_volume_has_a_negative_rate_and_no_time_to_full() -> None:
    d = Deriver()
    for minute, used in ((0, 80), (10, 70), (20, 60)):
        out = d.apply(_snap(minute * 60, used * GIB, (100 - used) * GIB))
    (v,) = out.volumes
    assert v.growth_bytes_per_hour < 0
    assert v.seconds_to_full == 0


def test_a_clock_going_back_restarts_the_series() -> None:
    d = Deriver()
    for minute in (0, 10, 20):
        d.apply(_snap(minute * 60, (10 + minute) * GIB, 50 * GIB))
    (v,) = d.apply(_snap(5 * 60, 10 * GIB, 50 * GIB)).volumes
    assert v.growth_bytes_per_hour == 0


def test_state_is_bounded_when_mounts_come_and_go() -> None:
    d = Deriver()
    for i in range(MAX_KEYS * 3):
        d.apply(_snap(i * 60, GIB, GIB, mount=f"/media/usb{i}"))
    assert len(d._usage) <= MAX_KEYS


def test_disk_latency_comes_from_two_diskstats_samples() -> None:
    d = Deriver()
    first = DiskIo(
        "sda", reads=1000, writes=500, read_ms=2000, write_ms=1500, io_ms=3000, weighted_io_ms=3500
    )
    second = DiskIo(
        "sda", reads=1100, writes=600, read_ms=2500, write_ms=3500, io_ms=8000, weighted_io_ms=13500
    )
    assert d.apply(Snapshot(0, disk_io=(first,))).disk_io == (first,)
    (io,) = d.apply(Snapshot(10_000, disk_io=(second,))).disk_io
    assert io.read_await_ms == 5.0  # 500 ms over 100 reads
    assert io.write_await_ms == 20.0  # 2000 ms over 100 writes
    assert io.util_pct == 50.0  # 5000 ms busy in 10 s
    assert io.queue_depth == 1.0  # 10000 ms weighted in 10 s
