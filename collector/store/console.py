"""What the console's lists read: pages of hosts and tickets with counts, the fleet summary.

Every list is one page (limit, offset) with the total that matches its filters, so the
console and the API stay fast at 10,000 hosts and 50,000 tickets: no call loads a table.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from collector.store.model import FleetSummary, HostRow, Incident, Ticket, TicketState
from collector.store.schema import hosts, incident_hosts, incidents, rejected_batches, tickets
from collector.store.ticketing import ticket_of

# Priorities sort as text (P1 < P5); "" sorts after every one of them.
_NO_PRIORITY = "P9"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ConsoleMixin:
    _read_lock: AbstractContextManager[Any]

    def _transaction(self, lock: AbstractContextManager[Any]) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- hosts ------------------------------------------------------------------------

    def page_hosts(
        self,
        *,
        q: str | None = None,
        stale_before_ms: int | None = None,
        with_open_tickets: bool | None = None,
        worst_first: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[HostRow], int]:
        """A page of hosts by hostname with their open tickets, and how many match.

        q matches the hostname, agent id, OS or vendor; stale_before_ms keeps the hosts not
        seen since then; with_open_tickets keeps those with (True) or without (False) any;
        worst_first orders by the most urgent open ticket, then by how many are open.
        """
        open_per_host = (
            select(
                tickets.c.agent_id.label("agent_id"),
                func.count().label("n"),
                func.min(tickets.c.priority).label("worst"),
            )
            .where(tickets.c.state == TicketState.OPEN.value, tickets.c.kind == "host")
            .group_by(tickets.c.agent_id)
            .subquery()
        )
        conds: list[ColumnElement[bool]] = []
        if q:
            pattern = _like(q)
            conds.append(
                or_(*(c.ilike(pattern, escape="\\") for c in (
                    hosts.c.hostname, hosts.c.agent_id, hosts.c.os_name, hosts.c.vendor)))
            )  # fmt: skip
        if stale_before_ms is not None:
            conds.append(hosts.c.last_seen_ms < stale_before_ms)
        if with_open_tickets is True:
            conds.append(open_per_host.c.n > 0)
        elif with_open_tickets is False:
            conds.append(open_per_host.c.n.is_(None))
        joined = hosts.outerjoin(open_per_host, open_per_host.c.agent_id == hosts.c.agent_id)
        where = and_(*conds) if conds else None
        query: Select[Any] = (
            select(hosts.c.agent_id, hosts.c.hostname, hosts.c.os_name, hosts.c.vendor,
                   hosts.c.last_seen_ms, open_per_host.c.n, open_per_host.c.worst)
            .select_from(joined)
            .order_by(*((func.coalesce(open_per_host.c.worst, _NO_PRIORITY),
                         open_per_host.c.n.desc()) if worst_first else ()),
                      hosts.c.hostname, hosts.c.agent_id)
            .limit(limit).offset(offset)
        )  # fmt: skip
        count: Select[Any] = select(func.count()).select_from(joined)
        if where is not None:
            query, count = query.where(where), count.where(where)
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).all()
            total = int(conn.execute(count).scalar_one())
        return [
            HostRow(
                r.agent_id,
                r.hostname,
                r.os_name,
                r.vendor,
                r.last_seen_ms,
                int(r.n or 0),
                r.worst or "",
            )  # fmt: skip
            for r in rows
        ], total

    # -- tickets ----------------------------------------------------------------------

    def page_tickets(
        self,
        *,
        state: TicketState | None = None,
        agent_id: str | None = None,
        priority: str | None = None,
        tier: str | None = None,
        kind: str | None = None,
        rule_id: str | None = None,
        assignee: str | None = None,
        incident_id: int | None = None,
        q: str | None = None,
        after_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> tuple[list[Ticket], int]:
        """A page of tickets, newest first, and how many match; after_id keeps only newer
        ones (what the live feed asks for), oldest_first the next ones after it in order
        (a burst larger than one page then goes out page by page, none skipped)."""
        conds: list[ColumnElement[bool]] = []
        for column, value in ((tickets.c.state, state.value if state else None),
                              (tickets.c.priority, priority), (tickets.c.tier, tier),
                              (tickets.c.kind, kind), (tickets.c.rule_id, rule_id),
                              (tickets.c.assignee, assignee),
                              (tickets.c.incident_id, incident_id)):  # fmt: skip
            if value is not None:
                conds.append(column == value)
        if agent_id is not None:
            conds.append(or_(tickets.c.agent_id == agent_id, tickets.c.hostname == agent_id))
        if q:
            pattern = _like(q)
            conds.append(or_(tickets.c.summary.ilike(pattern, escape="\\"),
                             tickets.c.hostname.ilike(pattern, escape="\\"),
                             tickets.c.rule_id.ilike(pattern, escape="\\")))  # fmt: skip
        if after_id is not None:
            conds.append(tickets.c.id > after_id)
        order = tickets.c.id.asc() if oldest_first else tickets.c.id.desc()
        query = select(tickets).order_by(order).limit(limit).offset(offset)
        count = select(func.count()).select_from(tickets)
        if conds:
            query, count = query.where(and_(*conds)), count.where(and_(*conds))
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(query).mappings().all()
            total = int(conn.execute(count).scalar_one())
        return [ticket_of(row) for row in rows], total

    def newest_ticket_id(self) -> int:
        with self._transaction(self._read_lock) as conn:
            return int(conn.execute(select(func.max(tickets.c.id))).scalar() or 0)

    # -- the fleet at a glance ----------------------------------------------------------

    def fleet_summary(self, *, stale_before_ms: int) -> FleetSummary:
        open_ = tickets.c.state == TicketState.OPEN.value
        with self._transaction(self._read_lock) as conn:
            n_hosts, n_stale = conn.execute(
                select(func.count(), func.coalesce(func.sum(
                    case((hosts.c.last_seen_ms < stale_before_ms, 1), else_=0)), 0))
            ).one()  # fmt: skip
            by: dict[tuple[str, str], int] = {}
            for priority, tier, n in conn.execute(
                select(tickets.c.priority, tickets.c.tier, func.count())
                .where(open_)
                .group_by(tickets.c.priority, tickets.c.tier)
            ):
                by[(priority, tier)] = int(n)
            held = conn.execute(
                select(func.count()).where(tickets.c.state == TicketState.HELD.value)
            ).scalar_one()
            n_incidents = conn.execute(
                select(func.count()).where(incidents.c.state == "open")
            ).scalar_one()
            last = conn.execute(select(func.max(hosts.c.last_seen_ms))).scalar()
            rejected = conn.execute(select(func.count()).select_from(rejected_batches)).scalar()
        return FleetSummary(
            hosts=int(n_hosts),
            stale_hosts=int(n_stale),
            open_by_priority_tier=by,
            held_tickets=int(held),
            open_incidents=int(n_incidents),
            last_received_ms=int(last or 0),
            rejected_batches=int(rejected or 0),
        )

    def get_incident(self, incident_id: int) -> Incident | None:
        """One fleet incident with every affected host, by hostname."""
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(
                select(incidents).where(incidents.c.id == incident_id)
            ).mappings().one_or_none()  # fmt: skip
            if row is None:
                return None
            members = conn.execute(
                select(incident_hosts.c.agent_id, incident_hosts.c.hostname,
                       incident_hosts.c.last_fired_ms)
                .where(incident_hosts.c.incident_id == incident_id)
                .order_by(incident_hosts.c.hostname)
            ).all()  # fmt: skip
        return Incident(
            id=row["id"], rule_id=row["rule_id"], group=row["group_value"], state=row["state"],
            summary=row["summary"], opened_ms=row["opened_ms"], updated_ms=row["updated_ms"],
            last_seen_ms=row["last_seen_ms"],
            hosts=tuple((a, h, int(t)) for a, h, t in members),
        )  # fmt: skip
