"""The store's ticket side beyond ingest: reading tickets, people's actions, silences and
the outbox that helpdesk sinks deliver from. Mixed into SqlStore (sql.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from collector.store.lifecycle import Lifecycle, active_silences
from collector.store.model import (
    DeliveryStatus,
    PendingOp,
    Resolution,
    Silence,
    Ticket,
    TicketFile,
    TicketNote,
    TicketRef,
    TicketState,
)
from collector.store.schema import (
    OPEN_TICKET,
    deliveries,
    silences,
    sinks,
    ticket_files,
    ticket_notes,
    ticket_ops,
    ticket_refs,
    tickets,
)
from collector.tickets.policy import TicketPolicy

SCOPES = ("host", "site", "rule")


class TicketError(Exception):
    """A person asked for something the lifecycle does not allow; the message says why."""


class TicketsMixin:
    policy: TicketPolicy
    _clock: Callable[[], int]
    _write_lock: AbstractContextManager[Any]
    _read_lock: AbstractContextManager[Any]

    def _transaction(self, lock: AbstractContextManager[Any]) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _life(self, conn: Connection) -> Lifecycle:
        now = self._clock()
        return Lifecycle(conn, self.policy, now, active_silences(conn, now))

    # -- reading ---------------------------------------------------------------------

    def list_tickets(
        self,
        *,
        state: TicketState | None = None,
        agent_id: str | None = None,
        priority: str | None = None,
        tier: str | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Ticket]:
        """Tickets, newest first, filtered; agent_id matches the agent id or the hostname."""
        query = (
            select(tickets)
            .order_by(tickets.c.created_at_ms.desc(), tickets.c.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(tickets.c.state == state.value)
        if agent_id is not None:
            query = query.where(or_(tickets.c.agent_id == agent_id, tickets.c.hostname == agent_id))
        if priority is not None:
            query = query.where(tickets.c.priority == priority)
        if tier is not None:
            query = query.where(tickets.c.tier == tier)
        if kind is not None:
            query = query.where(tickets.c.kind == kind)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
        return [ticket_of(row) for row in rows]

    def ticket_notes(self, ticket_id: int) -> list[TicketNote]:
        query = select(ticket_notes).where(ticket_notes.c.ticket_id == ticket_id)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query.order_by(ticket_notes.c.id)).mappings().all()
        return [TicketNote(**row) for row in rows]

    def ticket_files(self, ticket_id: int) -> list[TicketFile]:
        query = select(ticket_files).where(ticket_files.c.ticket_id == ticket_id)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query.order_by(ticket_files.c.id)).mappings().all()
        return [TicketFile(**{**row, "content": bytes(row["content"])}) for row in rows]

    def ticket_refs(self, ticket_id: int) -> list[TicketRef]:
        query = select(ticket_refs).where(ticket_refs.c.ticket_id == ticket_id)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query.order_by(ticket_refs.c.sink)).mappings().all()
        return [TicketRef(**row) for row in rows]

    def related_tickets(self, ticket: Ticket) -> list[Ticket]:
        """Earlier tickets of the same problem, its problem record, the fleet incident or
        storm that holds it, and the other open tickets of the same host."""
        ids = [
            i
            for i in (ticket.previous_id, ticket.problem_id, ticket.storm_id, ticket.merged_into)
            if i
        ]
        conds: list[ColumnElement[bool]] = [tickets.c.id.in_(ids)] if ids else []
        conds.append(and_(tickets.c.dedup_key == ticket.dedup_key, tickets.c.id != ticket.id))
        if ticket.agent_id:
            conds.append(and_(tickets.c.agent_id == ticket.agent_id, OPEN_TICKET))
        if ticket.incident_id:
            conds.append(
                and_(tickets.c.incident_id == ticket.incident_id, tickets.c.kind == "fleet")
            )
        query = (
            select(tickets)
            .where(or_(*conds), tickets.c.id != ticket.id)
            .order_by(tickets.c.id.desc())
            .limit(20)
        )
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
        return [ticket_of(row) for row in rows]

    def held_tickets(self, storm_id: int, limit: int = 1000) -> list[Ticket]:
        """The tickets a storm holds (or held, before their release), oldest first."""
        query = (
            select(tickets)
            .where(tickets.c.storm_id == storm_id)
            .order_by(tickets.c.id)
            .limit(limit)
        )
        with self._transaction(self._read_lock) as conn:
            return [ticket_of(row) for row in conn.execute(query).mappings()]

    def deliveries(
        self, *, ticket_id: int | None = None, sink: str | None = None, limit: int = 100
    ) -> list[DeliveryStatus]:
        """Each ticket operation's delivery to each sink, newest first. An operation no
        attempt was made for yet is "waiting"; a cancelled one (a held storm member)
        shows as "cancelled"."""
        query = (
            select(
                ticket_ops.c.id, ticket_ops.c.ticket_id, ticket_ops.c.op, ticket_ops.c.cancelled,
                ticket_ops.c.not_before_ms, ticket_ops.c.created_ms, sinks.c.name,
                deliveries.c.state, deliveries.c.attempts, deliveries.c.next_attempt_ms,
                deliveries.c.last_error, deliveries.c.updated_ms,
            )
            .select_from(ticket_ops)
            .join(sinks, ticket_ops.c.ticket_id > sinks.c.since_ticket_id)
            .outerjoin(
                deliveries,
                and_(deliveries.c.op_id == ticket_ops.c.id, deliveries.c.sink == sinks.c.name),
            )
            .order_by(ticket_ops.c.id.desc(), sinks.c.name)
            .limit(limit)
        )  # fmt: skip
        if ticket_id is not None:
            query = query.where(ticket_ops.c.ticket_id == ticket_id)
        if sink is not None:
            query = query.where(sinks.c.name == sink)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
        out = []
        for (
            op_id,
            tid,
            op,
            cancelled,
            not_before,
            created,
            name,
            state,
            attempts,
            nxt,
            err,
            upd,
        ) in rows:
            shown = "cancelled" if cancelled and state != "done" else (state or "waiting")
            out.append(
                DeliveryStatus(
                    op_id=op_id, ticket_id=tid, op=op, sink=name, state=shown,
                    attempts=attempts or 0, next_attempt_ms=nxt or not_before,
                    last_error=err or "", updated_ms=upd or created,
                )
            )  # fmt: skip
        return out

    def delivery_summary(self) -> dict[str, dict[str, int]]:
        """sink → state → operations: the outbox at a glance."""
        out: dict[str, dict[str, int]] = {}
        for d in self.deliveries(limit=100_000):
            per = out.setdefault(d.sink, {})
            per[d.state] = per.get(d.state, 0) + 1
        return out

    # -- people's actions ---------------------------------------------------------------

    def acknowledge(self, ticket_id: int, who: str) -> Ticket:
        """Someone owns it: the response SLA is met. A storm's acknowledgement also re-arms
        the breaker (new tickets flow again; the held ones wait for release)."""
        with self._transaction(self._write_lock) as conn:
            life = self._life(conn)
            row = _row(conn, ticket_id)
            if row["acknowledged_ms"]:
                raise TicketError(f"ticket {ticket_id} was already acknowledged")
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(acknowledged_ms=life.now, assignee=row["assignee"] or who,
                        updated_at_ms=life.now)
            )  # fmt: skip
            life.noted(ticket_id, "acknowledged", f"Acknowledged by {who}.")
        return self._get(ticket_id)

    def assign(self, ticket_id: int, assignee: str, who: str) -> Ticket:
        with self._transaction(self._write_lock) as conn:
            life = self._life(conn)
            _row(conn, ticket_id)
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(assignee=assignee, updated_at_ms=life.now)
            )
            life.noted(ticket_id, "assigned", f"Assigned to {assignee} by {who}.")
        return self._get(ticket_id)

    def comment(self, ticket_id: int, text: str, who: str) -> Ticket:
        if not text.strip():
            raise TicketError("a comment needs some text")
        with self._transaction(self._write_lock) as conn:
            _row(conn, ticket_id)
            self._life(conn).noted(ticket_id, "comment", f"{who}: {text.strip()}")
        return self._get(ticket_id)

    def resolve_ticket(
        self, ticket_id: int, who: str, resolution: Resolution = Resolution.FIXED, text: str = ""
    ) -> Ticket:
        with self._transaction(self._write_lock) as conn:
            row = _row(conn, ticket_id)
            if row["state"] not in ("open", "held"):
                raise TicketError(f"ticket {ticket_id} is {row['state']}, not open")
            what = {Resolution.WONT_FIX: "won't fix (it will not be reopened)",
                    Resolution.DUPLICATE: "duplicate (it will not be reopened)"}.get(
                resolution, "fixed")  # fmt: skip
            body = f"Resolved by {who} as {what}." + (f" {text.strip()}" if text.strip() else "")
            self._life(conn).resolve(ticket_id, resolution, body)
        return self._get(ticket_id)

    def reopen_ticket(self, ticket_id: int, who: str) -> Ticket:
        with self._transaction(self._write_lock) as conn:
            life = self._life(conn)
            row = _row(conn, ticket_id)
            if row["state"] != "resolved":
                raise TicketError(
                    f"ticket {ticket_id} is {row['state']}; only a resolved one reopens"
                )
            other = conn.execute(
                select(tickets.c.id).where(
                    tickets.c.dedup_key == row["dedup_key"], OPEN_TICKET, tickets.c.id != ticket_id
                )
            ).scalar_one_or_none()
            if other is not None:
                raise TicketError(
                    f"cannot reopen ticket {ticket_id}: ticket {other} is open for the same problem"
                )
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(state="open", resolution="", resolved_ms=0, cleared_ms=0,
                        reopen_count=tickets.c.reopen_count + 1, updated_at_ms=life.now)
            )  # fmt: skip
            life.op(ticket_id, "reopen", life.note(ticket_id, "reopened", f"Reopened by {who}."))
        return self._get(ticket_id)

    def release_storm(self, storm_id: int, who: str) -> int:
        """Deliver a storm's held tickets one by one; returns how many were released."""
        with self._transaction(self._write_lock) as conn:
            life = self._life(conn)
            row = _row(conn, storm_id)
            if row["kind"] != "storm":
                raise TicketError(f"ticket {storm_id} is not a storm")
            held = list(
                conn.execute(
                    select(tickets.c.id).where(
                        tickets.c.storm_id == storm_id, tickets.c.state == "held"
                    )
                ).scalars()
            )
            if held:
                conn.execute(
                    update(tickets)
                    .where(tickets.c.id.in_(held))
                    .values(state="open", updated_at_ms=life.now)
                )
                for tid in held:
                    life.deliver_new(tid, delay_ms=0)
            life.noted(storm_id, "released", f"{who} released {len(held)} held ticket(s).")
        return len(held)

    def tick(self) -> list[int]:
        """Time-driven lifecycle steps (the hold-down's auto-resolve); returns resolved ids."""
        with self._transaction(self._write_lock) as conn:
            return self._life(conn).tick()

    # -- silences ----------------------------------------------------------------------

    def add_silence(
        self, scope: str, value: str, *, reason: str, who: str, expires_ms: int
    ) -> Silence:
        if scope not in SCOPES:
            raise TicketError(f"silence scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if not value.strip():
            raise TicketError("a silence needs a value: a host, a site or a rule id (glob)")
        now = self._clock()
        if expires_ms <= now:
            raise TicketError("a silence must expire in the future")
        with self._transaction(self._write_lock) as conn:
            silence_id = conn.execute(
                insert(silences)
                .values(scope=scope, value=value.strip(), reason=reason, created_by=who,
                        created_ms=now, expires_ms=expires_ms)
                .returning(silences.c.id)
            ).scalar_one()  # fmt: skip
        return next(s for s in self.list_silences(include_expired=True) if s.id == silence_id)

    def list_silences(self, *, include_expired: bool = False) -> list[Silence]:
        query = select(silences).order_by(silences.c.id)
        if not include_expired:
            query = query.where(silences.c.expires_ms > self._clock())
        with self._transaction(self._read_lock) as conn:
            return [Silence(**row) for row in conn.execute(query).mappings()]

    def remove_silence(self, silence_id: int) -> bool:
        with self._transaction(self._write_lock) as conn:
            gone = conn.execute(delete(silences).where(silences.c.id == silence_id)).rowcount
        return bool(gone)

    # -- the outbox, for the delivery worker -------------------------------------------------

    def register_sink(self, name: str) -> None:
        """A sink delivers tickets opened from now on (see schema.sinks)."""
        with self._transaction(self._write_lock) as conn:
            if conn.execute(select(sinks.c.name).where(sinks.c.name == name)).first():
                return
            newest = conn.execute(select(func.max(tickets.c.id))).scalar_one() or 0
            conn.execute(
                insert(sinks).values(name=name, since_ticket_id=newest, registered_ms=self._clock())
            )

    def pending_ops(self, sink: str, now: int, limit: int = 200) -> list[PendingOp]:
        """The operations due for sink now, at most one per ticket: a ticket's operations
        go out in order, and one that waits (group_wait, a retry's backoff) or failed for
        good holds back the ones after it."""
        query = (
            select(
                ticket_ops.c.id, ticket_ops.c.ticket_id, ticket_ops.c.op, ticket_ops.c.ref_id,
                ticket_ops.c.not_before_ms, deliveries.c.state, deliveries.c.attempts,
                deliveries.c.next_attempt_ms, deliveries.c.memo,
            )
            .select_from(ticket_ops)
            .join(sinks, sinks.c.name == sink)
            .outerjoin(deliveries,
                       and_(deliveries.c.op_id == ticket_ops.c.id, deliveries.c.sink == sink))
            .where(
                ticket_ops.c.cancelled == 0,
                ticket_ops.c.ticket_id > sinks.c.since_ticket_id,
                or_(deliveries.c.state.is_(None), deliveries.c.state != "done"),
            )
            .order_by(ticket_ops.c.id)
            .limit(limit * 5)
        )  # fmt: skip
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
        seen: set[int] = set()
        out: list[PendingOp] = []
        for op_id, tid, op, ref_id, not_before, state, attempts, next_at, memo in rows:
            if tid in seen:
                continue
            seen.add(tid)
            if state == "failed" or max(not_before, next_at or 0) > now:
                continue
            out.append(PendingOp(op_id, tid, op, ref_id, attempts or 0,
                                 MappingProxyType(json.loads(memo) if memo else {})))  # fmt: skip
            if len(out) >= limit:
                break
        return out

    def record_delivery(
        self,
        op_id: int,
        sink: str,
        *,
        state: str,
        attempts: int,
        next_attempt_ms: int = 0,
        error: str = "",
        memo: Mapping[str, str] | None = None,
        ref: tuple[str, str] | None = None,
        ticket_id: int | None = None,
    ) -> None:
        """One attempt's outcome; ref (external id, url) is kept when a create succeeded."""
        values = {"state": state, "attempts": attempts, "next_attempt_ms": next_attempt_ms,
                  "last_error": error[:2000], "memo": json.dumps(dict(memo or {})),
                  "updated_ms": self._clock()}  # fmt: skip
        with self._transaction(self._write_lock) as conn:
            done = conn.execute(
                update(deliveries)
                .where(deliveries.c.op_id == op_id, deliveries.c.sink == sink)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(insert(deliveries).values(op_id=op_id, sink=sink, **values))
            if ref is not None and ticket_id is not None:
                conn.execute(
                    delete(ticket_refs).where(
                        ticket_refs.c.ticket_id == ticket_id, ticket_refs.c.sink == sink
                    )
                )
                conn.execute(
                    insert(ticket_refs).values(
                        ticket_id=ticket_id, sink=sink, external_id=ref[0], url=ref[1]
                    )
                )

    def ref_for(self, ticket_id: int, sink: str) -> TicketRef | None:
        return next((r for r in self.ticket_refs(ticket_id) if r.sink == sink), None)

    def note_text(self, note_id: int) -> str:
        with self._transaction(self._read_lock) as conn:
            body: str | None = conn.execute(
                select(ticket_notes.c.body).where(ticket_notes.c.id == note_id)
            ).scalar_one_or_none()
        return body or ""

    def ticket_file(self, file_id: int) -> TicketFile | None:
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(
                select(ticket_files).where(ticket_files.c.id == file_id)
            ).mappings().one_or_none()  # fmt: skip
        return None if row is None else TicketFile(**{**row, "content": bytes(row["content"])})

    def redeliver(self, *, sink: str | None = None, ticket_id: int | None = None) -> int:
        """Failed deliveries go back to the queue (after the operator fixed the cause)."""
        cond = [deliveries.c.state == "failed"]
        if sink is not None:
            cond.append(deliveries.c.sink == sink)
        if ticket_id is not None:
            cond.append(
                deliveries.c.op_id.in_(
                    select(ticket_ops.c.id).where(ticket_ops.c.ticket_id == ticket_id)
                )
            )
        with self._transaction(self._write_lock) as conn:
            count: int = conn.execute(
                update(deliveries).where(*cond).values(state="retrying", next_attempt_ms=0)
            ).rowcount
        return count

    def _get(self, ticket_id: int) -> Ticket:
        with self._transaction(self._read_lock) as conn:
            return ticket_of(_row(conn, ticket_id))


def _row(conn: Connection, ticket_id: int) -> RowMapping:
    row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).mappings().one_or_none()
    if row is None:
        raise TicketError(f"no ticket #{ticket_id}")
    return row


def ticket_of(row: RowMapping) -> Ticket:
    return Ticket(
        **{
            **row,
            "evidence": MappingProxyType(json.loads(row["evidence"])),
            "content": MappingProxyType(json.loads(row["content"])),
            "auto_resolve": bool(row["auto_resolve"]),
            "state": TicketState(row["state"]),
        }
    )
