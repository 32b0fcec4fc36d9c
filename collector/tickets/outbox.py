"""The delivery worker: takes what the outbox holds for each sink and delivers it.

Every ticket operation was persisted (ticket_ops) in the transaction that decided it;
this worker only moves it to helpdesks. Per sink and per ticket, operations go out in
order. A failure that can pass (an outage, a 5xx, a 429) is retried with exponential
backoff and full jitter, without limit: a helpdesk that is down for a day gets its
tickets when it returns. One that cannot (a 4xx: bad credentials, a rejected field) is
marked failed, shown by `rdiag-collector tickets deliveries`, and blocks the ticket's
later operations until an operator runs `tickets redeliver`. A create is idempotent by
the dedup key: before a retry the worker asks the helpdesk for the key first, and the
adapter's memo (Roundup's single-use POE URL, a webhook's delivery id) is kept between
attempts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.store import PendingOp, SqlStore, Ticket
from collector.tickets.report import LEVEL_NUMBER, report_of
from collector.tickets.sinks.base import Attachment, DeliveryError, Outgoing, Ref, Sink

log = logging.getLogger("rdiag.collector.outbox")
MAX_PASSES = 20


@dataclass
class Outbox:
    store: SqlStore
    sinks: Sequence[Sink]
    clock: Callable[[], int]
    retry_base_ms: int = 5_000
    retry_max_ms: int = 600_000
    batch: int = 100
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        for sink in self.sinks:
            self.store.register_sink(sink.name)

    def run_once(self) -> int:
        """Deliver what is due now to every sink; returns operations delivered. With
        several collectors on one database, one of them delivers to a sink at a time."""
        self.store.tick()
        total = 0
        for sink in self.sinks:
            with self.store.sink_lock(sink.name) as mine:
                if mine:
                    total += self._drain(sink)
        return total

    def _drain(self, sink: Sink) -> int:
        """Passes over the due operations (one per ticket each, in order) until none is
        left or the sink stops answering; bounded, so one run never monopolises a thread."""
        total = 0
        for _ in range(MAX_PASSES):
            done, stalled = self._pass(sink)
            total += done
            if not done or stalled:
                break
        return total

    def _pass(self, sink: Sink) -> tuple[int, bool]:
        done = 0
        for op in self.store.pending_ops(sink.name, self.clock(), self.batch):
            memo = dict(op.memo)  # the adapter may add to it; kept whatever happens
            try:
                ref = self._deliver(sink, op, memo)
            except DeliveryError as exc:
                self._failed(sink, op, exc, memo)
                if exc.retryable and exc.status is None:
                    # The helpdesk did not answer at all: the rest would only time out too.
                    return done, True
                continue
            except Exception as exc:  # an adapter bug must not stop the other sinks
                log.exception("sink %s: op %d crashed", sink.name, op.id)
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
                self._failed(sink, op, error, memo)
                continue
            self.store.record_delivery(
                op.id, sink.name, state="done", attempts=op.attempts + 1, memo=memo,
                ref=(ref.id, ref.url) if ref is not None else None, ticket_id=op.ticket_id,
            )  # fmt: skip
            done += 1
        return done, False

    def _deliver(self, sink: Sink, op: PendingOp, memo: dict[str, str]) -> Ref | None:
        if op.op == "create":
            ticket = self.store.get_ticket(op.ticket_id)
            if ticket is None:
                raise DeliveryError(f"ticket {op.ticket_id} is gone", retryable=False)
            if op.attempts and not memo:
                # An earlier attempt may have reached the helpdesk before it failed. An
                # adapter that kept a memo (a POE URL, an issue key) resumes from it instead.
                found = sink.find(ticket.dedup_key)
                # An issue the collector already maps to another ticket (the problem's
                # previous occurrence, not yet resolved there) is not this one's.
                owner = None if found is None else self.store.ticket_for_ref(sink.name, found.id)
                if found is not None and owner in (None, ticket.id):
                    return found
            outgoing = self.outgoing(ticket, sink.name)
            # The attempt is counted before it is made: if this process dies mid-call,
            # the next one asks the helpdesk for the key before creating again.
            self.store.record_delivery(
                op.id, sink.name, state="retrying", attempts=op.attempts + 1,
                next_attempt_ms=self.clock() + self.retry_base_ms, memo=memo,
            )  # fmt: skip
            return sink.create(outgoing, memo)
        ref = self.store.ref_for(op.ticket_id, sink.name)
        if ref is None:
            raise DeliveryError(
                f"ticket {op.ticket_id} has no {sink.name} ticket to {op.op} on", retryable=False
            )
        target = Ref(ref.external_id, ref.url)
        if op.op == "note":
            sink.note(target, self.store.note_text(op.ref_id))
        elif op.op == "attach":
            f = self.store.ticket_file(op.ref_id)
            if f is None:
                raise DeliveryError(f"file {op.ref_id} is gone", retryable=False)
            sink.attach(target, Attachment(f.name, f.media_type, f.content))
        elif op.op == "resolve":
            sink.resolve(target, self.store.note_text(op.ref_id))
        elif op.op == "reopen":
            sink.reopen(target, self.store.note_text(op.ref_id))
        else:
            raise DeliveryError(f"unknown operation {op.op!r}", retryable=False)
        return None

    def _failed(self, sink: Sink, op: PendingOp, exc: DeliveryError, memo: dict[str, str]) -> None:
        attempts = op.attempts + 1
        if exc.retryable:
            # Full jitter: a fleet of collectors coming back does not retry in step.
            ceiling = min(self.retry_max_ms, self.retry_base_ms * 2 ** min(attempts - 1, 20))
            delay = int(self.rng.uniform(self.retry_base_ms / 2, ceiling))
            log.warning("sink %s: %s ticket %d failed (attempt %d), retry in %.0fs: %s",
                        sink.name, op.op, op.ticket_id, attempts, delay / 1000, exc)  # fmt: skip
            self.store.record_delivery(
                op.id, sink.name, state="retrying", attempts=attempts,
                next_attempt_ms=self.clock() + delay, error=str(exc), memo=memo,
            )  # fmt: skip
        else:
            log.error("sink %s: %s ticket %d failed for good: %s",
                      sink.name, op.op, op.ticket_id, exc)  # fmt: skip
            self.store.record_delivery(
                op.id, sink.name, state="failed", attempts=attempts, error=str(exc), memo=memo
            )

    def outgoing(self, ticket: Ticket, sink: str) -> Outgoing:
        report = report_of(self.store, ticket)
        previous = self.store.ref_for(ticket.previous_id, sink) if ticket.previous_id else None
        problem = self.store.ref_for(ticket.problem_id, sink) if ticket.problem_id else None
        return Outgoing(
            ticket_id=ticket.id,
            dedup_key=ticket.dedup_key,
            kind=ticket.kind,
            summary=ticket.summary[:150],
            markdown=report.markdown(with_notes=False),
            html=report.html(with_notes=False),
            text=report.text(),
            priority=ticket.priority,
            impact=LEVEL_NUMBER.get(ticket.impact, 2),
            urgency=LEVEL_NUMBER.get(ticket.urgency, 2),
            severity=ticket.severity,
            tier=ticket.tier,
            assignment_group=self.store.policy.group(ticket.tier),
            category=ticket.category,
            hostname=ticket.hostname,
            agent_id=ticket.agent_id,
            rule_id=ticket.rule_id,
            data=report.data(),
            previous=None if previous is None else Ref(previous.external_id, previous.url),
            problem=None if problem is None else Ref(problem.external_id, problem.url),
        )
