"""The kernel-log follower: classified lines become events, spooled with their cursor;
a restart sends nothing twice and misses nothing still in the log.

The live tests write real records into this machine's /dev/kmsg (root only) and read
them back through KmsgReader, as the agent does on a host without journald.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from agent.follow import (
    CURSOR_NAME,
    Entry,
    Follower,
    KmsgReader,
    SourceReader,
    TokenBucket,
    journal_cursor,
    kmsg_after,
    to_event,
)
from agent.records import Event, Priority, Severity
from agent.redact import Redactor
from agent.sources import ScenarioSource
from agent.uplink.convert import record_bytes
from agent.uplink.spool import Spool
from collector.ingest.convert import _record
from rdiag_proto.v1 import telemetry_pb2 as pb

IO_ERROR = (
    "blk_update_request: I/O error, dev {dev}, sector {sector} op 0x0:(READ) flags 0x0 "
    "phys_seg 1 prio class 0"
)


def _events(spool: Spool) -> list[tuple[Priority, Event]]:
    out = []
    for row in spool.read(0, 1 << 30, 100_000):
        if row.kind != "event":
            continue
        decoded = _record(pb.Record.FromString(record_bytes(row.seq, row.body)))
        assert isinstance(decoded.body, Event)
        out.append((decoded.priority, decoded.body))
    return out


def _spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.db", 8 * 1024 * 1024)


def test_an_io_error_line_becomes_a_critical_event() -> None:
    event = to_event(Entry("b:1", 1_000, IO_ERROR.format(dev="sdb", sector=12345)))
    assert event is not None
    assert event.kind == "disk.io_error"
    assert event.fields["device"] == "sdb"
    assert event.severity >= Severity.ERROR
    assert to_event(Entry("b:2", 1_000, "usb 1-1: new high-speed USB device number 2")) is None


def test_kmsg_cursor_only_counts_within_the_same_boot() -> None:
    assert kmsg_after("boot-a:41", "boot-a") == 41
    assert kmsg_after("boot-a:41", "boot-b") == -1
    assert kmsg_after(None, "boot-a") == -1
    assert kmsg_after("garbage", "boot-a") == -1


def _dump(lines: list[str]) -> str:
    return "".join(f"3,{seq},{seq * 1000},-;{line}\n" for seq, line in enumerate(lines, 1))


def test_replay_skips_what_userspace_wrote_to_kmsg(tmp_path: Path) -> None:
    # Facility 1 (user): "<3>..." written by a program, not the kernel's own report.
    dump = (
        "11,1,1000,-;"
        + IO_ERROR.format(dev="sdx", sector=1)
        + "\n"
        + _dump([IO_ERROR.format(dev="sdb", sector=2)])
    )
    entries = SourceReader(ScenarioSource("linux", {"kmsg": dump}), "b", 0, -1).poll(0)
    assert [e.message.split("dev ")[1][:3] for e in entries] == ["sdb"]


def test_replay_restart_sends_nothing_twice_and_misses_nothing(tmp_path: Path) -> None:
    lines = [IO_ERROR.format(dev="sdb", sector=i) for i in range(3)] + ["nothing to see"]
    source = ScenarioSource("linux", {"kmsg": _dump(lines)})
    spool = _spool(tmp_path)
    woke: list[int] = []
    first = Follower(
        SourceReader(source, "boot-1", 0, kmsg_after(spool.cursor(CURSOR_NAME), "boot-1")),
        spool=spool,
        redactor=Redactor(),
        wake=lambda: woke.append(1),
    )
    first.handle(first.reader.poll(0))
    first.flush()
    assert len(_events(spool)) == 3
    assert woke, "an error must wake the uplink at once"
    # The host logs two more errors while the agent is down; it restarts with the cursor.
    more = lines + [IO_ERROR.format(dev="sdc", sector=9), IO_ERROR.format(dev="sdc", sector=10)]
    source2 = ScenarioSource("linux", {"kmsg": _dump(more)})
    second = Follower(
        SourceReader(source2, "boot-1", 0, kmsg_after(spool.cursor(CURSOR_NAME), "boot-1")),
        spool=spool,
        redactor=Redactor(),
        wake=lambda: None,
    )
    second.handle(second.reader.poll(0))
    got = [e for _, e in _events(spool)]
    assert [e.fields["sector"] for e in got] == ["0", "1", "2", "9", "10"]
    assert all(p is Priority.CRITICAL for p, _ in _events(spool))


def test_a_storm_is_cut_and_the_cut_is_counted(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    clock = [0.0]
    follower = Follower(
        SourceReader(ScenarioSource("linux", {}), "b", 0, -1),
        spool=spool,
        redactor=Redactor(),
        wake=lambda: None,
        bucket=TokenBucket(burst=5, per_s=60, clock=lambda: clock[0]),
    )
    storm = [Entry(f"b:{i}", i, IO_ERROR.format(dev="sdb", sector=i)) for i in range(100)]
    follower.handle(storm)
    assert len(_events(spool)) == 5
    assert spool.status().dropped["rate_limited:disk.io_error"] == 95
    assert spool.cursor(CURSOR_NAME) == "b:99"  # the cut lines are not re-read later


def test_event_text_is_redacted_before_the_spool(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    follower = Follower(
        SourceReader(ScenarioSource("linux", {}), "b", 0, -1),
        spool=spool,
        redactor=Redactor(),
        wake=lambda: None,
    )
    line = (
        "EXT4-fs error (device sdb1): ext4_lookup:1855: inode #2: comm cp: /home/jdoe/x "
        "password=hunter2"
    )
    follower.handle([Entry("b:1", 1, line)])
    ((_, event),) = _events(spool)
    assert "jdoe" not in event.message and "hunter2" not in event.message


KMSG = Path("/dev/kmsg")
live = pytest.mark.skipif(
    not (KMSG.exists() and os.access(KMSG, os.R_OK | os.W_OK)),
    reason="needs a readable and writable /dev/kmsg (root)",
)


def _inject(message: str) -> None:
    # <3> = KERN_ERR; a write from userspace is logged with facility "user".
    with open(KMSG, "w") as f:
        f.write(f"<3>{message}\n")


def _wait(spool: Spool, n: int, timeout: float = 10.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [e for _, e in _events(spool)]
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return [e for _, e in _events(spool)]


@live
def test_live_kmsg_follow_then_restart(tmp_path: Path) -> None:
    boot_id = uuid.uuid4().hex  # this test's own "boot": its cursor starts empty
    tag = uuid.uuid4().hex[:6]
    spool = _spool(tmp_path)
    # Start after what the ring buffer already holds: only this test's lines count.
    start = KmsgReader(boot_id, 0, kernel_only=False)
    existing = _drain(start)
    start.close()
    last_seq = int(existing[-1].cursor.rpartition(":")[2]) if existing else -1
    spool.count_drops({}, cursor=(CURSOR_NAME, f"{boot_id}:{last_seq}"))

    def follower() -> Follower:
        after = kmsg_after(spool.cursor(CURSOR_NAME), boot_id)
        # Userspace cannot write kernel-facility records: read the test's "user" ones too.
        reader = KmsgReader(boot_id, 0, after, kernel_only=False)
        return Follower(reader, spool=spool, redactor=Redactor(), wake=lambda: None)

    a = follower()
    a.start()
    for i in range(3):
        _inject(IO_ERROR.format(dev=f"sd{tag}", sector=i))
    assert len(_wait(spool, 3)) == 3
    a.stop()
    a.flush()
    # Logged while the agent is stopped: must arrive after the restart, once.
    for i in range(3, 5):
        _inject(IO_ERROR.format(dev=f"sd{tag}", sector=i))
    b = follower()
    b.start()
    got = _wait(spool, 5)
    b.stop()
    mine = [e for e in got if e.fields.get("device") == f"sd{tag}"]
    assert [e.fields["sector"] for e in mine] == ["0", "1", "2", "3", "4"]


def _drain(reader: KmsgReader) -> list[Entry]:
    out: list[Entry] = []
    while batch := reader.poll(0):
        out.extend(batch)
    return out


def test_only_a_journald_cursor_is_given_to_journalctl() -> None:
    journald = "s=0f1e2d;i=1a2b;b=20b1fc2b236e42888418d8fd4483deb8;m=3c4d;t=5e6f;x=7a8b"
    assert journal_cursor(journald) == journald
    # A kmsg cursor from an earlier boot would make `journalctl --after-cursor` fail for good.
    assert journal_cursor("20b1fc2b-236e-4288-8418-d8fd4483deb8:4711") is None
    assert journal_cursor(None) is None


def test_a_capture_without_a_kernel_log_replays_as_an_empty_one() -> None:
    assert SourceReader(ScenarioSource("linux", {}), "b", 0, -1).poll(0) == []


def test_drops_are_written_in_one_transaction_per_save(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    follower = Follower(
        SourceReader(ScenarioSource("linux", {}), "b", 0, -1),
        spool=spool,
        redactor=Redactor(),
        wake=lambda: None,
        bucket=TokenBucket(burst=1, per_s=600),
    )
    writes: list[int] = []
    original = spool.count_drops

    def counting(counts: Mapping[str, int], *, cursor: tuple[str, str] | None = None) -> None:
        writes.append(sum(counts.values()))
        original(counts, cursor=cursor)

    spool.count_drops = counting  # type: ignore[method-assign]
    follower.handle([Entry(f"b:{i}", i, IO_ERROR.format(dev="sdb", sector=i)) for i in range(500)])
    follower.flush()
    assert writes == [499]  # not one synced write per dropped line
    assert spool.cursor(CURSOR_NAME) == "b:499"


class _Broken:
    name = "broken"

    def poll(self, timeout: float) -> list[Entry]:
        raise OSError("journalctl exited with status 1")

    def close(self) -> None:
        pass


def test_a_failing_reader_is_reopened_from_the_saved_cursor(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    source = ScenarioSource("linux", {"kmsg": _dump([IO_ERROR.format(dev="sdb", sector=7)])})
    asked: list[str | None] = []

    def reopen(cursor: str | None) -> SourceReader:
        asked.append(cursor)
        return SourceReader(source, "b", 0, kmsg_after(cursor, "b"))

    follower = Follower(
        _Broken(), spool=spool, redactor=Redactor(), wake=lambda: None, reopen=reopen
    )
    follower.start()
    got = _wait(spool, 1, timeout=10)
    follower.stop()
    assert [e.fields["sector"] for e in got] == ["7"]
    assert asked == [None]  # reopened once, from the (empty) saved cursor
    assert follower.error == ""  # recovered
