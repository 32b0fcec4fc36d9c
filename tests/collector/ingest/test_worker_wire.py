"""The frames between the collector and its evaluation workers: what goes in comes out."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import pytest

from agent.records import Event, Severity, Snapshot, Volume
from collector.engine.history import HistoryDelta
from collector.ingest.workers import _frame, _read_frame, _slot_fields
from collector.store import RecordKind, StoredRecord


def _round_trip(obj: object) -> Any:
    return _read_frame(cast(Any, io.BytesIO(_frame(obj))))


@dataclass(frozen=True, slots=True)
class _Reduced:
    """A frozen slotted dataclass that pickles itself its own way."""

    value: int

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Reduced, (self.value + 1,))


@dataclass(frozen=True)
class _NoSlots:
    value: int


def test_records_come_out_equal_with_their_frozen_maps_and_enums() -> None:
    event = Event(5, "kernel", "io_error", Severity.ERROR, "I/O error", {"device": "sda"})
    snap = Snapshot(7, volumes=(Volume("/", "/dev/sda1", "ext4", 100, 40, 60),))
    stored = StoredRecord(3, RecordKind.SNAPSHOT, 7, b"\x00payload")
    delta = HistoryDelta("a-1", points_added=[("disk.used", "/", 7, 0.4)])
    out = _round_trip(("ok", 1, (event, snap, stored, delta)))
    assert out == ("ok", 1, (event, snap, stored, delta))
    got_event = out[2][0]
    assert isinstance(got_event.fields, MappingProxyType)  # still frozen after the trip
    assert got_event.severity is Severity.ERROR
    with pytest.raises(AttributeError):
        got_event.message = "changed"


def test_only_frozen_slotted_dataclasses_take_the_short_way() -> None:
    assert _slot_fields(StoredRecord) == ("seq", "kind", "observed_at_ms", "payload")
    assert _slot_fields(HistoryDelta) is None  # mutable: dataclasses' own state
    assert _slot_fields(_NoSlots) is None
    assert _slot_fields(_Reduced) is None  # it says how it pickles; that is kept
    assert _round_trip(_Reduced(1)) == _Reduced(2)
    assert _round_trip(_NoSlots(4)) == _NoSlots(4)


def test_the_short_way_loads_with_plain_pickle() -> None:
    # The main process reads replies with pickle.loads (WorkerPool._replies).
    records = tuple(StoredRecord(i, RecordKind.EVENT, i, b"x") for i in range(50))
    framed = _frame(records)[4:]
    assert b"_rebuilt" in framed
    assert pickle.loads(framed) == records
