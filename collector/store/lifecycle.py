"""The ticket lifecycle, applied inside the ingest transaction (ticketing.md §3.6).

A firing finding opens a ticket, or counts on the open one with a rate-limited note; a
cleared one adds a note, or (transient classes only) resolves after a hold-down; a
recurrence reopens within the reopen window and opens a new linked ticket after it; the
n-th recurrence raises a problem record; a human's won't-fix or duplicate is final.
Storms and silences decide before any of it. Every change a helpdesk must see is written
to the outbox (ticket_ops) in the same transaction, so a crash loses nothing and a
helpdesk outage only delays.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    RowMapping,
    Select,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql.dml import ReturningUpdate

from collector.store.model import Resolution, TicketDraft, TicketState
from collector.store.schema import (
    deliveries,
    hosts,
    silences,
    sinks,
    ticket_files,
    ticket_notes,
    ticket_ops,
    tickets,
)
from collector.tickets import redact
from collector.tickets.files import evidence_files, stamp
from collector.tickets.policy import TicketPolicy

FINAL = (Resolution.WONT_FIX.value, Resolution.DUPLICATE.value)
STORM_RULE = "rdiag.storm"
PROBLEM_PREFIX = "problem-"


@dataclass(frozen=True, slots=True)
class ActiveSilence:
    id: int
    scope: str
    value: str

    def covers(self, d: TicketDraft) -> bool:
        if self.scope == "host":
            return self.value.lower() in (d.hostname.lower(), d.agent_id.lower())
        if self.scope == "site":
            return bool(d.site) and self.value.lower() == d.site.lower()
        return fnmatch.fnmatchcase(d.rule_id, self.value)


def active_silences(conn: Connection, now: int) -> list[ActiveSilence]:
    rows = conn.execute(
        select(silences.c.id, silences.c.scope, silences.c.value).where(silences.c.expires_ms > now)
    )
    return [ActiveSilence(*row) for row in rows]


def human_age(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


class Lifecycle:
    """One transaction's view: the policy, the clock, the active silences."""

    def __init__(
        self,
        conn: Connection,
        policy: TicketPolicy,
        now: int,
        muted: Sequence[ActiveSilence],
        *,
        host_time: bool = False,
    ) -> None:
        """host_time (store.clock = observed, simulations): a clear counts from when it was
        observed, and a hold-down elapses on the host's own clock (its newest snapshot), as
        if each host's records had arrived in real time. The simulator lets one host lag
        behind the fleet's newest minute; on the fleet's clock that host's clear would wait
        out its hold-down only after the others had moved on, or not before the run ends."""
        self.conn = conn
        self.policy = policy
        self.now = now
        self.muted = muted
        self.host_time = host_time
        self._storm_known = False
        self._storm_id: int | None = None
        # The stored text of evidence parts already written in this transaction, by the
        # part's identity (see _evidence_json); the parts are not changed once drafted.
        self._parts: dict[int, tuple[object, str]] = {}

    def rule_muted(self, rule_id: str) -> bool:
        return any(s.scope == "rule" and fnmatch.fnmatchcase(rule_id, s.value) for s in self.muted)

    # -- entry points --------------------------------------------------------------

    def apply(self, d: TicketDraft) -> tuple[int, str] | None:
        """(ticket id, outcome) for a draft; outcome: opened | repeated | reopened |
        recurred | held | cleared | counted. None when a silence swallowed it."""
        if d.clear:
            return self._cleared(d)
        silence = next((s for s in self.muted if s.covers(d)), None)
        repeated = self._repeat(d, noted=silence is None)
        if repeated is not None:
            return repeated, "repeated"
        latest = self._latest(d.dedup_key)
        if silence is not None:
            self.conn.execute(
                update(silences).where(silences.c.id == silence.id).values(hits=silences.c.hits + 1)
            )
            return None
        if latest is None:
            ticket_id = self._open(d)
            return ticket_id, "held" if self._state(ticket_id) == "held" else "opened"
        if latest["resolution"] in FINAL:
            # A person decided; the occurrence is counted on their ticket, nothing else.
            self.conn.execute(
                update(tickets)
                .where(tickets.c.id == latest["id"])
                .values(occurrences=tickets.c.occurrences + 1, last_seen_ms=d.observed_at_ms)
            )
            return latest["id"], "counted"
        recurrence = latest["recurrence"] + 1
        if latest["state"] == "resolved" and (
            self.now - latest["resolved_ms"] <= self.policy.reopen_window_ms
        ):
            ticket_id = latest["id"]
            self._reopen(latest, d, recurrence)
            outcome = "reopened"
        else:
            ticket_id = self._open(d, previous=latest, recurrence=recurrence)
            outcome = "recurred"
        if recurrence >= self.policy.problem_after:
            self._problem(ticket_id, d, recurrence)
        return ticket_id, outcome

    def tick(self) -> list[int]:
        """Resolve the transient tickets whose condition stayed clear for the hold-down."""
        hold = self.policy.hold_down_ms
        query = select(tickets.c.id, tickets.c.cleared_ms).where(
            tickets.c.state.in_(("open", "held")),
            tickets.c.auto_resolve == 1,
            tickets.c.cleared_ms > 0,
            tickets.c.cleared_ms <= self.now - hold,
        )
        if self.host_time:
            own = (
                select(func.nullif(hosts.c.last_snapshot_ms, 0))
                .where(hosts.c.agent_id == tickets.c.agent_id)
                .scalar_subquery()
            )
            query = query.where(tickets.c.cleared_ms <= func.coalesce(own, self.now) - hold)
        due = self.conn.execute(query).all()
        resolved = [t for t, _ in due]
        for ticket_id, cleared in due:
            body = (
                f"The condition cleared at {stamp(cleared)} and stayed clear for "
                f"{human_age(self.now - cleared)} (hold-down {human_age(self.policy.hold_down_ms)}"
                f"): resolved automatically. A recurrence within "
                f"{human_age(self.policy.reopen_window_ms)} reopens this ticket."
            )
            if not self.resolve(ticket_id, Resolution.AUTO, body):
                resolved.remove(ticket_id)
        return resolved

    # -- human and automatic actions -------------------------------------------------

    def resolve(self, ticket_id: int, resolution: Resolution, body: str) -> bool:
        """Resolve a live ticket; False when it is not live any more (another collector
        on the same database got there first): nothing is written twice."""
        done = self.conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id, tickets.c.state.in_(("open", "held")))
            .values(
                state=TicketState.RESOLVED.value,
                resolution=resolution.value,
                resolved_ms=self.now,
                updated_at_ms=self.now,
            )
        ).rowcount
        if done:
            self.op(ticket_id, "resolve", self.note(ticket_id, "resolved", body))
        return bool(done)

    def reopened(self, ticket_id: int, body: str) -> None:
        """The outbox of a ticket that came back: a reopen where a helpdesk has it, a
        whole new delivery where none ever had it (it was held, then resolved here)."""
        note_id = self.note(ticket_id, "reopened", body)
        if self.delivered_somewhere(ticket_id):
            self.op(ticket_id, "reopen", note_id)
        else:
            self.deliver_new(ticket_id, delay_ms=0)

    def note(self, ticket_id: int, kind: str, body: str) -> int:
        note_id: int = self.conn.execute(
            insert(ticket_notes)
            .values(ticket_id=ticket_id, time_ms=self.now, kind=kind, body=body)
            .returning(ticket_notes.c.id)
        ).scalar_one()
        return note_id

    def op(
        self,
        ticket_id: int,
        op: str,
        ref_id: int = 0,
        delay_ms: int = 0,
        only_sink: str | None = None,
    ) -> bool:
        """Queue an operation for every sink that should get it: a create for every sink;
        anything else only for the sinks that have (or will have) this ticket's create. A
        ticket no helpdesk will ever see (held, never delivered) keeps its notes here only.
        Returns whether any sink got it."""
        op_id: int = self.conn.execute(
            insert(ticket_ops)
            .values(ticket_id=ticket_id, op=op, ref_id=ref_id,
                    not_before_ms=self.now + delay_ms, created_ms=self.now)
            .returning(ticket_ops.c.id)
        ).scalar_one()  # fmt: skip
        names = select(sinks.c.name)
        if only_sink is not None:
            names = names.where(sinks.c.name == only_sink)
        if op != "create":
            # The sinks of this ticket's live creates, read from the ticket's own operations
            # (ix_ticket_ops_ticket_id). Correlated on sinks.name instead (an EXISTS), SQLite
            # walks the sink's every delivery through (sink, state): O(outbox) per operation.
            has_create = live_creates().where(ticket_ops.c.ticket_id == ticket_id)
            names = names.where(sinks.c.name.in_(has_create.with_only_columns(deliveries.c.sink)))
        rows = [
            {"op_id": op_id, "sink": name, "state": "waiting", "attempts": 0,
             "next_attempt_ms": self.now + delay_ms, "last_error": "", "memo": "{}",
             "updated_ms": self.now}
            for name in self.conn.execute(names).scalars()
        ]  # fmt: skip
        if rows:
            self.conn.execute(insert(deliveries), rows)
        return bool(rows)

    def delivered_somewhere(self, ticket_id: int) -> bool:
        """Whether a live create of this ticket exists for some sink (queued or sent)."""
        found = self.conn.execute(
            live_creates().where(ticket_ops.c.ticket_id == ticket_id).limit(1)
        ).first()
        return found is not None

    def noted(self, ticket_id: int, kind: str, body: str) -> None:
        """A note the helpdesk sees too (where it has the ticket)."""
        self.op(ticket_id, "note", self.note(ticket_id, kind, body))

    def cancel_undelivered(self, ticket_ids: Sequence[int]) -> list[int]:
        """Cancel the outbox of tickets no sink has tried to deliver yet; returns those.

        A create that was attempted at all (even one that failed with a timeout) may have
        reached the helpdesk: it is not cancelled, and the ticket is treated as delivered
        (it gets a note instead), so a later release never creates a second issue.
        """
        if not ticket_ids:
            return []
        tried = set(
            self.conn.execute(
                select(ticket_ops.c.ticket_id)
                .join(deliveries, deliveries.c.op_id == ticket_ops.c.id)
                .where(
                    ticket_ops.c.ticket_id.in_(ticket_ids),
                    ticket_ops.c.op == "create",
                    or_(deliveries.c.attempts > 0, deliveries.c.state == "done"),
                )
            ).scalars()
        )
        quiet = [t for t in ticket_ids if t not in tried]
        if quiet:
            ops = select(ticket_ops.c.id).where(ticket_ops.c.ticket_id.in_(quiet))
            self.conn.execute(
                update(ticket_ops).where(ticket_ops.c.ticket_id.in_(quiet)).values(cancelled=1)
            )
            self.conn.execute(
                update(deliveries)
                .where(deliveries.c.op_id.in_(ops), deliveries.c.state != "done")
                .values(state="cancelled", updated_ms=self.now)
            )
        return quiet

    # -- the steps -----------------------------------------------------------------

    def _latest(self, dedup_key: str) -> RowMapping | None:
        return _LATEST.run(self.conn, {"k": dedup_key}).mappings().one_or_none()

    def _state(self, ticket_id: int) -> str:
        state: str = self.conn.execute(
            select(tickets.c.state).where(tickets.c.id == ticket_id)
        ).scalar_one()
        return state

    def _repeat(self, d: TicketDraft, *, noted: bool) -> int | None:
        """Count a repeat on the problem's latest ticket when it is open, held or merged:
        one statement, the hot path of a fleet's steady state. None: no such ticket."""
        row = (
            _REPEAT.run(
                self.conn,
                {"k": d.dedup_key, "t_now": self.now, "t_obs": d.observed_at_ms,
                 "t_ev": self._evidence_json(d)},
            )
            .mappings()
            .one_or_none()
        )  # fmt: skip
        if row is None:
            return None
        newer = d.observed_at_ms >= row["last_seen_ms"]  # last_seen is max(old, observed)
        due = self.now - row["last_note_ms"] >= self.policy.note_interval_ms
        if noted and row["state"] == "open" and row["kind"] == "host" and due and newer:
            shown = redact.text(
                ", ".join(f"{k} {v}" for k, v in list(_values(d.evidence).items())[:6])
            )
            self.noted(
                row["id"],
                "repeat",
                f"Still firing: {row['repeats_since_note']} more observation(s) since "
                f"{stamp(row['last_note_ms'] or row['created_at_ms'])}, "
                f"{row['occurrences']} since {stamp(row['first_seen_ms'])}."
                + (f" Latest: {shown}." if shown else ""),
            )
            self.conn.execute(
                update(tickets)
                .where(tickets.c.id == row["id"])
                .values(last_note_ms=self.now, repeats_since_note=0)
            )
        ticket_id: int = row["id"]
        return ticket_id

    def _evidence_json(self, d: TicketDraft) -> str:
        """_evidence(d), the same text, made faster for a repeat: a finding's repeats within
        minutes share their timeline and log lines (the engine reuses them, evaluate.py
        EVIDENCE_EVERY_MS), so those parts are redacted and encoded once per transaction;
        only the values are new each time."""
        out = []
        for key in sorted(d.evidence):
            part = d.evidence[key]
            if isinstance(key, str) and redact.SECRET_KEY.fullmatch(key) and part:
                text = _json_value("<redacted>")
            elif type(part) is dict or type(part) is list:
                known = self._parts.get(id(part))
                if known is None or known[0] is not part:
                    known = self._parts[id(part)] = (part, _json_value(redact.value(part)))
                text = known[1]
            else:
                text = _json_value(redact.value(part))
            out.append(f"{_ENCODER.encode(key)}:{text}")
        return "{" + ",".join(out) + "}"

    def _cleared(self, d: TicketDraft) -> tuple[int, str] | None:
        # One statement: only the latest ticket, only when open and not already cleared.
        cleared = min(self.now, d.observed_at_ms) if self.host_time else self.now
        row = _CLEAR.run(
            self.conn, {"k": d.dedup_key, "t_now": self.now, "t_clear": cleared}
        ).mappings().one_or_none()  # fmt: skip
        if row is None:
            return None
        if row["auto_resolve"]:
            return row["id"], "cleared"  # the hold-down's tick resolves it
        last: int | None = self.conn.execute(
            select(func.max(ticket_notes.c.time_ms)).where(
                ticket_notes.c.ticket_id == row["id"], ticket_notes.c.kind == "cleared"
            )
        ).scalar_one()
        due = last is None or self.now - last >= self.policy.note_interval_ms
        if due:
            # Hardware and boot findings: a human confirms the fix (jiralert's philosophy).
            # Rate-limited like the repeat notes: a flapping finding must not write a note
            # per flap.
            if d.evidence.get("subject") == "event":
                # An event rule clears after its quiet period, not at the event's time.
                what = (
                    f"No new occurrence since {stamp(row['last_seen_ms'])}: the finding is quiet."
                )
            else:
                what = f"The condition cleared at {stamp(d.observed_at_ms)}."
            self.noted(
                row["id"],
                "cleared",
                f"{what} This kind of finding does not resolve itself: confirm the repair "
                "(or that the cause is gone) and resolve the ticket.",
            )
        return row["id"], "cleared"

    def _reopen(self, row: RowMapping, d: TicketDraft, recurrence: int) -> None:
        self.conn.execute(
            update(tickets)
            .where(tickets.c.id == row["id"])
            .values(
                state=TicketState.OPEN.value,
                resolution="",
                resolved_ms=0,
                cleared_ms=0,
                reopen_count=tickets.c.reopen_count + 1,
                recurrence=recurrence,
                occurrences=tickets.c.occurrences + 1,
                last_seen_ms=max(row["last_seen_ms"], d.observed_at_ms),
                evidence=_evidence(d),
                updated_at_ms=self.now,
                last_note_ms=self.now,
                repeats_since_note=0,
            )
        )
        body = (
            f"Recurred at {stamp(d.observed_at_ms)}, {human_age(self.now - row['resolved_ms'])} "
            f"after it was resolved ({row['resolution'] or 'fixed'}): reopened "
            f"(reopen {row['reopen_count'] + 1}, recurrence {recurrence})."
        )
        self.reopened(row["id"], body)

    def _open(self, d: TicketDraft, previous: RowMapping | None = None, recurrence: int = 0) -> int:
        storm = self._storm()
        held = storm is not None or self._storming()
        respond, resolve = self.policy.sla_due(d.priority, self.now)
        ticket_id: int = self.conn.execute(
            insert(tickets)
            .values(
                **_draft_values(d),
                state=(TicketState.HELD if held else TicketState.OPEN).value,
                occurrences=1,
                created_at_ms=self.now,
                updated_at_ms=self.now,
                first_seen_ms=d.observed_at_ms,
                last_seen_ms=d.observed_at_ms,
                sla_respond_ms=respond,
                sla_resolve_ms=resolve,
                last_note_ms=self.now,
                recurrence=recurrence,
                previous_id=None if previous is None else previous["id"],
                problem_id=None if previous is None else previous["problem_id"],
            )
            .returning(tickets.c.id)
        ).scalar_one()
        for name, media_type, content in evidence_files(
            str(d.evidence.get("subject", "host")), d.component, json.loads(_evidence(d))
        ):
            self.conn.execute(
                insert(ticket_files).values(
                    ticket_id=ticket_id,
                    name=name,
                    media_type=media_type,
                    sha256=hashlib.sha256(content).hexdigest(),
                    size=len(content),
                    content=content,
                )
            )
        if held:
            storm_id = storm if storm is not None else self._open_storm()
            self._hold(storm_id, [ticket_id])
        else:
            self.deliver_new(ticket_id)
        return ticket_id

    def deliver_new(
        self, ticket_id: int, delay_ms: int | None = None, only_sink: str | None = None
    ) -> None:
        """The outbox of a new ticket: create (after group_wait), then its files; to every
        sink, or only_sink (a backfill)."""
        wait = self.policy.group_wait_ms if delay_ms is None else delay_ms
        self.op(ticket_id, "create", delay_ms=wait, only_sink=only_sink)
        for (file_id,) in self.conn.execute(
            select(ticket_files.c.id)
            .where(ticket_files.c.ticket_id == ticket_id)
            .order_by(ticket_files.c.id)
        ):
            self.op(ticket_id, "attach", file_id, delay_ms=wait, only_sink=only_sink)

    # -- storms ----------------------------------------------------------------------

    def _storm(self) -> int | None:
        """The storm holding new tickets: open and not yet acknowledged by a person. Read
        once per transaction: a burst opens hundreds of tickets in one group."""
        if self._storm_known:
            return self._storm_id
        storm: int | None = self.conn.execute(
            select(tickets.c.id)
            .where(
                tickets.c.kind == "storm",
                tickets.c.state == "open",
                tickets.c.acknowledged_ms == 0,
            )
            .order_by(tickets.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        self._storm_known, self._storm_id = True, storm
        return storm

    def _storming(self) -> bool:
        recent: int = self.conn.execute(
            select(func.count()).where(
                tickets.c.kind == "host",
                tickets.c.created_at_ms > self.now - self.policy.storm_window_ms,
            )
        ).scalar_one()
        return recent >= self.policy.storm_max_new

    def _open_storm(self) -> int:
        window = self.policy.storm_window_ms
        key = hashlib.sha256(f"storm\0{self.now}".encode()).hexdigest()[:20]
        respond, resolve = self.policy.sla_due("P2", self.now)
        storm_id: int = self.conn.execute(
            insert(tickets)
            .values(
                dedup_key=f"rdiag-storm-{key}",
                agent_id="",
                hostname="fleet",
                rule_id=STORM_RULE,
                rule_version=1,
                component="",
                severity="high",
                priority="P2",
                tier="L2",
                category="Monitoring / Ticket storm",
                summary="[Storm] Ticket storm: new tickets held for review",
                description="",
                evidence="{}",
                state="open",
                occurrences=0,
                created_at_ms=self.now,
                updated_at_ms=self.now,
                first_seen_ms=self.now,
                last_seen_ms=self.now,
                kind="storm",
                impact="high",
                urgency="medium",
                content=_json(_storm_content(self.policy)),
                sla_respond_ms=respond,
                sla_resolve_ms=resolve,
                last_note_ms=self.now,
            )
            .returning(tickets.c.id)
        ).scalar_one()
        # The burst that tripped the breaker: held too where no helpdesk has it yet.
        burst = list(
            self.conn.execute(
                select(tickets.c.id).where(
                    tickets.c.kind == "host",
                    tickets.c.state == "open",
                    tickets.c.storm_id.is_(None),
                    tickets.c.created_at_ms > self.now - window,
                )
            ).scalars()
        )
        self._hold(storm_id, self.cancel_undelivered(burst))
        self.op(storm_id, "create")
        self._storm_known, self._storm_id = True, storm_id
        return storm_id

    def _hold(self, storm_id: int, ticket_ids: Sequence[int]) -> None:
        if not ticket_ids:
            return
        self.conn.execute(
            update(tickets)
            .where(tickets.c.id.in_(ticket_ids))
            .values(state=TicketState.HELD.value, storm_id=storm_id, updated_at_ms=self.now)
        )
        self.conn.execute(
            update(tickets)
            .where(tickets.c.id == storm_id)
            .values(
                occurrences=tickets.c.occurrences + len(ticket_ids),
                last_seen_ms=self.now,
                updated_at_ms=self.now,
            )
        )
        held, last_note = self.conn.execute(
            select(tickets.c.occurrences, tickets.c.last_note_ms).where(tickets.c.id == storm_id)
        ).one()
        if self.now - last_note >= self.policy.note_interval_ms:
            # The helpdesk's copy of the storm says how far it grew, at most every interval.
            self.noted(storm_id, "held", f"{held} tickets held now.")
            self.conn.execute(
                update(tickets).where(tickets.c.id == storm_id).values(last_note_ms=self.now)
            )

    # -- problems --------------------------------------------------------------------

    def _problem(self, ticket_id: int, d: TicketDraft, recurrence: int) -> None:
        key = PROBLEM_PREFIX + d.dedup_key
        problem = self._latest(key)
        if problem is not None and problem["resolution"] in FINAL:
            # A person accepted it (won't fix: a known error); incidents still point at it.
            problem_id: int = problem["id"]
            self.conn.execute(
                update(tickets)
                .where(tickets.c.id == problem_id)
                .values(occurrences=recurrence, recurrence=recurrence)
            )
        elif problem is None or problem["state"] not in ("open", "held"):
            respond, resolve = self.policy.sla_due(d.priority, self.now)
            problem_id = self.conn.execute(
                insert(tickets)
                .values(
                    **{
                        **_draft_values(d),
                        "dedup_key": key,
                        "tier": "L3",
                        "kind": "problem",
                        "auto_resolve": 0,
                        "summary": f"[Problem] Recurring: {d.summary}"[:150],
                    },
                    state="open",
                    occurrences=recurrence,
                    created_at_ms=self.now,
                    updated_at_ms=self.now,
                    first_seen_ms=d.observed_at_ms,
                    last_seen_ms=d.observed_at_ms,
                    sla_respond_ms=respond,
                    sla_resolve_ms=resolve,
                    last_note_ms=self.now,
                    recurrence=recurrence,
                    previous_id=None if problem is None else problem["id"],
                )
                .returning(tickets.c.id)
            ).scalar_one()
            self.op(problem_id, "create")
        else:
            problem_id = problem["id"]
            self.conn.execute(
                update(tickets)
                .where(tickets.c.id == problem_id)
                .values(
                    occurrences=recurrence, recurrence=recurrence, last_seen_ms=d.observed_at_ms
                )
            )
            self.noted(
                problem_id,
                "recurrence",
                f"Recurrence {recurrence} at {stamp(d.observed_at_ms)}: ticket #{ticket_id}.",
            )
        # Every incident of this problem points at it.
        self.conn.execute(
            update(tickets).where(tickets.c.dedup_key == d.dedup_key).values(problem_id=problem_id)
        )


def live_creates() -> Select[tuple[int]]:
    """The tickets with a create queued or sent to a sink (not cancelled by a storm or a
    merge): what decides whether a sink should get a ticket's later operations."""
    return (
        select(ticket_ops.c.ticket_id)
        .join(deliveries, deliveries.c.op_id == ticket_ops.c.id)
        .where(ticket_ops.c.op == "create", deliveries.c.state != "cancelled")
    )


class Prepared:
    """A hot statement as SQL text, compiled once per dialect and run with exec_driver_sql.

    Through Core, every run pays the statement's cache lookup and parameter processing:
    about 70 µs against SQLite's 12 µs for the repeat below, which runs once per firing
    finding (tests/bench/bench_ingest.py, realistic load). Only for statements whose
    parameters need no conversion (checked at compile; otherwise Core runs them) and with
    no expanding IN lists (constant lists are written as literals, _LIVE).
    """

    def __init__(self, statement: Select[Any] | ReturningUpdate[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, list[str] | None, dict[str, Any]] | None] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, list[str] | None, dict[str, Any]] | None:
        compiled = self.statement.compile(dialect=dialect)
        binds = compiled.binds.values()
        if any(b.expanding or b.type.bind_processor(dialect) is not None for b in binds):
            return None
        names = list(compiled.positiontup) if compiled.positiontup is not None else None
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        return str(compiled), names, constants

    def run(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        name = conn.dialect.name
        if name not in self._by_dialect:
            self._by_dialect[name] = self._compile(conn.dialect)
        prepared = self._by_dialect[name]
        if prepared is None:
            return conn.execute(self.statement, dict(params))
        sql, names, constants = prepared
        values = {**constants, **params}
        if names is None:
            return conn.exec_driver_sql(sql, values)
        return conn.exec_driver_sql(sql, tuple(values[n] for n in names))


# Open or held: literals, not an IN list of parameters (see Prepared).
_LIVE: tuple[ColumnElement[str], ...] = (literal_column("'open'"), literal_column("'held'"))

# What the lifecycle reads of a problem's latest ticket: not its text or evidence.
_LATEST = Prepared(
    select(*(tickets.c[name] for name in (
        "id", "state", "kind", "resolution", "resolved_ms", "last_seen_ms", "first_seen_ms",
        "last_note_ms", "repeats_since_note", "occurrences", "created_at_ms", "recurrence",
        "problem_id", "cleared_ms", "auto_resolve", "reopen_count")))
    .where(tickets.c.dedup_key == bindparam("k"))
    .order_by(tickets.c.id.desc())
    .limit(1)
)  # fmt: skip
# The problem's latest ticket, by its dedup key: the one a repeat or a clear applies to.
_NEWEST = (
    select(func.max(tickets.c.id)).where(tickets.c.dedup_key == bindparam("k")).scalar_subquery()
)
_HOLDER = tickets.alias("holder")
# A repeat counts on a live ticket, or on a merged one while what it was merged into (its
# root cause, its fleet incident's ticket) is live; once that is resolved, the problem
# coming back is a recurrence with a ticket of its own.
_COUNTS_REPEATS = or_(
    tickets.c.state.in_(_LIVE),
    and_(
        tickets.c.state == "merged",
        or_(
            select(_HOLDER.c.id)
            .where(_HOLDER.c.id == tickets.c.merged_into, _HOLDER.c.state.in_(_LIVE))
            .exists(),
            select(_HOLDER.c.id)
            .where(
                tickets.c.incident_id.is_not(None),
                _HOLDER.c.incident_id == tickets.c.incident_id,
                _HOLDER.c.kind == "fleet",
                _HOLDER.c.state.in_(_LIVE),
            )
            .exists(),
        ),
    ),
)
_OBS = bindparam("t_obs", type_=BigInteger)
_EV = bindparam("t_ev", type_=Text)
_REPEAT = Prepared(
    update(tickets)
    .where(tickets.c.id == _NEWEST, _COUNTS_REPEATS)
    .values(
        occurrences=tickets.c.occurrences + 1,
        updated_at_ms=bindparam("t_now"),
        first_seen_ms=case(
            (tickets.c.first_seen_ms > _OBS, _OBS),
            else_=tickets.c.first_seen_ms,
        ),
        last_seen_ms=case(
            (tickets.c.last_seen_ms < _OBS, _OBS),
            else_=tickets.c.last_seen_ms,
        ),
        # The evidence belongs with last_seen: a late, older observation keeps the newer.
        evidence=case(
            (tickets.c.last_seen_ms <= _OBS, _EV),
            else_=tickets.c.evidence,
        ),
        cleared_ms=0,
        repeats_since_note=tickets.c.repeats_since_note + 1,
    )
    .returning(*(tickets.c[name] for name in (
        "id", "state", "kind", "last_note_ms", "repeats_since_note", "occurrences",
        "created_at_ms", "first_seen_ms", "last_seen_ms")))
)  # fmt: skip
_CLEAR = Prepared(
    update(tickets)
    .where(
        tickets.c.id == _NEWEST,
        tickets.c.state.in_(_LIVE),
        tickets.c.cleared_ms == 0,
    )
    # Collector time, not the agent's: a backlog drained hours late must still wait the
    # hold-down before its ticket resolves (t_clear is t_now but with Lifecycle.host_time).
    .values(cleared_ms=bindparam("t_clear"), updated_at_ms=bindparam("t_now"))
    .returning(tickets.c.id, tickets.c.auto_resolve, tickets.c.last_seen_ms)
)


def _storm_content(policy: TicketPolicy) -> dict[str, Any]:
    """A storm ticket's report: what happened and what a person decides."""
    return {
        "symptoms": (
            f"More than {policy.storm_max_new} new tickets opened within "
            f"{human_age(policy.storm_window_ms)}: more than a queue should get one by one. "
            "They are kept in the collector, whole, and held back from the helpdesk; the "
            "ones listed are held so far."
        ),
        "cause": (
            "Usually one cause behind many hosts: a bad driver or update rollout, a site or "
            "DNS outage, a monitoring change (a new or edited rule), or a clock jump "
            "replaying old events."
        ),
        "steps": {
            "L2": [
                "Look at the held tickets' rules and hosts (rdiag-collector tickets list "
                "--state held): one rule on many hosts is one problem.",
                "Acknowledge this ticket (rdiag-collector tickets ack ID) once the cause is "
                "known: new tickets flow to the helpdesk again.",
                "Release the held tickets (rdiag-collector tickets release ID) only if each "
                "host needs its own ticket; otherwise resolve them here.",
            ]
        },
    }


def _draft_values(d: TicketDraft) -> dict[str, Any]:
    return {
        "dedup_key": d.dedup_key,
        "agent_id": d.agent_id,
        "hostname": d.hostname,
        "rule_id": d.rule_id,
        "rule_version": d.rule_version,
        "component": d.component,
        "severity": d.severity,
        "priority": d.priority,
        "tier": d.tier,
        "category": d.category,
        "summary": d.summary,
        "description": d.description,
        "evidence": _evidence(d),
        "kind": "host",
        "impact": d.impact,
        "urgency": d.urgency,
        "site": d.site,
        "content": _json(d.content),
        "auto_resolve": int(d.auto_resolve),
    }


def _evidence(d: TicketDraft) -> str:
    """The evidence as stored: redacted here, the one door every draft passes, so the
    report, the files and every helpdesk only ever see this copy."""
    return _json(redact.value(dict(d.evidence)))


def _values(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    values = evidence.get("values")
    return values if isinstance(values, Mapping) else {}


def _json(value: Mapping[str, Any]) -> str:
    return _ENCODER.encode(value)


def _json_value(value: object) -> str:
    # One value as _json writes it inside a mapping (same options, so the same text).
    return _ENCODER.encode(value)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# What json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain) builds on
# every call, built once: with options, dumps makes a new encoder each time, and a repeat
# encodes a dozen values.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_plain)
