"""Events read from event logs each cycle are spooled once: the per-probe cursor."""

from __future__ import annotations

from agent.eventlog import fresh
from agent.records import Event, Severity


def _win(rid: int, log: str = "System") -> Event:
    fields = {"provider": "disk", "event_id": "7", "log": log, "record_id": str(rid)}
    return Event(rid * 1000, "winevent", "disk.bad_block", Severity.ERROR, "", fields)


def _mac(t: int, message: str) -> Event:
    return Event(t, "macos", "disk.io_error", Severity.ERROR, message, {"device": "disk0s2"})


def _send(events: tuple[Event, ...], cursor: str | None) -> tuple[list[Event], str | None]:
    sent = list(fresh(events, cursor))
    return [e for e, _ in sent], (sent[-1][1] if sent else cursor)


def test_windows_events_are_sent_once_by_record_id_per_log() -> None:
    sent, cursor = _send((_win(3), _win(1), _win(2), _win(10, "Application")), None)
    assert [(e.fields["log"], e.fields["record_id"]) for e in sent] == [
        ("Application", "10"), ("System", "1"), ("System", "2"), ("System", "3"),
    ]  # fmt: skip
    again, cursor = _send((_win(2), _win(3), _win(4)), cursor)
    assert [e.fields["record_id"] for e in again] == ["4"]


def test_a_cleared_log_starts_again() -> None:
    _, cursor = _send((_win(500),), None)
    sent, _ = _send((_win(1), _win(2)), cursor)  # RecordIds restarted: the log was cleared
    assert [e.fields["record_id"] for e in sent] == ["1", "2"]


def test_events_sharing_a_millisecond_are_all_sent_and_only_once() -> None:
    burst = (_mac(5000, "disk0s2: I/O error."), _mac(5000, "disk0s2: I/O error (retry)."))
    sent, cursor = _send(burst, None)
    assert len(sent) == 2
    again, cursor = _send((*burst, _mac(5000, "disk0s2: I/O error (third).")), cursor)
    assert [e.message for e in again] == ["disk0s2: I/O error (third)."]
    later, _ = _send((*burst, _mac(6000, "next")), cursor)
    assert [e.message for e in later] == ["next"]


def test_an_unreadable_cursor_starts_over() -> None:
    sent, _ = _send((_mac(1, "a"),), "{not json")
    assert len(sent) == 1
