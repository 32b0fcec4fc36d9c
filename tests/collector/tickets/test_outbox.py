"""The outbox's guarantees, on SQLite and PostgreSQL, with a helpdesk played in memory
(the real Roundup runs in test_roundup_lifecycle.py): per-problem order, no duplicate
after an uncertain create, nothing queued that can never be delivered, no starvation
behind failed tickets, and one deliverer per sink among collectors sharing a database."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace

import pytest

from collector.store import Resolution, SqlStore, TicketError, TicketState, open_store
from collector.tickets.outbox import Outbox
from collector.tickets.policy import MINUTE, TicketPolicy
from collector.tickets.sinks.base import Attachment, DeliveryError, Outgoing, Ref
from tests.collector.store.test_store_contract import Backend
from tests.collector.tickets.test_lifecycle import DAY, finding, fire


@dataclass
class Helpdesk:
    """find() returns the newest issue with the key that is not resolved, as real ones do."""

    name: str = "desk"
    issues: dict[str, dict[str, object]] = field(default_factory=dict)
    down: bool = False
    lose_next_create_answer: bool = False
    reject_creates_of: set[str] = field(default_factory=set)  # hostnames
    calls: list[tuple[str, str]] = field(default_factory=list)

    def _up(self, what: str) -> None:
        if self.down:
            raise DeliveryError(f"{what}: ConnectError", retryable=True)

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        self._up("create")
        if ticket.hostname in self.reject_creates_of:
            raise DeliveryError("create: HTTP 400: field category rejected", retryable=False,
                                status=400)  # fmt: skip
        issue = str(len(self.issues) + 1)
        self.issues[issue] = {"key": ticket.dedup_key, "state": "open", "notes": [],
                              "ticket": ticket.ticket_id}  # fmt: skip
        self.calls.append(("create", issue))
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise DeliveryError("create: ReadTimeout", retryable=True)
        return Ref(issue)

    def find(self, dedup_key: str) -> Ref | None:
        self._up("find")
        for issue in sorted(self.issues, key=int, reverse=True):
            if self.issues[issue]["key"] == dedup_key and self.issues[issue]["state"] == "open":
                return Ref(issue)
        return None

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        self._up("note")
        self.issues[ref.id]["notes"].append(text)  # type: ignore[attr-defined]

    def attach(self, ref: Ref, file: Attachment) -> None:
        self._up("attach")

    def resolve(self, ref: Ref, text: str) -> None:
        self._up("resolve")
        self.issues[ref.id]["state"] = "resolved"
        self.calls.append(("resolve", ref.id))

    def reopen(self, ref: Ref, text: str) -> None:
        self._up("reopen")
        self.issues[ref.id]["state"] = "open"

    def close(self) -> None:
        pass


@pytest.fixture
def desk(backend: Backend, store: SqlStore) -> tuple[SqlStore, Helpdesk, Outbox]:
    store.policy = TicketPolicy(group_wait_ms=0, storm_max_new=3, reopen_window_ms=DAY)
    helpdesk = Helpdesk()
    box = Outbox(store, [helpdesk], backend.clock, retry_base_ms=1_000, retry_max_ms=5_000,
                 rng=random.Random(3))  # fmt: skip
    return store, helpdesk, box


def drain(backend: Backend, box: Outbox, rounds: int = 5) -> None:
    for _ in range(rounds):
        box.run_once()
        backend.clock.now += MINUTE


def test_a_recurrence_waits_for_the_resolve_of_the_ticket_before_it(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    (a,), _ = fire(store, finding())
    drain(backend, box, 1)
    store.resolve_ticket(a, "l2")
    helpdesk.down = True
    drain(backend, box, 2)  # the resolve cannot go out
    backend.clock.now += 2 * DAY
    (b,), _ = fire(store, finding())  # after the window: a new ticket for the same problem
    assert b != a
    helpdesk.down = False
    drain(backend, box)
    # A's issue was resolved first, then B got an issue of its own.
    assert helpdesk.calls[:3] == [("create", "1"), ("resolve", "1"), ("create", "2")]
    assert [r.external_id for r in store.ticket_refs(b)] == ["2"]


def test_a_create_that_may_have_reached_the_helpdesk_is_never_made_twice(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    (t1,), _ = fire(store, finding("h0"))
    helpdesk.lose_next_create_answer = True
    box.run_once()  # the issue exists; the collector does not know
    for i in range(1, 5):  # a storm trips while t1's create is uncertain
        fire(store, finding(f"h{i}"))
    t = store.get_ticket(t1)
    assert t is not None and t.state is TicketState.OPEN and t.storm_id is None
    drain(backend, box)
    assert [i["ticket"] for i in helpdesk.issues.values()].count(t1) == 1
    assert [r.external_id for r in store.ticket_refs(t1)] == ["1"]


def test_what_happens_to_a_held_ticket_stays_here_until_it_is_released(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    for i in range(5):
        fire(store, finding(f"h{i}"))
    held = store.list_tickets(state=TicketState.HELD)
    [storm] = store.list_tickets(kind="storm")
    store.comment(held[0].id, "seen it", "l1")  # noted here; no helpdesk has the ticket
    assert [d for d in store.deliveries(ticket_id=held[0].id) if d.state != "cancelled"] == []
    store.acknowledge(storm.id, "lead")
    assert store.release_storm(storm.id, "lead") == 5
    drain(backend, box)
    assert {d.state for d in store.deliveries(limit=1000)} <= {"done", "cancelled"}
    assert len(helpdesk.issues) == 6  # the storm and the five released


def test_a_ticket_resolved_while_held_is_delivered_whole_when_it_recurs(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    for i in range(5):
        fire(store, finding(f"h{i}"))
    [storm] = store.list_tickets(kind="storm")
    store.acknowledge(storm.id, "lead")
    held = store.list_tickets(state=TicketState.HELD)
    for t in held:
        store.resolve_ticket(t.id, "lead", Resolution.FIXED, "one cause, see the storm")
    backend.clock.now += 60 * MINUTE
    _, (again,) = fire(store, replace(finding(held[0].agent_id), observed_at_ms=9_000))
    assert again == held[0].id  # reopened within the window
    drain(backend, box)
    assert [r.external_id for r in store.ticket_refs(again)]  # delivered as a new issue
    assert {d.state for d in store.deliveries(ticket_id=again)} <= {"done", "cancelled"}


def test_failed_tickets_do_not_starve_the_others(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    store.policy = replace(store.policy, storm_max_new=10_000)
    helpdesk.reject_creates_of = {f"ws-bad{i}" for i in range(150)}
    for i in range(150):
        fire(store, finding(f"bad{i}"))
    drain(backend, box, 3)
    (good,), _ = fire(store, finding("good"))
    drain(backend, box, 2)
    assert store.ticket_refs(good)
    failed = [d for d in store.deliveries(limit=10_000) if d.state == "failed"]
    assert len(failed) == 150 and "field category rejected" in failed[0].last_error
    assert store.redeliver(ticket_id=failed[0].ticket_id) == 1


def test_a_sink_configured_later_gets_the_new_tickets_only(
    backend: Backend, desk: tuple[SqlStore, Helpdesk, Outbox]
) -> None:
    store, helpdesk, box = desk
    (old,), _ = fire(store, finding("old"))
    late = Helpdesk(name="late")
    later = Outbox(store, [late], backend.clock)
    store.comment(old, "a note on an old ticket", "l1")
    (new,), _ = fire(store, finding("new"))
    drain(backend, later)
    assert [i["ticket"] for i in late.issues.values()] == [new]
    assert {d.sink for d in store.deliveries(ticket_id=old)} == {"desk"}
    # Until an operator pushes the open tickets it lacks; the other sink gets nothing again.
    assert store.backfill("late") == 1
    assert store.backfill("late") == 0
    drain(backend, later)
    assert {i["ticket"] for i in late.issues.values()} == {old, new}
    assert len(helpdesk.issues) == 0  # "desk" never ran here: its deliveries only wait
    with pytest.raises(TicketError, match="no sink 'nowhere' has been configured"):
        store.backfill("nowhere")


@pytest.mark.postgres
def test_collectors_sharing_a_database_take_turns_per_sink(postgres_url: str) -> None:
    first, second = open_store(postgres_url), open_store(postgres_url)
    try:
        with first.sink_lock("desk") as mine, second.sink_lock("desk") as theirs:
            assert (mine, theirs) == (True, False)
            with second.sink_lock("another") as free:
                assert free
        with second.sink_lock("desk") as now_theirs:
            assert now_theirs
    finally:
        first.close()
        second.close()
