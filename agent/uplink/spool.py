"""The durable spool: every record waits here, on disk, until the collector acks it.

Format: one SQLite file in WAL mode with synchronous=FULL, so `append()`
returns only once the record is on disk; a SIGKILL or power loss after that
loses nothing, and a crash mid-append leaves the previous state intact (the
WAL frame without a commit is discarded on reopen). Sequence numbers come from
AUTOINCREMENT and are never reused, even after every record is acked.

The spool is bounded by max_bytes of record bodies. When a new record does
not fit, the drop policy evicts, in this order: the oldest LOW records, then
the oldest NORMAL, then the oldest CRITICAL; a record is never evicted to make
room for one of lower priority (the newcomer is dropped instead), and nothing
is evicted for a newcomer that would not fit even then. Every drop
is counted by reason in the spool itself, so the counts survive restarts and
travel upstream in AgentStats.

An epoch (a random id made when the file is created) names this spool's
sequence space: a reinstalled agent starts at seq 1 again under a new epoch,
and the collector keys records by (agent_id, epoch, seq).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.records import Priority

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_priority ON records (priority, seq);
CREATE TABLE IF NOT EXISTS drops (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


# Priority(n) goes through EnumType.__call__, a microsecond per row read: the values the
# spool writes are looked up instead (anything else still raises, as Priority(n) does).
_PRIORITIES = {int(p): p for p in Priority}


class SpoolError(Exception):
    """The spool file cannot be opened or used (path, permissions, corruption)."""


@dataclass(frozen=True, slots=True)
class SpoolRow:
    seq: int
    priority: Priority
    kind: str
    body: bytes


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    epoch: str
    records: int
    bytes: int
    first_seq: int
    last_seq: int
    dropped: dict[str, int]


def drop_reason(cause: str, priority: Priority) -> str:
    return f"{cause}:{priority.name.lower()}"


class Spool:
    """Thread-safe; every method is one short transaction."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        *,
        max_record_bytes: int | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        durable: bool = True,
    ) -> None:
        """durable=False skips the fsync of each append (SQLite synchronous=OFF) and keeps
        the rollback journal in memory instead of a WAL: for the simulated hosts of
        collector/sim, whose spools are made afresh for each run, never for an agent.
        A WAL writes every record twice (the log, then the checkpoint) and its deletion
        once more: without it a spooled, read and acked record costs about 40 % less
        CPU (44 µs against 26, 2.4 KB records), which at fleet scale is the simulator's
        largest cost, not the collector's."""
        self.path = path
        self.max_bytes = max_bytes
        # A single record may take at most a quarter of the spool, so one
        # oversized snapshot can never evict everything else.
        self.max_record_bytes = max_record_bytes or max(1, max_bytes // 4)
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.execute(f"PRAGMA journal_mode={'WAL' if durable else 'MEMORY'}")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            # Keep the WAL from growing without bound between checkpoints.
            self._db.execute("PRAGMA journal_size_limit=4194304")
            # The spool is read front to back and written at the end: a small page cache
            # serves that as well as SQLite's default 2 MiB, which would be agent RSS.
            self._db.execute("PRAGMA cache_size=-256")
            self._db.executescript(_SCHEMA)
            self.epoch = self._epoch()
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM records"
            ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            if db is not None:
                db.close()
            raise SpoolError(f"{path}: cannot open spool: {exc}") from None
        self._count, self._bytes = int(row[0]), int(row[1])

    def _epoch(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if row:
            return str(row[0])
        epoch = uuid.uuid4().hex
        self._db.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?)", (epoch,))
        return epoch

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count_drop(self, reason: str, n: int = 1) -> None:
        self._db.execute(
            "INSERT INTO drops (reason, count) VALUES (?, ?) "
            "ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
            (reason, n),
        )

    def _make_room(self, need: int, priority: Priority) -> bool:
        """Evict by policy until need bytes fit; False if only higher priorities remain."""
        while self._bytes + need > self.max_bytes:
            victims = self._db.execute(
                "SELECT seq, priority, size FROM records WHERE priority <= ? "
                "ORDER BY priority, seq LIMIT 256",
                (int(priority),),
            ).fetchall()
            if not victims:
                return False
            freed: list[int] = []
            for seq, prio, size in victims:
                freed.append(seq)
                self._count_drop(drop_reason("spool_full", Priority(prio)))
                self._bytes -= size
                self._count -= 1
                if self._bytes + need <= self.max_bytes:
                    break
            self._db.execute(
                f"DELETE FROM records WHERE seq IN ({','.join('?' * len(freed))})", freed
            )
        return True

    def append(
        self,
        priority: Priority,
        kind: str,
        body: bytes,
        *,
        supersede: bool = False,
        cursor: tuple[str, str] | None = None,
    ) -> int | None:
        """Store one record durably; return its seq, or None if the policy dropped it.

        supersede=True removes older unacked records of the same kind first
        (for cumulative records such as AgentStats, where only the latest matters).
        cursor=(name, value) saves a log position in the same transaction as the record,
        so a log follower restarted after a crash resumes exactly after the last record
        it spooled: nothing twice, nothing missed (agent/follow.py).
        """
        size = len(body)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if cursor is not None:
                    self._write_cursor(*cursor)
                if size > self.max_record_bytes:
                    self._count_drop(drop_reason("oversize", priority))
                    self._db.execute("COMMIT")
                    return None
                if supersede:
                    gone = self._db.execute(
                        "DELETE FROM records WHERE kind = ? RETURNING size", (kind,)
                    ).fetchall()
                    self._count -= len(gone)
                    self._bytes -= sum(r[0] for r in gone)
                if not self._make_room(size, priority):
                    # Undo the evictions (and the supersede): they would lose records
                    # for nothing, since the newcomer is dropped anyway.
                    self._db.execute("ROLLBACK")
                    self._recount()
                    self._db.execute("BEGIN IMMEDIATE")
                    if cursor is not None:
                        self._write_cursor(*cursor)
                    self._count_drop(drop_reason("spool_full", priority))
                    self._db.execute("COMMIT")
                    return None
                seq = self._insert(priority, kind, body)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                # The cached totals may be off after a rollback: recount.
                self._recount()
                raise
            self._count += 1
            self._bytes += size
            return seq

    def append_many(self, priority: Priority, kind: str, bodies: Sequence[bytes]) -> int:
        """Store records of one kind and priority in one transaction; how many were kept.

        What append() does for each, in order (oversize and spool-full drops counted), at
        the cost of one commit: the simulated hosts of collector/sim spool a step of
        cycles at once. Unlike append(), evictions made for a record that is dropped
        anyway are kept (only a spool full of higher priorities gets there).
        """
        kept = 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for body in bodies:
                    size = len(body)
                    if size > self.max_record_bytes:
                        self._count_drop(drop_reason("oversize", priority))
                        continue
                    if not self._make_room(size, priority):
                        self._count_drop(drop_reason("spool_full", priority))
                        continue
                    self._insert(priority, kind, body)
                    self._count += 1
                    self._bytes += size
                    kept += 1
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._recount()
                raise
        return kept

    def _insert(self, priority: Priority, kind: str, body: bytes) -> int:
        cur = self._db.execute(
            "INSERT INTO records (priority, kind, created_ms, size, body) VALUES (?, ?, ?, ?, ?)",
            (int(priority), kind, self._clock_ms(), len(body), body),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def _write_cursor(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("cursor:" + name, value),
        )

    def cursor(self, name: str) -> str | None:
        """The log position last saved under `name`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = ?", ("cursor:" + name,)
            ).fetchone()
        return str(row[0]) if row else None

    def count_drops(
        self, counts: Mapping[str, int], *, cursor: tuple[str, str] | None = None
    ) -> None:
        """Count records that were never spooled (a rate limit, a log overrun), with the
        log position, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if cursor is not None:
                    self._write_cursor(*cursor)
                for reason, n in counts.items():
                    self._count_drop(reason, n)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _recount(self) -> None:
        row = self._db.execute("SELECT count(*), coalesce(sum(size), 0) FROM records").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])

    def read(self, after_seq: int, max_bytes: int, max_records: int = 1000) -> list[SpoolRow]:
        """The oldest records with seq > after_seq, at least one, up to max_bytes in total."""
        rows: list[SpoolRow] = []
        total = 0
        with self._lock:
            cur = self._db.execute(
                "SELECT seq, priority, kind, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, max_records),
            )
            for seq, prio, kind, body in cur:
                if rows and total + len(body) > max_bytes:
                    break
                rows.append(SpoolRow(seq, _PRIORITIES.get(prio) or Priority(prio), kind, body))
                total += len(body)
            cur.close()
        return rows

    def ack(self, up_to_seq: int) -> int:
        """Forget every record with seq <= up_to_seq; return how many were removed."""
        with self._lock:
            gone = self._db.execute(
                "DELETE FROM records WHERE seq <= ? RETURNING size", (up_to_seq,)
            ).fetchall()
            self._count -= len(gone)
            self._bytes -= sum(r[0] for r in gone)
            return len(gone)

    def reject(self, seq_first: int, seq_last: int, reason: str = "rejected_by_collector") -> int:
        """Drop records that can never be delivered, counted under reason: the collector
        refused them, or one is larger than the collector accepts. One bad record must not
        wedge a stream."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute(
                "DELETE FROM records WHERE seq BETWEEN ? AND ? RETURNING size",
                (seq_first, seq_last),
            ).fetchall()
            if gone:
                self._count_drop(reason, len(gone))
            self._db.execute("COMMIT")
            self._count -= len(gone)
            self._bytes -= sum(r[0] for r in gone)
            return len(gone)

    @property
    def waiting(self) -> tuple[int, int]:
        """(records, bytes) waiting, from the running totals: no query."""
        return self._count, self._bytes

    def status(self) -> SpoolStatus:
        with self._lock:
            first, last = self._db.execute("SELECT min(seq), max(seq) FROM records").fetchone()
            drops = dict(self._db.execute("SELECT reason, count FROM drops").fetchall())
        return SpoolStatus(
            epoch=self.epoch,
            records=self._count,
            bytes=self._bytes,
            first_seq=int(first or 0),
            last_seq=int(last or 0),
            dropped={str(k): int(v) for k, v in drops.items()},
        )
