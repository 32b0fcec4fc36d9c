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

from collector.store.clock import ObservedClock
from collector.store.lifecycle import Lifecycle, active_silences, live_creates
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

    def sink_lock(self, name: str) -> AbstractContextManager[bool]:
        raise NotImplementedError

    def _life(self, conn: Connection, now: int | None = None) -> Lifecycle:
        now = self._clock() if now is None else now
        observed = isinstance(self._clock, ObservedClock)
        return Lifecycle(conn, self.policy, now, active_silences(conn, now), host_time=observed)

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
        """Each ticket operation's delivery to each sink, newest first: waiting (not tried
        yet: group_wait, or behind an earlier operation of the same problem), retrying
        (with the last error), done, failed (a 4xx; `tickets redeliver`), cancelled (a
        storm or a merge held it before any helpdesk had it)."""
        query = (
            select(
                ticket_ops.c.id, ticket_ops.c.ticket_id, ticket_ops.c.op, deliveries.c.sink,
                deliveries.c.state, deliveries.c.attempts, deliveries.c.next_attempt_ms,
                deliveries.c.last_error, deliveries.c.updated_ms,
            )
            .select_from(deliveries.join(ticket_ops, ticket_ops.c.id == deliveries.c.op_id))
            .order_by(ticket_ops.c.id.desc(), deliveries.c.sink)
            .limit(limit)
        )  # fmt: skip
        if ticket_id is not None:
            query = query.where(ticket_ops.c.ticket_id == ticket_id)
        if sink is not None:
            query = query.where(deliveries.c.sink == sink)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
        return [DeliveryStatus(*row) for row in rows]

    def delivery_summary(self) -> dict[str, dict[str, int]]:
        """sink → state → operations: the outbox at a glance."""
        query = select(deliveries.c.sink, deliveries.c.state, func.count()).group_by(
            deliveries.c.sink, deliveries.c.state
        )
        out: dict[str, dict[str, int]] = {}
        with self._transaction(self._read_lock) as conn:
            for name, state, n in conn.execute(query):
                out.setdefault(name, {})[state] = n
        with self._transaction(self._read_lock) as conn:
            for name in conn.execute(select(sinks.c.name)).scalars():
                out.setdefault(name, {})
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
            newer = conn.execute(
                select(func.max(tickets.c.id)).where(tickets.c.dedup_key == row["dedup_key"])
            ).scalar_one()
            if newer != ticket_id:
                # Only a problem's newest ticket may come back: the lifecycle follows the
                # newest, and two live tickets for one problem are what dedup prevents.
                live = conn.execute(
                    select(tickets.c.id, tickets.c.state).where(
                        tickets.c.dedup_key == row["dedup_key"],
                        tickets.c.state.in_(("open", "held")),
                    )
                ).first()
                if live is not None:
                    raise TicketError(
                        f"cannot reopen ticket {ticket_id}: ticket {live[0]} is {live[1]} "
                        "for the same problem"
                    )
                raise TicketError(
                    f"cannot reopen ticket {ticket_id}: ticket {newer} is newer for the same "
                    "problem; reopen that one"
                )
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(state="open", resolution="", resolved_ms=0, cleared_ms=0,
                        reopen_count=tickets.c.reopen_count + 1, updated_at_ms=life.now)
            )  # fmt: skip
            life.reopened(ticket_id, f"Reopened by {who}.")
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
        """A sink gets the operations queued from now on: the tickets opened after it was
        configured, not the store's whole history."""
        with self._transaction(self._write_lock) as conn:
            if conn.execute(select(sinks.c.name).where(sinks.c.name == name)).first():
                return
            newest = conn.execute(select(func.max(tickets.c.id))).scalar_one() or 0
            conn.execute(
                insert(sinks).values(name=name, since_ticket_id=newest, registered_ms=self._clock())
            )

    def backfill(self, sink: str, limit: int = 10_000) -> int:
        """Queue for sink the open tickets it does not have (opened before it was
        configured): each one's create and files, for that sink only. Returns how many."""
        with self._transaction(self._write_lock) as conn:
            known = list(conn.execute(select(sinks.c.name).order_by(sinks.c.name)).scalars())
            if sink not in known:
                raise TicketError(
                    f"no sink {sink!r} has been configured on a running collector yet "
                    f"(known: {', '.join(known) or 'none'})"
                )
            has = live_creates().where(deliveries.c.sink == sink)
            missing = list(
                conn.execute(
                    select(tickets.c.id)
                    .where(tickets.c.state == "open", tickets.c.id.not_in(has))
                    .order_by(tickets.c.id)
                    .limit(limit)
                ).scalars()
            )
            life = self._life(conn)
            for ticket_id in missing:
                life.deliver_new(ticket_id, delay_ms=0, only_sink=sink)
        return len(missing)

    def pending_ops(self, sink: str, now: int, limit: int = 200) -> list[PendingOp]:
        """The operations due for sink now: for each problem (dedup key), its oldest
        undelivered operation, when it is due and has not failed for good. A problem's
        operations go out in order across its tickets, so a recurrence's create never
        overtakes the resolve of the ticket before it; one that waits or failed holds back
        only its own problem."""
        undone = deliveries.c.state.in_(("waiting", "retrying", "failed"))
        first = (
            select(func.min(deliveries.c.op_id).label("op_id"))
            .select_from(
                deliveries.join(ticket_ops, ticket_ops.c.id == deliveries.c.op_id).join(
                    tickets, tickets.c.id == ticket_ops.c.ticket_id
                )
            )
            .where(deliveries.c.sink == sink, undone)
            .group_by(tickets.c.dedup_key)
            .subquery()
        )
        query = (
            select(
                ticket_ops.c.id, ticket_ops.c.ticket_id, ticket_ops.c.op, ticket_ops.c.ref_id,
                deliveries.c.attempts, deliveries.c.memo,
            )
            .select_from(
                first.join(ticket_ops, ticket_ops.c.id == first.c.op_id).join(
                    deliveries,
                    and_(deliveries.c.op_id == ticket_ops.c.id, deliveries.c.sink == sink),
                )
            )
            .where(deliveries.c.state != "failed", deliveries.c.next_attempt_ms <= now)
            .order_by(ticket_ops.c.id)
            .limit(limit)
        )  # fmt: skip
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
        return [
            PendingOp(op_id, tid, op, ref_id, attempts, MappingProxyType(json.loads(memo or "{}")))
            for op_id, tid, op, ref_id, attempts, memo in rows
        ]

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
            conn.execute(
                update(deliveries)
                .where(deliveries.c.op_id == op_id, deliveries.c.sink == sink)
                .values(**values)
            )
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

    def ticket_for_ref(self, sink: str, external_id: str) -> int | None:
        """The collector's ticket a helpdesk ticket belongs to, if any."""
        query = select(ticket_refs.c.ticket_id).where(
            ticket_refs.c.sink == sink, ticket_refs.c.external_id == external_id
        )
        with self._transaction(self._read_lock) as conn:
            found: int | None = conn.execute(query).scalars().first()
        return found

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
