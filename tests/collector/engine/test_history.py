"""Per-host history stays bounded, and every change it makes is in the delta it hands out."""

from __future__ import annotations

from types import MappingProxyType

from collector.engine.history import HostHistory, RuleState, StoredEvent, event_key

M = 60_000


def ev(t: int, kind: str, **fields: str) -> StoredEvent:
    return StoredEvent(event_key(t, kind, kind, fields), t, kind, "error", kind,
                       MappingProxyType(fields))  # fmt: skip


def test_a_flood_of_one_kind_cannot_push_out_the_rare_event_that_explains_it() -> None:
    h = HostHistory("a", max_events=50)
    h.add_event(ev(0, "boot.panic"))
    for i in range(1, 1000):
        h.add_event(ev(i, "disk.io_error", n=str(i)))
    assert h.event_count() == 50
    assert [e.kind for e in h.events(["boot.panic"], 0, 10**9)] == ["boot.panic"]
    kept = [int(e.fields["n"]) for e in h.events(["disk.io_error"], 0, 10**9)]
    assert kept == list(range(951, 1000))  # the newest of the flood
    delta = h.flush()
    assert len(delta.events_added) == 1000 and len(delta.events_removed) == 950
    assert h.flush().events_added == []


def test_events_older_than_the_horizon_go() -> None:
    h = HostHistory("a")
    h.horizon_ms = 60 * M
    h.add_event(ev(0, "disk.io_error"))
    h.add_event(ev(61 * M, "disk.io_error"))
    assert [e.time_ms for e in h.events(["disk.io_error"], 0, 10**9)] == [61 * M]


def test_a_replayed_event_is_recognised() -> None:
    h = HostHistory("a")
    assert h.add_event(ev(5, "disk.io_error", device="sda")) is True
    assert h.add_event(ev(5, "disk.io_error", device="sda")) is False
    assert h.add_event(ev(5, "disk.io_error", device="sdb")) is True


def test_series_thin_out_old_points_but_keep_reaching_back() -> None:
    h = HostHistory("a", max_points=64)
    step = 5 * M  # a point at most every 5 minutes (history.SPACING_MS)
    for i in range(10_000):
        h.add_point("volume.used_bytes", "/", i * step, float(i))
    points = h.points("volume.used_bytes", "/", 0, 10**12)
    assert len(points) <= 64
    assert points[0] == (0, 0.0)  # the oldest stays
    assert points[-1] == (9_999 * step, 9_999.0)
    recent = [t for t, _ in points[-16:]]
    assert recent == [t * step for t in range(9_984, 10_000)]  # recent history stays dense
    delta = h.flush()
    stored = {(t, v) for _, _, t, v in delta.points_added} - {
        (t, float(t // step)) for _, _, t in delta.points_removed
    }
    assert stored == set(points)  # what the store ends with is exactly what is in memory


def test_a_moving_value_is_kept_every_five_minutes_and_a_flat_one_once() -> None:
    h = HostHistory("a")
    for i in range(60):  # an hour of one-minute cycles
        h.add_point("moving", "c", i * M, float(i))
        h.add_point("flat", "c", i * M, 7.0)
    assert [t // M for t, _ in h.points("moving", "c", 0, 10**9)] == list(range(0, 60, 5))
    assert h.points("flat", "c", 0, 10**9) == [(0, 7.0)]


def test_a_replayed_point_is_not_added_twice() -> None:
    h = HostHistory("a")
    h.add_point("s", "c", 10, 1.0)
    h.add_point("s", "c", 10, 1.0)
    h.add_point("s", "c", 5, 0.5)  # late, out of order
    assert h.points("s", "c", 0, 100) == [(5, 0.5), (10, 1.0)]
    assert len(h.flush().points_added) == 2


def test_an_empty_pending_state_is_deleted_not_kept() -> None:
    h = HostHistory("a")
    h.set_state(RuleState("r", "c", phase="pending", streak=1, since_ms=5))
    h.set_state(RuleState("r", "c", phase="pending", streak=0))
    assert h.states == {}
    assert h.flush().states == {("r", "c"): None}
