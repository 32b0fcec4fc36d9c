"""The durable spool on a real SQLite file: seqs, acks, reads, the drop policy, reopen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.records import Priority
from agent.uplink.spool import Spool, SpoolError, drop_reason

LOW, NORMAL, CRITICAL = Priority.LOW, Priority.NORMAL, Priority.CRITICAL


@contextmanager
def opened(path: Path, max_bytes: int = 1_000_000, **kw) -> Iterator[Spool]:
    spool = Spool(path, max_bytes, **kw)
    try:
        yield spool
    finally:
        spool.close()


def body(n: int, fill: bytes = b"x") -> bytes:
    return fill * n


def rows_on_disk(path: Path) -> list[tuple[int, int, str]]:
    """(seq, priority, kind) straight from the file, not through the Spool object."""
    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT seq, priority, kind FROM records ORDER BY seq"))
    finally:
        db.close()


# --- sequence numbers -------------------------------------------------------------------


def test_seqs_start_at_one_and_increase(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        seqs = [spool.append(NORMAL, "snapshot", body(10)) for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]


def test_seq_never_reused_after_everything_is_acked(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        for _ in range(3):
            spool.append(NORMAL, "snapshot", body(10))
        assert spool.ack(3) == 3
        assert spool.status().records == 0
        assert spool.append(NORMAL, "snapshot", body(10)) == 4


def test_seq_never_reused_after_reopen_of_an_empty_spool(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path) as spool:
        for _ in range(3):
            spool.append(NORMAL, "snapshot", body(10))
        spool.ack(3)
    with opened(path) as spool:
        assert spool.status().records == 0
        assert spool.append(NORMAL, "snapshot", body(10)) == 4


def test_seq_not_reused_after_drops_rejects_and_supersede(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        assert spool.append(LOW, "stats", body(10), supersede=True) == 1
        assert spool.append(LOW, "stats", body(10), supersede=True) == 2
        assert spool.append(NORMAL, "snapshot", body(10)) == 3
        spool.reject(3, 3)
        assert spool.append(NORMAL, "snapshot", body(10)) == 4


# --- ack ---------------------------------------------------------------------------------


def test_ack_removes_exactly_the_records_up_to_seq(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path) as spool:
        for i in range(6):
            spool.append(NORMAL if i % 2 else CRITICAL, "snapshot", body(10 + i))
        assert spool.ack(4) == 4
        st = spool.status()
        assert (st.records, st.bytes, st.first_seq, st.last_seq) == (2, 15 + 14, 5, 6)
        assert spool.ack(4) == 0  # acking again is harmless
        assert spool.ack(0) == 0
        assert [r.seq for r in spool.read(0, 1_000_000)] == [5, 6]
    assert [r[0] for r in rows_on_disk(path)] == [5, 6]


def test_ack_beyond_the_last_seq_empties_the_spool(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        for _ in range(3):
            spool.append(NORMAL, "snapshot", body(10))
        assert spool.ack(1000) == 3
        st = spool.status()
        assert (st.records, st.bytes, st.first_seq, st.last_seq) == (0, 0, 0, 0)


# --- read --------------------------------------------------------------------------------


def test_read_returns_rows_after_cursor_in_seq_order_with_content(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        spool.append(CRITICAL, "event", b"e1")
        spool.append(LOW, "stats", b"s2")
        spool.append(NORMAL, "snapshot", b"n3")
        rows = spool.read(1, 1_000_000)
    assert [(r.seq, r.priority, r.kind, r.body) for r in rows] == [
        (2, LOW, "stats", b"s2"),
        (3, NORMAL, "snapshot", b"n3"),
    ]


def test_read_respects_the_byte_limit(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        for _ in range(10):
            spool.append(NORMAL, "snapshot", body(100))
        assert [r.seq for r in spool.read(0, 300)] == [1, 2, 3]
        assert [r.seq for r in spool.read(0, 399)] == [1, 2, 3]
        assert [r.seq for r in spool.read(3, 250)] == [4, 5]
        assert [r.seq for r in spool.read(0, 10_000, max_records=4)] == [1, 2, 3, 4]


def test_read_always_returns_at_least_one_row_even_over_the_limit(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        spool.append(NORMAL, "snapshot", body(500))
        spool.append(NORMAL, "snapshot", body(10))
        assert [r.seq for r in spool.read(0, 100)] == [1]
        assert [r.seq for r in spool.read(0, 0)] == [1]
        assert [r.seq for r in spool.read(0, -5)] == [1]


def test_read_on_empty_or_past_the_end_is_empty(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        assert spool.read(0, 1000) == []
        spool.append(NORMAL, "snapshot", body(10))
        assert spool.read(1, 1000) == []


def test_read_does_not_remove_anything(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        spool.append(NORMAL, "snapshot", body(10))
        spool.read(0, 1000)
        spool.read(0, 1000)
        assert spool.status().records == 1


# --- drop policy -------------------------------------------------------------------------


def fill(spool: Spool, plan: list[Priority], size: int = 100) -> list[int]:
    out = []
    for prio in plan:
        seq = spool.append(prio, prio.name.lower(), body(size))
        assert seq is not None
        out.append(seq)
    return out


def test_full_spool_evicts_oldest_low_first(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 1000, max_record_bytes=250) as spool:
        # 10 records of 100 bytes: exactly full.
        fill(spool, [NORMAL, LOW, CRITICAL, LOW, NORMAL, LOW, CRITICAL, NORMAL, LOW, NORMAL])
        seq = spool.append(NORMAL, "normal", body(100))
        assert seq == 11
        seq = spool.append(CRITICAL, "critical", body(200))
        assert seq == 12
        st = spool.status()
        assert st.dropped == {drop_reason("spool_full", LOW): 3}
        assert st.bytes <= 1000
    # The oldest LOW (2, then 4, then 6) went; the newest LOW (9) is still there.
    assert [r[0] for r in rows_on_disk(path)] == [1, 3, 5, 7, 8, 9, 10, 11, 12]


def test_after_low_is_gone_oldest_normal_goes_then_critical(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        fill(spool, [CRITICAL, NORMAL, LOW, NORMAL, CRITICAL])  # seqs 1..5, full
        assert spool.append(CRITICAL, "critical", body(100)) == 6  # evicts LOW 3
        assert [r[0] for r in rows_on_disk(path)] == [1, 2, 4, 5, 6]
        assert spool.append(CRITICAL, "critical", body(100)) == 7  # evicts NORMAL 2
        assert spool.append(CRITICAL, "critical", body(100)) == 8  # evicts NORMAL 4
        assert [r[0] for r in rows_on_disk(path)] == [1, 5, 6, 7, 8]
        assert spool.append(CRITICAL, "critical", body(100)) == 9  # evicts CRITICAL 1
        assert [r[0] for r in rows_on_disk(path)] == [5, 6, 7, 8, 9]
        assert spool.status().dropped == {
            "spool_full:low": 1,
            "spool_full:normal": 2,
            "spool_full:critical": 1,
        }


def test_lower_priority_newcomer_is_dropped_never_evicting_higher(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        fill(spool, [CRITICAL, NORMAL, CRITICAL, NORMAL, CRITICAL])
        assert spool.append(LOW, "stats", body(100)) is None
        assert spool.append(LOW, "stats", body(1)) is None
        # A dropped newcomer takes no seq. NORMAL may evict NORMAL: 2 and 4 go.
        assert fill(spool, [NORMAL, NORMAL]) == [6, 7]
        assert [r[0] for r in rows_on_disk(path)] == [1, 3, 5, 6, 7]
        assert spool.status().dropped == {"spool_full:low": 2, "spool_full:normal": 2}


def test_normal_newcomer_dropped_when_only_critical_remains(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        fill(spool, [CRITICAL] * 5)
        assert spool.append(NORMAL, "snapshot", body(100)) is None
        assert spool.status().dropped == {"spool_full:normal": 1}
    assert [r[0] for r in rows_on_disk(path)] == [1, 2, 3, 4, 5]


def test_no_pointless_eviction_when_the_newcomer_cannot_fit_anyway(tmp_path: Path) -> None:
    """Evicting the LOW record frees 50 bytes, 60 are needed: keep it, drop the newcomer."""
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        assert spool.append(LOW, "stats", body(50)) == 1
        fill(spool, [CRITICAL] * 4)  # 450 bytes used
        assert spool.append(NORMAL, "snapshot", body(110)) is None
        st = spool.status()
        assert st.dropped == {"spool_full:normal": 1}
        assert (st.records, st.bytes) == (5, 450)
    assert [r[0] for r in rows_on_disk(path)] == [1, 2, 3, 4, 5]


def test_bytes_bound_holds_under_a_long_mixed_stream(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    plan = [LOW, NORMAL, NORMAL, CRITICAL, NORMAL, LOW, NORMAL]
    with opened(path, 4096, max_record_bytes=1024) as spool:
        accepted = 0
        for i in range(400):
            prio = plan[i % len(plan)]
            if spool.append(prio, prio.name.lower(), body(50 + (i * 37) % 900)) is not None:
                accepted += 1
            st = spool.status()
            assert st.bytes <= 4096
        st = spool.status()
        dropped = sum(st.dropped.values())
        # Every record is either still here or counted as dropped.
        assert accepted + (400 - accepted) == 400
        assert st.records + dropped == 400
    # The cached totals match what is really on disk.
    db = sqlite3.connect(path)
    try:
        n, size = db.execute("SELECT count(*), sum(size) FROM records").fetchone()
    finally:
        db.close()
    assert (n, size) == (st.records, st.bytes)


def test_oversize_record_is_dropped_and_counted_without_evicting(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 1000, max_record_bytes=200) as spool:
        fill(spool, [LOW, LOW])
        assert spool.append(CRITICAL, "event", body(201)) is None
        assert spool.append(NORMAL, "snapshot", body(5000)) is None
        assert spool.append(NORMAL, "snapshot", body(200)) == 3  # exactly the limit fits
        assert spool.status().dropped == {"oversize:critical": 1, "oversize:normal": 1}
    assert [r[0] for r in rows_on_disk(path)] == [1, 2, 3]


def test_default_record_limit_is_a_quarter_of_the_spool(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db", 1000) as spool:
        assert spool.append(NORMAL, "snapshot", body(250)) == 1
        assert spool.append(NORMAL, "snapshot", body(251)) is None
        assert spool.status().dropped == {"oversize:normal": 1}


# --- supersede, reject -------------------------------------------------------------------


def test_supersede_replaces_older_records_of_the_same_kind_only(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path) as spool:
        spool.append(LOW, "stats", body(10), supersede=True)  # 1
        spool.append(NORMAL, "snapshot", body(20))  # 2
        spool.append(LOW, "stats", body(30), supersede=True)  # 3, replaces 1
        spool.append(LOW, "stats", body(40), supersede=True)  # 4, replaces 3
        st = spool.status()
        assert (st.records, st.bytes) == (2, 60)
        assert st.dropped == {}  # superseding is not a loss
        assert [(r.seq, r.body) for r in spool.read(0, 10_000)] == [(2, body(20)), (4, body(40))]
    assert rows_on_disk(path) == [(2, int(NORMAL), "snapshot"), (4, int(LOW), "stats")]


def test_a_superseding_record_that_cannot_fit_leaves_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        assert spool.append(LOW, "stats", body(20), supersede=True) == 1
        fill(spool, [CRITICAL] * 4)  # 420 bytes
        assert spool.append(LOW, "stats", body(110), supersede=True) is None
        st = spool.status()
        assert st.dropped == {"spool_full:low": 1}
        assert (st.records, st.bytes) == (5, 420)
    assert rows_on_disk(path)[0] == (1, int(LOW), "stats")


def test_without_supersede_records_of_a_kind_accumulate(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db") as spool:
        spool.append(LOW, "stats", body(10))
        spool.append(LOW, "stats", body(10))
        assert spool.status().records == 2


def test_reject_removes_the_range_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path) as spool:
        fill(spool, [NORMAL] * 6, size=10)
        assert spool.reject(2, 4) == 3
        assert spool.reject(2, 4) == 0  # nothing left there: nothing more counted
        assert spool.reject(9, 12) == 0
        st = spool.status()
        assert st.dropped == {"rejected_by_collector": 3}
        assert (st.records, st.bytes) == (3, 30)
    assert [r[0] for r in rows_on_disk(path)] == [1, 5, 6]


# --- reopen ------------------------------------------------------------------------------


def test_records_counts_and_epoch_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with opened(path, 500, max_record_bytes=125) as spool:
        fill(spool, [NORMAL] * 5)
        spool.append(LOW, "stats", body(10))  # dropped: spool full of NORMAL
        spool.append(NORMAL, "snapshot", body(1000))  # oversize
        spool.reject(1, 1)
        fill(spool, [NORMAL])  # full again: seq 6
        before = spool.status()
        epoch = spool.epoch
    assert len(epoch) == 32
    with opened(path, 500, max_record_bytes=125) as spool:
        after = spool.status()
        assert spool.epoch == epoch
        assert after == before
        assert after.dropped == {
            "spool_full:low": 1,
            "oversize:normal": 1,
            "rejected_by_collector": 1,
        }
        assert [r.seq for r in spool.read(0, 10_000)] == [2, 3, 4, 5, 6]
        # and the counters keep adding up after the reopen
        spool.append(LOW, "stats", body(10))
        assert spool.status().dropped["spool_full:low"] == 2


def test_a_new_spool_file_gets_a_new_epoch(tmp_path: Path) -> None:
    with opened(tmp_path / "a.db") as a, opened(tmp_path / "b.db") as b:
        assert a.epoch != b.epoch


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "s.db"
    with opened(path) as spool:
        assert spool.append(NORMAL, "snapshot", b"x") == 1
    assert path.exists()


# --- unusable paths ----------------------------------------------------------------------


def test_a_directory_in_the_way_is_a_spool_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.mkdir()
    with pytest.raises(SpoolError, match="cannot open spool") as err:
        Spool(path, 100_000)
    assert str(path) in str(err.value)


def test_a_file_where_the_folder_should_be_is_a_spool_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder")
    with pytest.raises(SpoolError) as err:
        Spool(tmp_path / "state" / "s.db", 100_000)
    assert str(tmp_path / "state" / "s.db") in str(err.value)


def test_a_file_that_is_not_a_database_is_a_spool_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SpoolError, match="not a database"):
        Spool(path, 100_000)


def test_append_many_stores_in_order_in_one_go_and_counts_what_it_drops(tmp_path: Path) -> None:
    with opened(tmp_path / "s.db", max_bytes=4000, max_record_bytes=1000) as sp:
        first = sp.append(Priority.NORMAL, "event", body(10))
        assert first is not None
        kept = sp.append_many(
            Priority.NORMAL, "snapshot", [body(100, b"a"), body(2000), body(100, b"b")]
        )
        assert kept == 2
        rows = sp.read(0, 1 << 20)
        assert [(r.seq, r.kind, r.body[:1]) for r in rows] == [
            (first, "event", b"x"), (first + 1, "snapshot", b"a"), (first + 2, "snapshot", b"b"),
        ]  # fmt: skip
        assert sp.waiting == (3, 210)
        assert sp.status().dropped == {drop_reason("oversize", Priority.NORMAL): 1}
        # Full: the oldest NORMAL records make room, as for append().
        assert sp.append_many(Priority.NORMAL, "snapshot", [body(900)] * 5) == 5
        assert sp.waiting[1] <= 4000


def test_a_spool_that_is_not_durable_still_keeps_its_records_across_a_reopen(
    tmp_path: Path,
) -> None:
    with opened(tmp_path / "s.db", durable=False) as sp:
        sp.append_many(Priority.NORMAL, "snapshot", [body(10)] * 3)
    with opened(tmp_path / "s.db") as sp:
        assert sp.waiting == (3, 30)
