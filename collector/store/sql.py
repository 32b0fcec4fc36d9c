"""SqlStore: the collector's store on SQLite or PostgreSQL, in SQLAlchemy Core.

The backend is only the URL. open_store migrates the database to head with
Alembic before handing the store out. Every public method is one transaction;
save_batches commits a whole group of agent batches at once (group commit),
which is what makes ingest fast where a commit costs an fsync.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import unquote

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    Table,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from agent.records import AgentStats, HostInventory
from collector.engine.history import HistoryDelta, RuleState, StoredEvent
from collector.engine.model import IncidentUpdate, coalesce
from collector.store.accounts import AccountsMixin
from collector.store.clock import ObservedClock, wall_clock_ms
from collector.store.console import ConsoleMixin
from collector.store.lifecycle import FINAL, Lifecycle, Prepared
from collector.store.model import (
    AgentHealth,
    BatchResult,
    Host,
    Incident,
    IncomingBatch,
    RejectedBatch,
    StoredFinding,
    Ticket,
    TicketDraft,
    TicketState,
)
from collector.store.schema import (
    OPEN_TICKET,
    agent_stats,
    host_events,
    hosts,
    incident_hosts,
    incidents,
    rejected_batches,
    rule_states,
    series_points,
    streams,
    telemetry,
    tickets,
)
from collector.store.ticketing import TicketsMixin, ticket_of
from collector.store.timeline import TimelineMixin
from collector.tickets import redact
from collector.tickets.policy import TicketPolicy

Clock = Callable[[], int]

MIGRATIONS = Path(__file__).with_name("migrations")

# The hosts columns that mirror HostInventory, by field name.
_INVENTORY_FIELDS = tuple(f.name for f in fields(HostInventory) if f.name in hosts.c)
_TELEMETRY_COLUMNS = tuple(c.name for c in telemetry.c)
# What a host row holds until its agent first reports an inventory.
_NO_INVENTORY = HostInventory(hostname="", os_family="")

_SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

# scheme://user:password@ — the same split SQLAlchemy's URL parser makes.
_USERINFO = re.compile(r"^([\w+]+://[^:/]*:)([^@]*)@")


class StoreError(Exception):
    """The store cannot do what was asked; the message is one line and names the URL."""


def open_store(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    clock: Clock = wall_clock_ms,
    policy: TicketPolicy | None = None,
) -> SqlStore:
    """Open (creating if needed) the store at url and migrate it to the latest schema.

    sqlite_synchronous is SQLite's PRAGMA synchronous (OFF, NORMAL, FULL, EXTRA);
    PostgreSQL ignores it. clock gives "now" in ms for ticket timestamps; policy is the
    ticket lifecycle's (defaults: collector.tickets.policy).
    """
    shown = _ShownUrl.of(url)
    # Whatever goes wrong here (URL syntax, missing driver, unreachable server,
    # unwritable directory, failed migration) leaves no usable store, so the
    # caller gets one error type with a one-line reason instead of a driver trace.
    try:
        engine = _create_engine(url, sqlite_synchronous.upper())
    except Exception as exc:
        raise shown.error("cannot open store", exc) from exc
    try:
        with engine.begin() as connection:
            migrate(connection)
    except Exception as exc:
        engine.dispose()
        raise shown.error("cannot open store", exc) from exc
    return SqlStore(engine, clock=clock, shown_url=shown, policy=policy or TicketPolicy())


def alembic_config(connection: Connection) -> Config:
    """An Alembic config for the packaged migrations, running on connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def migrate(connection: Connection) -> None:
    """Bring the database behind connection to the latest schema, inside its transaction."""
    command.upgrade(alembic_config(connection), "head")


class SqlStore(TicketsMixin, AccountsMixin, ConsoleMixin, TimelineMixin):
    """Telemetry, streams, hosts, agent health and tickets, in one SQL database."""

    def __init__(
        self, engine: Engine, *, clock: Clock, shown_url: _ShownUrl, policy: TicketPolicy
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.policy = policy
        self._url = shown_url
        self._sql = _Statements.for_dialect(engine.dialect.name)
        # Writes are serialized in this process: SQLite has a single writer
        # anyway, and on PostgreSQL it keeps two groups that touch the same
        # host and stream rows in different orders from deadlocking.
        self._write_lock = threading.Lock()
        # SQLite runs on one shared connection, so readers must take turns too.
        self._read_lock: AbstractContextManager[Any] = (
            self._write_lock if engine.dialect.name == "sqlite" else nullcontext()
        )

    def close(self) -> None:
        # After any write in flight: disposing the SQLite connection under a running
        # statement crashes the driver.
        with self._write_lock:
            self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ingest ---------------------------------------------------------------

    def save_batches(self, batches: Sequence[IncomingBatch]) -> list[BatchResult]:
        """Commit a group of batches in one transaction; one result per batch, in order.

        Records already stored are skipped, and a finding only touches tickets
        when its record was newly stored by this call, so replays are no-ops.
        The outcome is the same as saving the batches one after the other; the
        statements are per group, not per batch (one executemany per table), so
        a group of hundreds of small batches costs a handful of round trips.
        """
        if not batches:
            return []
        observed = self._clock if isinstance(self._clock, ObservedClock) else None
        if observed is not None:
            observed.observe(max((r.observed_at_ms for b in batches for r in b.records), default=0))
        now = self._clock()
        with self._transaction(self._write_lock) as conn:
            results = self._save_group(conn, batches, now)
            if observed is not None:
                # Simulated time passes with the observations: what falls due by it (a
                # hold-down's auto-resolve) happens now, not at the outbox's next tick,
                # which counts wall-clock seconds while the fleet's minutes fly by. Every
                # commit: a hold-down runs on its host's own clock (Lifecycle.host_time),
                # which a lagging host moves without moving the fleet's.
                self._life(conn, now).tick()
            return results

    def _save_group(
        self, conn: Connection, batches: Sequence[IncomingBatch], now: int
    ) -> list[BatchResult]:
        sql = self._sql
        # Parents first: telemetry references its stream, the stream its host.
        with_inventory, without_inventory = _host_rows(batches)
        if with_inventory:
            conn.execute(sql.upsert_host, with_inventory)
        if without_inventory:
            conn.execute(sql.touch_host, without_inventory)

        # Each batch's acked_seq is the stream's position once it (and the
        # group's batches before it) are applied: the stored position, advanced
        # batch by batch. The upsert keeps the greatest value either way; a
        # writer in another process can only move the stored position further,
        # so an ack computed here never claims more than is committed.
        keys = {(b.agent_id, b.epoch) for b in batches}
        agents = sorted({agent for agent, _ in keys})
        position: dict[tuple[str, str], int] = {
            (agent, epoch): acked
            for agent, epoch, acked in conn.execute(sql.stream_positions, {"agents": agents})
            if (agent, epoch) in keys
        }
        acked_seqs: list[int] = []
        for b in batches:
            key = (b.agent_id, b.epoch)
            position[key] = max(position.get(key, 0), b.seq_last)
            acked_seqs.append(position[key])
        conn.execute(
            sql.advance_stream,
            [
                {"agent_id": agent, "epoch": epoch, "acked_seq": acked}
                for (agent, epoch), acked in sorted(position.items())
            ],
        )

        # One insert for the whole group. A record that appears twice in the
        # group (a resend racing its original) belongs to its first batch,
        # exactly as if the batches had been saved in order.
        owner: dict[tuple[str, str, int], int] = {}
        rows: list[dict[str, Any]] = []
        for index, b in enumerate(batches):
            for record in b.records:
                key3 = (b.agent_id, b.epoch, record.seq)
                if key3 in owner:
                    continue
                owner[key3] = index
                rows.append(
                    {
                        "agent_id": b.agent_id,
                        "epoch": b.epoch,
                        "seq": record.seq,
                        "kind": record.kind.value,
                        "observed_at_ms": record.observed_at_ms,
                        "received_at_ms": b.received_at_ms,
                        "payload": record.payload,
                    }
                )
        inserted: list[set[int]] = [set() for _ in batches]
        if rows:
            params: Any = rows
            if sql.telemetry_columnar:
                params = {name: [row[name] for row in rows] for name in _TELEMETRY_COLUMNS}
            for agent, epoch, seq in conn.execute(sql.insert_telemetry, params):
                inserted[owner[(agent, epoch, seq)]].add(seq)

        stats = _stats_rows(batches)
        if stats:
            conn.execute(sql.upsert_stats, stats)

        _apply_history(conn, sql, [d for b in batches for d in b.history])

        results: list[BatchResult] = []
        life = self._life(conn, now)
        # An incident update carries the whole member list, so within a group only its
        # last one is written (where that batch's turn comes): the same end state as
        # writing every one in turn, without rewriting a large incident per member batch.
        last_update = {(u.rule_id, u.group): i for i, b in enumerate(batches) for u in b.incidents}
        for index, (b, acked_seq, new) in enumerate(
            zip(batches, acked_seqs, inserted, strict=True)
        ):
            opened: list[int] = []
            updated: list[int] = []
            for seq, draft in b.findings:
                if seq not in new:
                    continue
                applied = life.apply(draft)
                if applied is None:
                    continue
                ticket_id, outcome = applied
                (opened if outcome in ("opened", "recurred", "held") else updated).append(ticket_id)
                if draft.absorbs and not draft.clear:
                    _merge_into(life, ticket_id, draft)
            for incident in coalesce(b.incidents):
                if last_update[(incident.rule_id, incident.group)] == index:
                    _save_incident(life, incident)
            results.append(
                BatchResult(
                    inserted_seqs=frozenset(new),
                    acked_seq=acked_seq,
                    tickets_opened=tuple(opened),
                    tickets_updated=tuple(updated),
                )
            )
        return results

    def stream_position(self, agent_id: str, epoch: str) -> int:
        """The highest seq committed for (agent_id, epoch); 0 for a stream never seen."""
        query = select(streams.c.acked_seq).where(
            streams.c.agent_id == agent_id, streams.c.epoch == epoch
        )
        with self._transaction(self._read_lock) as conn:
            acked: int | None = conn.execute(query).scalar_one_or_none()
        return acked or 0

    def record_rejected(
        self,
        agent_id: str,
        epoch: str,
        seq_first: int,
        seq_last: int,
        reason: str,
        payload: bytes,
        received_at_ms: int,
    ) -> int:
        """Keep a batch the collector refused, for inspection; returns its id."""
        statement = (
            insert(rejected_batches)
            .values(
                agent_id=agent_id,
                epoch=epoch,
                seq_first=seq_first,
                seq_last=seq_last,
                reason=reason,
                payload=payload,
                received_at_ms=received_at_ms,
            )
            .returning(rejected_batches.c.id)
        )
        with self._transaction(self._write_lock) as conn:
            rejected_id: int = conn.execute(statement).scalar_one()
        return rejected_id

    def list_rejected(self, limit: int = 100) -> list[RejectedBatch]:
        """Rejected batches, newest first."""
        query = select(rejected_batches).order_by(rejected_batches.c.id.desc()).limit(limit)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
        return [RejectedBatch(**{**row, "payload": bytes(row["payload"])}) for row in rows]

    # -- tickets --------------------------------------------------------------

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        query = select(tickets).where(tickets.c.id == ticket_id)
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(query).mappings().one_or_none()
        return None if row is None else ticket_of(row)

    # -- rule history, findings and incidents -------------------------------------

    def load_history(
        self, agent_id: str
    ) -> tuple[list[StoredEvent], list[tuple[str, str, int, float]], list[RuleState], int]:
        """What the rule engine remembers of one host: (events, points, states, last snapshot)."""
        with self._transaction(self._read_lock) as conn:
            events = [
                StoredEvent(
                    r.event_key,
                    r.time_ms,
                    r.kind,
                    r.severity,
                    r.message,
                    MappingProxyType(json.loads(r.fields)),
                )  # fmt: skip
                for r in conn.execute(select(host_events).where(host_events.c.agent_id == agent_id))
            ]
            points = [
                (r.series, r.component, r.t_ms, r.value)
                for r in conn.execute(
                    select(series_points).where(series_points.c.agent_id == agent_id)
                )
            ]
            states = [
                _rule_state(row)
                for row in conn.execute(
                    select(rule_states).where(rule_states.c.agent_id == agent_id)
                ).mappings()
            ]
            last = conn.execute(
                select(hosts.c.last_snapshot_ms).where(hosts.c.agent_id == agent_id)
            ).scalar_one_or_none()
        return events, points, states, int(last or 0)

    def list_findings(
        self, *, agent_id: str | None = None, phase: str | None = None, limit: int = 1000
    ) -> list[StoredFinding]:
        """Rule states that are active or cleared (pending ones are not findings yet)."""
        query = select(rule_states).order_by(
            rule_states.c.opened_ms.desc(), rule_states.c.agent_id, rule_states.c.rule_id
        )
        query = query.where(rule_states.c.phase != "pending").limit(limit)
        if agent_id is not None:
            query = query.where(rule_states.c.agent_id == agent_id)
        if phase is not None:
            query = query.where(rule_states.c.phase == phase)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
        return [StoredFinding(row["agent_id"], _rule_state(row)) for row in rows]

    def list_incidents(self, *, state: str | None = None, limit: int = 100) -> list[Incident]:
        """Fleet incidents, newest first, with their hosts."""
        query = select(incidents).order_by(incidents.c.opened_ms.desc()).limit(limit)
        if state is not None:
            query = query.where(incidents.c.state == state)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
            members: dict[int, list[tuple[str, str, int]]] = {}
            ids = [row["id"] for row in rows]
            if ids:
                for m in conn.execute(
                    select(incident_hosts)
                    .where(incident_hosts.c.incident_id.in_(ids))
                    .order_by(incident_hosts.c.agent_id)
                ):
                    members.setdefault(m.incident_id, []).append(
                        (m.agent_id, m.hostname, m.last_fired_ms)
                    )
        return [
            Incident(
                id=row["id"], rule_id=row["rule_id"], group=row["group_value"],
                state=row["state"], summary=row["summary"], opened_ms=row["opened_ms"],
                updated_ms=row["updated_ms"], last_seen_ms=row["last_seen_ms"],
                hosts=tuple(members.get(row["id"], ())),
            )
            for row in rows
        ]  # fmt: skip

    # -- hosts ----------------------------------------------------------------

    def list_hosts(self) -> list[Host]:
        """Every host that ever sent a batch, by agent_id."""
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(select(hosts).order_by(hosts.c.agent_id)).mappings().all()
        return [_host(row) for row in rows]

    def get_host(self, agent_id: str) -> Host | None:
        query = select(hosts).where(hosts.c.agent_id == agent_id)
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(query).mappings().one_or_none()
        return None if row is None else _host(row)

    def agent_health(self, agent_id: str) -> AgentHealth | None:
        """The latest stats the agent reported about itself, if any."""
        query = select(agent_stats).where(agent_stats.c.agent_id == agent_id)
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(query).mappings().one_or_none()
        if row is None:
            return None
        return AgentHealth(
            agent_id=row["agent_id"],
            time_ms=row["time_ms"],
            spool_records=row["spool_records"],
            spool_bytes=row["spool_bytes"],
            dropped=MappingProxyType(json.loads(row["dropped"])),
        )

    # -- telemetry ------------------------------------------------------------

    def telemetry_seqs(self, agent_id: str, epoch: str) -> list[int]:
        """The seqs stored for one stream, ascending."""
        query = (
            select(telemetry.c.seq)
            .where(telemetry.c.agent_id == agent_id, telemetry.c.epoch == epoch)
            .order_by(telemetry.c.seq)
        )
        with self._transaction(self._read_lock) as conn:
            return list(conn.execute(query).scalars())

    def telemetry_count(self) -> int:
        with self._transaction(self._read_lock) as conn:
            count: int = conn.execute(select(func.count()).select_from(telemetry)).scalar_one()
        return count

    def telemetry_payloads(self, agent_id: str, epoch: str) -> list[tuple[int, str, bytes]]:
        """(seq, kind, payload) for one stream, by seq."""
        query = (
            select(telemetry.c.seq, telemetry.c.kind, telemetry.c.payload)
            .where(telemetry.c.agent_id == agent_id, telemetry.c.epoch == epoch)
            .order_by(telemetry.c.seq)
        )
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
        return [(seq, kind, bytes(payload)) for seq, kind, payload in rows]

    def purge_telemetry(self, older_than_ms: int) -> int:
        """Delete telemetry received before older_than_ms; returns how many rows went.

        Stream positions stay where they are: agents resume after acked_seq,
        so purging old records must not make the collector ask for them again.
        """
        statement = delete(telemetry).where(telemetry.c.received_at_ms < older_than_ms)
        with self._transaction(self._write_lock) as conn:
            return conn.execute(statement).rowcount

    @contextmanager
    def sink_lock(self, name: str) -> Iterator[bool]:
        """Whether this process may deliver to sink name now: on PostgreSQL a session
        advisory lock per sink (collectors sharing a database take turns, so a ticket is
        never created twice by two of them); SQLite has one writer process anyway."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(f"rdiag-sink\0{name}".encode()).digest()[:8], "big")
        key -= 1 << 63 if key >= 1 << 63 else 0  # a signed bigint
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise self._url.error("store", exc) from exc
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        finally:
            conn.close()

    @contextmanager
    def _transaction(self, lock: AbstractContextManager[Any]) -> Iterator[Connection]:
        with lock:
            try:
                with self._engine.begin() as conn:
                    yield conn
            except SQLAlchemyError as exc:
                raise self._url.error("store", exc) from exc


@dataclass(frozen=True, slots=True)
class _Statements:
    """The hot-path statements, built once per dialect so only parameters vary."""

    upsert_host: Executable  # inventory and last_seen
    touch_host: Executable  # last_seen only; the inventory stays as it was
    stream_positions: Executable  # (agent_id, epoch, acked_seq) of the :agents streams
    advance_stream: Executable  # acked_seq only moves forward
    insert_telemetry: Executable  # returns (agent_id, epoch, seq) of the rows inserted
    telemetry_columnar: bool  # insert_telemetry takes one array per column, not rows
    upsert_stats: Executable
    insert_event: Executable
    delete_event: Executable
    insert_point: Executable
    delete_point: Executable
    upsert_state: Executable
    delete_state: Executable
    mark_snapshot: Executable

    @classmethod
    def for_dialect(cls, name: str) -> _Statements:
        dialect_insert = sqlite.insert if name == "sqlite" else postgresql.insert

        host = dialect_insert(hosts)
        last_seen = {"last_seen_ms": _greatest(hosts.c.last_seen_ms, host.excluded.last_seen_ms)}
        inventory = {name: host.excluded[name] for name in _INVENTORY_FIELDS}

        stream = dialect_insert(streams)
        stats = dialect_insert(agent_stats)
        state = dialect_insert(rule_states)
        state_keys = ("agent_id", "rule_id", "component")
        return cls(
            insert_event=dialect_insert(host_events).on_conflict_do_nothing(
                index_elements=[host_events.c.agent_id, host_events.c.event_key]
            ),
            delete_event=delete(host_events).where(
                host_events.c.agent_id == bindparam("a"), host_events.c.event_key == bindparam("k")
            ),
            insert_point=dialect_insert(series_points).on_conflict_do_nothing(
                index_elements=[
                    series_points.c.agent_id,
                    series_points.c.series,
                    series_points.c.component,
                    series_points.c.t_ms,
                ]
            ),  # fmt: skip
            delete_point=delete(series_points).where(
                series_points.c.agent_id == bindparam("a"),
                series_points.c.series == bindparam("s"),
                series_points.c.component == bindparam("c"),
                series_points.c.t_ms == bindparam("t"),
            ),
            upsert_state=state.on_conflict_do_update(
                index_elements=[rule_states.c[k] for k in state_keys],
                set_={n: state.excluded[n] for n in _STATE_FIELDS if n not in state_keys},
            ),
            delete_state=delete(rule_states).where(
                rule_states.c.agent_id == bindparam("a"),
                rule_states.c.rule_id == bindparam("r"),
                rule_states.c.component == bindparam("c"),
            ),
            mark_snapshot=update(hosts)
            .where(hosts.c.agent_id == bindparam("a"))
            .values(last_snapshot_ms=_greatest(hosts.c.last_snapshot_ms, bindparam("t"))),
            upsert_host=host.on_conflict_do_update(
                index_elements=[hosts.c.agent_id], set_={**inventory, **last_seen}
            ),
            touch_host=host.on_conflict_do_update(
                index_elements=[hosts.c.agent_id], set_=last_seen
            ),
            stream_positions=select(streams.c.agent_id, streams.c.epoch, streams.c.acked_seq).where(
                streams.c.agent_id.in_(bindparam("agents", expanding=True))
            ),
            advance_stream=stream.on_conflict_do_update(
                index_elements=[streams.c.agent_id, streams.c.epoch],
                set_={"acked_seq": _greatest(streams.c.acked_seq, stream.excluded.acked_seq)},
            ),
            insert_telemetry=(
                dialect_insert(telemetry) if name == "sqlite" else _unnest_insert(telemetry)
            )
            .on_conflict_do_nothing(
                index_elements=[telemetry.c.agent_id, telemetry.c.epoch, telemetry.c.seq]
            )
            .returning(telemetry.c.agent_id, telemetry.c.epoch, telemetry.c.seq),
            telemetry_columnar=name != "sqlite",
            # Stats can arrive out of order across workers; keep the latest.
            upsert_stats=stats.on_conflict_do_update(
                index_elements=[agent_stats.c.agent_id],
                set_={
                    name: stats.excluded[name]
                    for name in ("time_ms", "spool_records", "spool_bytes", "dropped")
                },
                where=stats.excluded.time_ms >= agent_stats.c.time_ms,
            ),
        )


def _host_rows(
    batches: Sequence[IncomingBatch],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One hosts row per agent of the group: (rows that carry an inventory, rows that don't).

    Applying them equals applying every batch in order: a new host's first_seen is its
    first batch's arrival, last_seen the latest arrival, the inventory the last one sent.
    """
    first_seen: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    inventory: dict[str, HostInventory] = {}
    for b in batches:
        first_seen.setdefault(b.agent_id, b.received_at_ms)
        last_seen[b.agent_id] = max(last_seen.get(b.agent_id, b.received_at_ms), b.received_at_ms)
        if b.inventory is not None:
            inventory[b.agent_id] = b.inventory
    with_inventory: list[dict[str, Any]] = []
    without_inventory: list[dict[str, Any]] = []
    for agent_id in sorted(first_seen):  # one lock order for every writer
        inv = inventory.get(agent_id)
        row: dict[str, Any] = {
            "agent_id": agent_id,
            **{name: getattr(inv or _NO_INVENTORY, name) for name in _INVENTORY_FIELDS},
            "first_seen_ms": first_seen[agent_id],
            "last_seen_ms": last_seen[agent_id],
        }
        (without_inventory if inv is None else with_inventory).append(row)
    return with_inventory, without_inventory


def _stats_rows(batches: Sequence[IncomingBatch]) -> list[dict[str, Any]]:
    """One agent_stats row per agent: the latest (by time_ms; the last of equals), which is
    what the time-guarded upsert keeps when the rows are applied in order."""
    latest: dict[str, AgentStats] = {}
    for b in batches:
        if b.stats is not None:
            current = latest.get(b.agent_id)
            if current is None or b.stats.time_ms >= current.time_ms:
                latest[b.agent_id] = b.stats
    return [
        {
            "agent_id": agent_id,
            "time_ms": st.time_ms,
            "spool_records": st.spool_records,
            "spool_bytes": st.spool_bytes,
            "dropped": _to_json(st.dropped),
        }
        for agent_id, st in sorted(latest.items())
    ]


def _unnest_insert(table: Table) -> postgresql.Insert:
    """INSERT INTO table SELECT * FROM unnest(:col1::type[], :col2::type[], ...).

    PostgreSQL only. One statement of constant text for any number of rows, so the
    driver parses and prepares it once; a multi-row VALUES list (what executemany
    with RETURNING becomes) is new text for every group size and is re-parsed by
    psycopg each time (it caches only short statements), which dominated ingest.
    """
    columns = list(table.c)
    arrays = [
        cast(bindparam(c.name, type_=postgresql.ARRAY(c.type)), postgresql.ARRAY(c.type))
        for c in columns
    ]
    source = func.unnest(*arrays).table_valued(*(c.name for c in columns)).render_derived()
    return postgresql.insert(table).from_select(
        [c.name for c in columns], select(*(source.c[c.name] for c in columns))
    )


def _greatest(current: ColumnElement[int], new: ColumnElement[int]) -> ColumnElement[int]:
    # GREATEST is PostgreSQL-only and SQLite's two-argument max() is not portable.
    return case((new > current, new), else_=current)


def _least(current: ColumnElement[int], new: ColumnElement[int]) -> ColumnElement[int]:
    return case((new < current, new), else_=current)


def _host(row: RowMapping) -> Host:
    return Host(
        agent_id=row["agent_id"],
        inventory=HostInventory(**{name: row[name] for name in _INVENTORY_FIELDS}),
        first_seen_ms=row["first_seen_ms"],
        last_seen_ms=row["last_seen_ms"],
    )


def _to_json(value: Mapping[str, Any]) -> str:
    # Sorted and compact, so equal values are equal text on every backend.
    return _JSON.encode(value)


def _plain(value: object) -> object:
    # Records freeze their maps as MappingProxyType, which json does not know.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# json.dumps with these options makes a new encoder on every call; one is enough.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_plain)


def _rule_state(row: RowMapping) -> RuleState:
    return RuleState(**{name: row[name] for name in _STATE_FIELDS})


_STATE_FIELDS = tuple(f.name for f in fields(RuleState))


def _apply_history(conn: Connection, sql: _Statements, deltas: Sequence[HistoryDelta]) -> None:
    """The engine's changes, in order; every statement is idempotent, so a replay is harmless."""
    if not deltas:
        return
    added = [
        {"agent_id": d.agent_id, "event_key": e.key, "time_ms": e.time_ms, "kind": e.kind,
         "severity": e.severity, "message": e.message, "fields": _to_json(e.fields)}
        for d in deltas for e in d.events_added
    ]  # fmt: skip
    if added:
        conn.execute(sql.insert_event, added)
    removed = [{"a": d.agent_id, "k": key} for d in deltas for key in d.events_removed]
    if removed:
        conn.execute(sql.delete_event, removed)
    points = [
        {"agent_id": d.agent_id, "series": s, "component": c, "t_ms": t, "value": v}
        for d in deltas for s, c, t, v in d.points_added
    ]  # fmt: skip
    if points:
        conn.execute(sql.insert_point, points)
    gone = [
        {"a": d.agent_id, "s": s, "c": c, "t": t} for d in deltas for s, c, t in d.points_removed
    ]
    if gone:
        conn.execute(sql.delete_point, gone)
    upserts: dict[tuple[str, str, str], dict[str, Any]] = {}
    deletes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in deltas:  # the last change of a state in the group is the one that counts
        for (rule_id, component), state in d.states.items():
            key = (d.agent_id, rule_id, component)
            if state is None:
                upserts.pop(key, None)
                deletes[key] = {"a": d.agent_id, "r": rule_id, "c": component}
            else:
                deletes.pop(key, None)
                upserts[key] = {
                    "agent_id": d.agent_id,
                    **{n: getattr(state, n) for n in _STATE_FIELDS},
                }
    if deletes:
        conn.execute(sql.delete_state, list(deletes.values()))
    if upserts:
        conn.execute(sql.upsert_state, [upserts[k] for k in sorted(upserts)])
    marks = {d.agent_id: d.last_snapshot_ms for d in deltas if d.last_snapshot_ms is not None}
    if marks:
        conn.execute(sql.mark_snapshot, [{"a": a, "t": t} for a, t in sorted(marks.items())])


# One statement per set of absorbed rules (a rule pack has a handful), built once: a root
# cause's every repeat asks, and building it each time cost more than running it.
_MERGEABLE: dict[tuple[str, ...], Prepared] = {}


def _mergeable(absorbs: tuple[str, ...]) -> Prepared:
    found = _MERGEABLE.get(absorbs)
    if found is None:
        found = _MERGEABLE[absorbs] = Prepared(
            select(tickets.c.id).where(
                tickets.c.agent_id == bindparam("a"),
                tickets.c.rule_id.in_([bindparam(f"r{i}") for i in range(len(absorbs))]),
                OPEN_TICKET,
                tickets.c.last_seen_ms >= bindparam("s"),
                tickets.c.id != bindparam("t"),
            )
        )
    return found


def _merge_into(life: Lifecycle, ticket_id: int, draft: TicketDraft) -> None:
    """The root cause's ticket takes over the open tickets of the findings it explains."""
    conn = life.conn
    params = {"a": draft.agent_id, "s": draft.absorb_since_ms, "t": ticket_id,
              **{f"r{i}": rule_id for i, rule_id in enumerate(draft.absorbs)}}  # fmt: skip
    merged = list(_mergeable(tuple(draft.absorbs)).run(conn, params).scalars())
    _fold(life, merged, f"Merged into ticket #{ticket_id}, the root cause on this host.",
          merged_into=ticket_id)  # fmt: skip


def _fold(life: Lifecycle, ticket_ids: list[int], why: str, **values: Any) -> None:
    """Mark tickets merged; a helpdesk that already has one is told where it went."""
    if not ticket_ids:
        return
    life.conn.execute(
        update(tickets)
        .where(tickets.c.id.in_(ticket_ids))
        .values(state=TicketState.MERGED.value, updated_at_ms=life.now, **values)
    )
    quiet = set(life.cancel_undelivered(ticket_ids))
    for tid in ticket_ids:
        if tid in quiet:
            life.note(tid, "merged", why)
        else:
            life.noted(tid, "merged", why)


def _save_incident(life: Lifecycle, inc: IncidentUpdate) -> None:
    conn, now = life.conn, life.now
    row = conn.execute(
        select(incidents.c.id).where(
            incidents.c.rule_id == inc.rule_id, incidents.c.group_value == inc.group
        )
    ).scalar_one_or_none()
    values = {"summary": inc.summary, "updated_ms": now, "last_seen_ms": inc.last_seen_ms,
              "host_count": len(inc.hosts), "state": "open"}  # fmt: skip
    if row is None:
        incident_id = conn.execute(
            insert(incidents)
            .values(rule_id=inc.rule_id, group_value=inc.group, opened_ms=inc.opened_ms, **values)
            .returning(incidents.c.id)
        ).scalar_one()
    else:
        incident_id = row
        conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
    known = set(
        conn.execute(
            select(incident_hosts.c.agent_id).where(incident_hosts.c.incident_id == incident_id)
        ).scalars()
    )
    # One statement per kind of change, not per member: a fleet incident has thousands.
    fresh = [{"incident_id": incident_id, "agent_id": a, "hostname": h, "last_fired_ms": t}
             for a, h, t in inc.hosts if a not in known]  # fmt: skip
    if fresh:
        conn.execute(insert(incident_hosts), fresh)
    seen = [{"i": incident_id, "a": a, "t": t} for a, _, t in inc.hosts if a in known]
    if seen:
        conn.execute(
            update(incident_hosts)
            .where(incident_hosts.c.incident_id == bindparam("i"),
                   incident_hosts.c.agent_id == bindparam("a"))
            .values(last_fired_ms=bindparam("t")),
            seen,
        )  # fmt: skip
    fleet_id = _fleet_ticket(life, incident_id, inc)
    where = f"fleet incident ticket #{fleet_id}" if fleet_id else f"fleet incident {incident_id}"
    # The members' own tickets for this rule are now the incident's.
    members = list(
        conn.execute(
            select(tickets.c.id).where(
                tickets.c.rule_id == inc.rule_id,
                tickets.c.kind == "host",
                tickets.c.agent_id.in_([a for a, _, _ in inc.hosts]),
                tickets.c.state.in_(("open", "held")),
            )
        ).scalars()
    )
    _fold(life, members, f"Part of {where}: {redact.text(inc.summary)}",
          incident_id=incident_id)  # fmt: skip


def _fleet_ticket(life: Lifecycle, incident_id: int, inc: IncidentUpdate) -> int | None:
    """The one ticket a helpdesk gets for a fleet incident: created, counted, or told it
    grew (at most every note interval). None: the rule is silenced and has no ticket."""
    conn, now = life.conn, life.now
    key = "rdiag-fleet-" + hashlib.sha256(f"{inc.rule_id}\0{inc.group}".encode()).hexdigest()[:20]
    hosts_list = [{"agent_id": a, "hostname": h, "last_fired_ms": t} for a, h, t in inc.hosts]
    evidence = _to_json({"hosts": hosts_list, "group": inc.group})
    summary = redact.text(inc.summary)[:150]
    latest = conn.execute(
        select(tickets.c.id, tickets.c.state, tickets.c.resolution, tickets.c.occurrences,
               tickets.c.last_note_ms)
        .where(tickets.c.dedup_key == key)
        .order_by(tickets.c.id.desc())
        .limit(1)
    ).mappings().one_or_none()  # fmt: skip
    live = latest is not None and latest["state"] in ("open", "held")
    if latest is not None and (live or latest["resolution"] in FINAL):
        conn.execute(
            update(tickets)
            .where(tickets.c.id == latest["id"])
            .values(occurrences=len(inc.hosts), last_seen_ms=inc.last_seen_ms,
                    summary=summary, updated_at_ms=now, evidence=evidence)
        )  # fmt: skip
        grew = len(inc.hosts) > latest["occurrences"]
        if live and grew and now - latest["last_note_ms"] >= life.policy.note_interval_ms:
            life.noted(latest["id"], "grew", f"{len(inc.hosts)} hosts now.")
            conn.execute(
                update(tickets).where(tickets.c.id == latest["id"]).values(last_note_ms=now)
            )
        return int(latest["id"])
    if life.rule_muted(inc.rule_id):
        return None
    # A member's ticket lends the rule's routing and text (every member fired the rule);
    # not its host: the symptoms are the fleet's.
    model = conn.execute(
        select(tickets)
        .where(tickets.c.rule_id == inc.rule_id, tickets.c.kind == "host")
        .order_by(tickets.c.id.desc())
    ).mappings().first()  # fmt: skip
    content = (
        {k: v for k, v in json.loads(model["content"]).items() if k != "host"} if model else {}
    )
    content["symptoms"] = (
        f"{len(inc.hosts)} hosts fired {inc.rule_id} sharing {inc.group}: one cause, one "
        "ticket. Their own tickets are merged into this one; the hosts are listed below."
    )
    priority = model["priority"] if model else "P3"
    respond, resolve = life.policy.sla_due(priority, now)
    fleet_id: int = conn.execute(
        insert(tickets)
        .values(
            dedup_key=key, agent_id="", hostname="fleet", rule_id=inc.rule_id,
            rule_version=model["rule_version"] if model else 1, component=inc.group,
            severity=model["severity"] if model else "high", priority=priority,
            tier=model["tier"] if model else "L2",
            category=model["category"] if model else "Fleet", summary=summary,
            description="", evidence=evidence,
            state="open", occurrences=len(inc.hosts), created_at_ms=now, updated_at_ms=now,
            first_seen_ms=inc.opened_ms, last_seen_ms=inc.last_seen_ms, kind="fleet",
            impact=model["impact"] if model else "medium",
            urgency=model["urgency"] if model else "medium",
            content=_to_json(content), incident_id=incident_id,
            sla_respond_ms=respond, sla_resolve_ms=resolve, last_note_ms=now,
            previous_id=None if latest is None else latest["id"],
        )
        .returning(tickets.c.id)
    ).scalar_one()  # fmt: skip
    life.op(fleet_id, "create")
    return fleet_id


# -- engines ------------------------------------------------------------------


def _create_engine(url: str, sqlite_synchronous: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, sqlite_synchronous)
    if backend == "postgresql":
        # Fail in seconds, not minutes, when the server's address is a black hole.
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return create_engine(parsed, pool_pre_ping=True, connect_args=timeout)
    raise ValueError(f"unsupported backend {backend!r} (use sqlite or postgresql)")


def _sqlite_engine(url: URL, synchronous: str) -> Engine:
    if synchronous not in _SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {', '.join(_SQLITE_SYNCHRONOUS)}")
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One connection shared by all threads and serialized by SqlStore's lock:
    # SQLite admits one writer at a time anyway.
    engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})

    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Driver-level autocommit, so the BEGIN emitted below is the only
        # transaction control: pysqlite would otherwise begin lazily, leaving
        # reads outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "foreign_keys=ON",
            "busy_timeout=5000",
            # 64 MiB of page cache instead of SQLite's 2 MiB: a fleet's telemetry index takes
            # inserts from every agent at once, and at 1,000 agents its pages stop fitting.
            "cache_size=-65536",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


@dataclass(frozen=True, slots=True)
class _ShownUrl:
    """A database URL fit for messages: its password masked wherever it shows up."""

    text: str
    secrets: tuple[str, ...]

    @classmethod
    def of(cls, url: str) -> _ShownUrl:
        match = _USERINFO.match(url)
        if match is None or not match.group(2):
            return cls(url, ())
        raw = match.group(2)
        masked = _USERINFO.sub(r"\1***@", url, count=1)
        return cls(masked, tuple({raw, unquote(raw)}))

    def error(self, what: str, exc: BaseException) -> StoreError:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = " ".join(str(cause).split()) or type(cause).__name__
        if len(reason) > 300:
            reason = reason[:297] + "..."
        message = f"{what} {self.text}: {reason}"
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return StoreError(message)
