"""The store's contract, on every backend: SQLite always, PostgreSQL when reachable.

Each PostgreSQL test module gets a fresh database (rdiag_t_<hex>) that is
dropped afterwards; tests within the module share it and it is emptied
after each test.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from agent.records import AgentStats, HostInventory
from collector.store import (
    AgentHealth,
    IncomingBatch,
    RecordKind,
    SqlStore,
    StoredRecord,
    StoreError,
    TicketDraft,
    TicketError,
    TicketState,
    open_store,
)
from collector.store.schema import metadata
from tests.helpers.records import INVENTORY

POSTGRES_URL = os.environ.get(
    "RDIAG_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres"
)

AGENT = "agent-1"
EPOCH = "epoch-1"
NOW = 1_700_000_000_000


class FakeClock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Backend:
    url: str
    clock: FakeClock = field(default_factory=FakeClock)
    opened: list[SqlStore] = field(default_factory=list)

    def open(self) -> SqlStore:
        store = open_store(self.url, clock=self.clock)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()
        self.opened.clear()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    admin = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"rdiag_t_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {shown}: {str(exc.orig).splitlines()[0]}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(table.name for table in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        # A directory that does not exist yet: open_store creates it.
        backend = Backend(f"sqlite:///{tmp_path / 'data' / 'rdiag.db'}")
    else:
        backend = Backend(request.getfixturevalue("postgres_url"))
    yield backend
    backend.close_all()
    if request.param == "postgres":
        _empty_postgres(backend.url)


@pytest.fixture
def store(backend: Backend) -> SqlStore:
    return backend.open()


def records(first: int, last: int) -> tuple[StoredRecord, ...]:
    return tuple(
        StoredRecord(seq, RecordKind.EVENT, 1_000 + seq, b"\x00rec %d\xff" % seq)
        for seq in range(first, last + 1)
    )


def batch(
    first: int, last: int, *, agent: str = AGENT, epoch: str = EPOCH, **extra: Any
) -> IncomingBatch:
    extra.setdefault("received_at_ms", 2_000)
    return IncomingBatch(agent, epoch, first, last, records(first, last), **extra)


def draft(
    *, key: str = "agent-1/disk_full/sda1", observed: int = 1_500, **extra: Any
) -> TicketDraft:
    values: dict[str, Any] = {
        "dedup_key": key,
        "agent_id": AGENT,
        "hostname": "ws-042",
        "rule_id": "disk_full",
        "rule_version": 2,
        "component": "/dev/sda1",
        "severity": "high",
        "priority": "P2",
        "tier": "L1",
        "category": "storage",
        "summary": "Disk / is 97% full",
        "description": "## Disk full\n\nFree some space.",
        "evidence": {"used_pct": 97.1, "mount": "/", "top": ["a", "b"]},
        "observed_at_ms": observed,
    }
    values.update(extra)
    return TicketDraft(**values)


# -- streams and telemetry ------------------------------------------------------


def test_unknown_stream_is_at_zero(store: SqlStore) -> None:
    assert store.stream_position(AGENT, EPOCH) == 0
    assert store.telemetry_seqs(AGENT, EPOCH) == []
    assert store.save_batches([]) == []


def test_first_batch_is_stored_and_acked(store: SqlStore) -> None:
    [result] = store.save_batches([batch(1, 10)])
    assert result.inserted_seqs == frozenset(range(1, 11))
    assert result.acked_seq == 10
    assert store.stream_position(AGENT, EPOCH) == 10
    assert store.telemetry_seqs(AGENT, EPOCH) == list(range(1, 11))


def test_replayed_batch_is_a_no_op(store: SqlStore) -> None:
    store.save_batches([batch(1, 10)])
    [again] = store.save_batches([batch(1, 10)])
    assert again.inserted_seqs == frozenset()
    assert again.acked_seq == 10
    assert store.telemetry_seqs(AGENT, EPOCH) == list(range(1, 11))
    assert store.telemetry_count() == 10


def test_partial_overlap_inserts_only_new_seqs(store: SqlStore) -> None:
    store.save_batches([batch(1, 10)])
    [second] = store.save_batches([batch(5, 15)])
    assert second.inserted_seqs == frozenset(range(11, 16))
    assert second.acked_seq == 15
    assert store.telemetry_seqs(AGENT, EPOCH) == list(range(1, 16))


def test_two_batches_of_one_stream_in_one_call(store: SqlStore) -> None:
    first, second = store.save_batches([batch(1, 10), batch(5, 15)])
    assert first.inserted_seqs == frozenset(range(1, 11))
    assert first.acked_seq == 10
    assert second.inserted_seqs == frozenset(range(11, 16))
    assert second.acked_seq == 15
    assert store.telemetry_count() == 15


def test_acked_seq_never_goes_back(store: SqlStore) -> None:
    store.save_batches([batch(1, 10)])
    [old] = store.save_batches([batch(1, 5)])
    assert old.acked_seq == 10
    assert store.stream_position(AGENT, EPOCH) == 10


def test_epochs_and_agents_are_separate_streams(store: SqlStore) -> None:
    results = store.save_batches(
        [batch(1, 10), batch(1, 3, epoch="epoch-2"), batch(1, 5, agent="agent-2")]
    )
    assert [r.inserted_seqs for r in results] == [
        frozenset(range(1, 11)),
        frozenset(range(1, 4)),
        frozenset(range(1, 6)),
    ]
    assert store.stream_position(AGENT, EPOCH) == 10
    assert store.stream_position(AGENT, "epoch-2") == 3
    assert store.stream_position("agent-2", EPOCH) == 5
    assert store.telemetry_seqs(AGENT, "epoch-2") == [1, 2, 3]
    assert store.telemetry_count() == 18


def test_payloads_round_trip(store: SqlStore) -> None:
    snapshot = StoredRecord(1, RecordKind.SNAPSHOT, 10, bytes(range(256)))
    stats = StoredRecord(2, RecordKind.STATS, 11, b"")
    store.save_batches([IncomingBatch(AGENT, EPOCH, 1, 2, (snapshot, stats), 2_000)])
    assert store.telemetry_payloads(AGENT, EPOCH) == [
        (1, "snapshot", bytes(range(256))),
        (2, "stats", b""),
    ]


def test_purge_deletes_only_old_rows_and_keeps_positions(store: SqlStore) -> None:
    store.save_batches([batch(1, 10, received_at_ms=1_000), batch(11, 20, received_at_ms=5_000)])
    assert store.purge_telemetry(1_000) == 0
    assert store.purge_telemetry(3_000) == 10
    assert store.telemetry_seqs(AGENT, EPOCH) == list(range(11, 21))
    assert store.stream_position(AGENT, EPOCH) == 20
    assert store.purge_telemetry(3_000) == 0


def test_concurrent_writers_from_threads(store: SqlStore) -> None:
    errors: list[BaseException] = []

    def ingest(agent: str) -> None:
        try:
            for first in range(1, 100, 10):
                store.save_batches([batch(first, first + 9, agent=agent)])
                store.stream_position(agent, EPOCH)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(f"agent-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.telemetry_count() == 400
    assert all(store.stream_position(f"agent-{n}", EPOCH) == 100 for n in range(4))


# -- tickets --------------------------------------------------------------------


def test_finding_opens_a_ticket(backend: Backend, store: SqlStore) -> None:
    finding = draft()
    [result] = store.save_batches([batch(1, 10, findings=((3, finding),))])
    [ticket_id] = result.tickets_opened
    assert result.tickets_updated == ()
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    assert ticket.state is TicketState.OPEN
    assert ticket.occurrences == 1
    assert (ticket.created_at_ms, ticket.updated_at_ms) == (backend.clock.now, backend.clock.now)
    assert (ticket.first_seen_ms, ticket.last_seen_ms) == (1_500, 1_500)
    assert dict(ticket.evidence) == {"used_pct": 97.1, "mount": "/", "top": ["a", "b"]}
    assert (ticket.dedup_key, ticket.agent_id, ticket.hostname) == (
        finding.dedup_key,
        AGENT,
        "ws-042",
    )
    assert (ticket.rule_id, ticket.rule_version, ticket.component) == ("disk_full", 2, "/dev/sda1")
    assert (ticket.severity, ticket.priority, ticket.tier) == ("high", "P2", "L1")
    assert (ticket.category, ticket.summary) == ("storage", finding.summary)
    assert ticket.description == finding.description
    assert store.get_ticket(ticket_id + 1000) is None


def test_replayed_finding_does_not_touch_the_ticket(store: SqlStore) -> None:
    replayed = batch(1, 10, findings=((3, draft()),))
    [first] = store.save_batches([replayed])
    [again] = store.save_batches([replayed])
    assert (again.tickets_opened, again.tickets_updated) == ((), ())
    [ticket] = store.list_tickets()
    assert ticket.id == first.tickets_opened[0]
    assert ticket.occurrences == 1


def test_finding_for_a_record_not_in_the_batch_is_ignored(store: SqlStore) -> None:
    [result] = store.save_batches([batch(1, 10, findings=((42, draft()),))])
    assert (result.tickets_opened, result.tickets_updated) == ((), ())
    assert store.list_tickets() == []


def test_repeat_finding_updates_the_open_ticket(backend: Backend, store: SqlStore) -> None:
    [first] = store.save_batches([batch(1, 10, findings=((3, draft()),))])
    backend.clock.now += 60_000
    repeat = draft(observed=9_000, evidence={"used_pct": 99.0, "mount": "/"})
    [second] = store.save_batches([batch(11, 20, findings=((12, repeat),))])
    assert second.tickets_opened == ()
    assert second.tickets_updated == first.tickets_opened
    [ticket] = store.list_tickets()
    assert ticket.occurrences == 2
    assert (ticket.first_seen_ms, ticket.last_seen_ms) == (1_500, 9_000)
    assert ticket.created_at_ms == NOW
    assert ticket.updated_at_ms == NOW + 60_000
    assert dict(ticket.evidence) == {"used_pct": 99.0, "mount": "/"}


def test_repeat_findings_within_one_batch(store: SqlStore) -> None:
    findings = ((3, draft(observed=1_500)), (4, draft(observed=1_600)))
    [result] = store.save_batches([batch(1, 10, findings=findings)])
    assert result.tickets_updated == result.tickets_opened
    [ticket] = store.list_tickets()
    assert (ticket.occurrences, ticket.last_seen_ms) == (2, 1_600)


def test_late_older_observation_keeps_newer_evidence(store: SqlStore) -> None:
    newer = draft(observed=9_000, evidence={"used_pct": 99.0})
    older = draft(observed=1_000, evidence={"used_pct": 90.0})
    store.save_batches(
        [batch(1, 10, findings=((3, newer),)), batch(11, 20, findings=((11, older),))]
    )
    [ticket] = store.list_tickets()
    assert ticket.occurrences == 2
    assert (ticket.first_seen_ms, ticket.last_seen_ms) == (1_000, 9_000)
    assert dict(ticket.evidence) == {"used_pct": 99.0}


def test_a_ticket_resolved_before_the_reopen_window_lets_a_new_one_open(
    backend: Backend, store: SqlStore
) -> None:
    [first] = store.save_batches([batch(1, 10, findings=((3, draft()),))])
    [old_id] = first.tickets_opened
    assert store.resolve_ticket(old_id, "l2").state is TicketState.RESOLVED
    backend.clock.now += store.policy.reopen_window_ms + 1
    [second] = store.save_batches([batch(11, 20, findings=((15, draft(observed=9_000)),))])
    [new_id] = second.tickets_opened
    assert new_id != old_id
    old = store.get_ticket(old_id)
    assert old is not None
    assert (old.state, old.occurrences) == (TicketState.RESOLVED, 1)
    assert [t.id for t in store.list_tickets(state=TicketState.OPEN)] == [new_id]
    with pytest.raises(TicketError, match="open for the same problem"):
        store.reopen_ticket(old_id, "l2")
    store.resolve_ticket(new_id, "l2")
    assert store.reopen_ticket(new_id, "l2").state is TicketState.OPEN
    with pytest.raises(TicketError, match="no ticket #"):
        store.resolve_ticket(old_id + new_id + 1000, "l2")


def test_list_tickets_newest_first_with_filters(backend: Backend, store: SqlStore) -> None:
    ids: list[int] = []
    for n, agent in enumerate(["agent-1", "agent-2", "agent-1"]):
        backend.clock.now = NOW + n
        finding = draft(key=f"{agent}/rule-{n}", agent_id=agent)
        [result] = store.save_batches(
            [batch(n * 10 + 1, n * 10 + 10, agent=agent, findings=((n * 10 + 1, finding),))]
        )
        ids.extend(result.tickets_opened)
    store.resolve_ticket(ids[0], "l2")
    assert [t.id for t in store.list_tickets()] == ids[::-1]
    assert [t.id for t in store.list_tickets(limit=2)] == [ids[2], ids[1]]
    assert [t.id for t in store.list_tickets(agent_id="agent-1")] == [ids[2], ids[0]]
    assert [t.id for t in store.list_tickets(state=TicketState.RESOLVED)] == [ids[0]]
    assert [t.id for t in store.list_tickets(state=TicketState.OPEN, agent_id="agent-1")] == [
        ids[2]
    ]


# -- hosts and agent health ---------------------------------------------------


def test_host_upsert_keeps_first_seen_and_advances_last_seen(store: SqlStore) -> None:
    assert store.get_host(AGENT) is None
    store.save_batches([batch(1, 10, received_at_ms=2_000, inventory=INVENTORY)])
    store.save_batches([batch(11, 20, received_at_ms=3_000)])
    host = store.get_host(AGENT)
    assert host is not None
    assert host.inventory == INVENTORY  # a batch without inventory keeps the last one
    assert (host.first_seen_ms, host.last_seen_ms) == (2_000, 3_000)

    upgraded = replace(INVENTORY, agent_version="0.2.0", kernel="6.1.1")
    store.save_batches([batch(21, 30, received_at_ms=4_000, inventory=upgraded)])
    assert store.list_hosts() == [replace(host, inventory=upgraded, last_seen_ms=4_000)]


def test_host_first_seen_without_inventory(store: SqlStore) -> None:
    store.save_batches([batch(1, 10, received_at_ms=2_000)])
    host = store.get_host(AGENT)
    assert host is not None
    assert host.inventory == HostInventory(hostname="", os_family="")
    assert (host.first_seen_ms, host.last_seen_ms) == (2_000, 2_000)


def test_list_hosts_by_agent_id(store: SqlStore) -> None:
    store.save_batches([batch(1, 1, agent="b"), batch(1, 1, agent="a")])
    assert [h.agent_id for h in store.list_hosts()] == ["a", "b"]


def test_agent_stats_round_trip_with_dropped_counters(store: SqlStore) -> None:
    assert store.agent_health(AGENT) is None
    stats = AgentStats(time_ms=5_000, spool_records=12, spool_bytes=3_456, dropped={"full": 7})
    store.save_batches([batch(1, 10, stats=stats)])
    assert store.agent_health(AGENT) == AgentHealth(AGENT, 5_000, 12, 3_456, {"full": 7})

    newer = AgentStats(time_ms=6_000, spool_records=0, spool_bytes=0, dropped={"full": 7, "age": 2})
    store.save_batches([batch(11, 20, stats=newer)])
    health = store.agent_health(AGENT)
    assert health is not None
    assert (health.time_ms, dict(health.dropped)) == (6_000, {"age": 2, "full": 7})

    stale = AgentStats(time_ms=5_500, spool_records=99, spool_bytes=99)
    store.save_batches([batch(21, 30, stats=stale)])
    assert store.agent_health(AGENT) == health


# -- rejected batches -----------------------------------------------------------


def test_rejected_batches_round_trip(store: SqlStore) -> None:
    first = store.record_rejected(AGENT, EPOCH, 1, 10, "bad codec", b"\x00\x01", 2_000)
    second = store.record_rejected("agent-2", "e2", 5, 6, "too large", b"", 3_000)
    rejected = store.list_rejected()
    assert [r.id for r in rejected] == [second, first]
    assert rejected[1].agent_id == AGENT
    assert (rejected[1].epoch, rejected[1].seq_first, rejected[1].seq_last) == (EPOCH, 1, 10)
    assert (rejected[1].reason, rejected[1].payload) == ("bad codec", b"\x00\x01")
    assert rejected[1].received_at_ms == 2_000
    assert store.list_rejected(limit=1) == rejected[:1]


# -- opening, reopening, migrations ---------------------------------------------


def test_reopening_keeps_data(backend: Backend) -> None:
    store = backend.open()
    store.save_batches([batch(1, 10, findings=((3, draft()),))])
    store.close()
    reopened = backend.open()
    assert reopened.stream_position(AGENT, EPOCH) == 10
    assert reopened.telemetry_count() == 10
    assert len(reopened.list_tickets()) == 1
    [again] = reopened.save_batches([batch(1, 12)])
    assert again.inserted_seqs == frozenset({11, 12})


def test_migrated_database_matches_schema_metadata(backend: Backend) -> None:
    backend.open().close()
    engine = create_engine(backend.url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////proc/nope/x.db",
        "nosuchdb://x",
        "nosuchdb://admin:s3cret@host/x",
        "postgresql+psycopg://admin:s3cret@host:notaport/x",
        pytest.param("postgresql+psycopg://root:s3cret@127.0.0.1:1/x", marks=pytest.mark.postgres),
    ],
)
def test_open_store_on_unusable_url_raises_store_error(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(url)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert message.startswith("cannot open store ")


def test_store_error_names_the_url_with_password_masked() -> None:
    with pytest.raises(StoreError) as raised:
        open_store("nosuchdb://admin:s3cret@host/x")
    assert "nosuchdb://admin:***@host/x" in str(raised.value)


def test_invalid_sqlite_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="sqlite_synchronous"):
        open_store(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="sometimes")
