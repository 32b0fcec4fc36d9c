"""The ticket lifecycle in the store, on SQLite and PostgreSQL: repeat, clear, reopen,
recur, problem, human decisions, silences and the storm breaker, with the outbox
operations each step leaves for the helpdesks."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from collector.engine.history import HistoryDelta
from collector.engine.model import IncidentUpdate
from collector.store import (
    BatchResult,
    IncomingBatch,
    RecordKind,
    Resolution,
    SqlStore,
    StoredRecord,
    TicketDraft,
    TicketError,
    TicketState,
    open_store,
)
from collector.store.clock import ObservedClock
from collector.tickets.policy import MINUTE, TicketPolicy
from collector.tickets.report import report_of
from tests.collector.store.test_store_contract import Backend, batch

HOUR = 60 * MINUTE
DAY = 24 * HOUR
_seq = itertools.count(1)


def fire(store: SqlStore, d: TicketDraft) -> tuple[tuple[int, ...], tuple[int, ...]]:
    seq = next(_seq)
    [result] = store.save_batches([batch(seq, seq, findings=((seq, d),))])
    return result.tickets_opened, result.tickets_updated


def finding(
    agent: str = "agent-1", *, rule: str = "disk.smart_health_failed", **extra: Any
) -> TicketDraft:
    values: dict[str, Any] = {
        "dedup_key": f"rdiag-{agent}-{rule}",
        "agent_id": agent,
        "hostname": f"ws-{agent}",
        "rule_id": rule,
        "rule_version": 2,
        "component": "sda",
        "severity": "critical",
        "priority": "P1",
        "tier": "L2",
        "category": "Hardware / Storage",
        "summary": f"[Disk] Drive sda reports SMART failure on ws-{agent}",
        "description": "**Symptoms.** failing",
        "evidence": {"subject": "smart", "values": {"health": "FAILED", "reallocated": 12},
                     "events": [{"time_ms": 1, "kind": "disk.io_error", "severity": "error",
                                 "message": "I/O error, dev sda, user alice@example.com"}]},
        "observed_at_ms": 1_000,
        "impact": "high",
        "urgency": "high",
        "content": {"symptoms": "failing", "cause": "wear", "steps": {"L2": ["replace"]}},
    }  # fmt: skip
    values.update(extra)
    return TicketDraft(**values)


def ops(store: SqlStore, ticket_id: int) -> list[str]:
    return [d.op for d in reversed(store.deliveries(ticket_id=ticket_id))]


@pytest.fixture
def life(backend: Backend, store: SqlStore) -> SqlStore:
    store.policy = TicketPolicy(note_interval_ms=30 * MINUTE, hold_down_ms=30 * MINUTE,
                                reopen_window_ms=7 * DAY, problem_after=3, storm_max_new=5,
                                group_wait_ms=0)  # fmt: skip
    store.register_sink("test")
    return store


def test_a_repeat_counts_on_the_open_ticket_with_notes_at_most_every_interval(
    backend: Backend, life: SqlStore
) -> None:
    (tid,), _ = fire(life, finding())
    t = life.get_ticket(tid)
    assert t is not None and t.state is TicketState.OPEN
    assert (t.impact, t.urgency, t.priority) == ("high", "high", "P1")
    # SLA targets are set from the priority at creation (P1: 15 min / 4 h by default).
    assert t.sla_respond_ms - t.created_at_ms == 15 * MINUTE
    assert t.sla_resolve_ms - t.created_at_ms == 4 * HOUR
    # The evidence became files, redacted, each with its hash.
    files = {f.name: f for f in life.ticket_files(tid)}
    assert set(files) == {"smart-sda.txt", "events.log", "evidence.json"}
    assert b"alice@example.com" not in files["events.log"].content
    assert b"<email>" in files["events.log"].content
    assert ops(life, tid) == ["create", "attach", "attach", "attach"]

    for minutes in (5, 10, 20):  # within the note interval: counted, not noted
        backend.clock.now += 5 * MINUTE if minutes == 5 else 5 * MINUTE
        assert fire(life, finding(observed_at_ms=1_000 + minutes)) == ((), (tid,))
    assert life.ticket_notes(tid) == []
    backend.clock.now += 20 * MINUTE  # 35 min after creation
    fire(life, finding(observed_at_ms=2_000))
    [note] = life.ticket_notes(tid)
    assert note.kind == "repeat" and "Still firing: 4 more observation(s)" in note.body
    t = life.get_ticket(tid)
    assert t is not None and t.occurrences == 5 and t.repeats_since_note == 0
    assert [x.id for x in life.list_tickets()] == [tid]  # never a second ticket
    assert ops(life, tid)[-1] == "note"


def test_a_hardware_finding_that_clears_gets_a_note_not_a_resolve(
    backend: Backend, life: SqlStore
) -> None:
    (tid,), _ = fire(life, finding())
    fire(life, finding(clear=True, observed_at_ms=5_000))
    backend.clock.now += DAY
    assert life.tick() == []
    t = life.get_ticket(tid)
    assert t is not None and t.state is TicketState.OPEN
    assert t.cleared_ms == backend.clock.now - DAY  # when the collector saw it clear
    [note] = life.ticket_notes(tid)
    assert note.kind == "cleared" and "does not resolve itself" in note.body


def test_a_transient_finding_resolves_after_the_hold_down_and_a_flap_cancels_it(
    backend: Backend, life: SqlStore
) -> None:
    net = finding(rule="network.gateway_unreachable", auto_resolve=True, priority="P3")
    (tid,), _ = fire(life, net)
    fire(life, replace(net, clear=True))  # observed at 1 s after the epoch: long ago
    assert life.tick() == []  # the hold-down runs on the collector's clock
    backend.clock.now += 10 * MINUTE
    fire(life, net)  # back before the hold-down ended: the resolve is off
    backend.clock.now += HOUR
    assert life.tick() == []
    fire(life, replace(net, clear=True, observed_at_ms=backend.clock.now))
    backend.clock.now += 29 * MINUTE
    assert life.tick() == []
    backend.clock.now += 2 * MINUTE
    assert life.tick() == [tid]
    t = life.get_ticket(tid)
    assert t is not None and (t.state, t.resolution) == (TicketState.RESOLVED, "auto")
    assert ops(life, tid)[-1] == "resolve"
    assert "resolved automatically" in life.ticket_notes(tid)[-1].body


def test_recurrence_reopens_within_the_window_then_opens_a_linked_ticket_then_a_problem(
    backend: Backend, life: SqlStore
) -> None:
    (first,), _ = fire(life, finding())
    life.resolve_ticket(first, "l2-alice")
    backend.clock.now += 2 * DAY
    assert fire(life, finding()) == ((), (first,))  # recurrence 1: reopened
    t = life.get_ticket(first)
    assert t is not None and t.state is TicketState.OPEN and t.reopen_count == 1
    assert ops(life, first)[-2:] == ["resolve", "reopen"]

    life.resolve_ticket(first, "l2-alice")
    backend.clock.now += 8 * DAY  # after the window: a new ticket, linked
    (second,), _ = fire(life, finding())
    t2 = life.get_ticket(second)
    assert t2 is not None and t2.previous_id == first and t2.recurrence == 2
    assert t2.problem_id is None
    assert first in [r.id for r in life.related_tickets(t2)]

    life.resolve_ticket(second, "l2-bob")
    backend.clock.now += 1 * DAY
    fire(life, finding())  # recurrence 3: reopened, and a problem record is raised
    [problem] = life.list_tickets(kind="problem")
    assert problem.tier == "L3" and problem.summary.startswith("[Problem] Recurring: [Disk]")
    assert all(life.get_ticket(i).problem_id == problem.id for i in (first, second))  # type: ignore[union-attr]
    assert ops(life, problem.id) == ["create"]


def test_wont_fix_and_duplicate_are_never_reopened(backend: Backend, life: SqlStore) -> None:
    (tid,), _ = fire(life, finding())
    life.resolve_ticket(tid, "l2-alice", Resolution.WONT_FIX, "known, replacement budgeted")
    for days in (1, 10):
        backend.clock.now += days * DAY
        assert fire(life, finding()) == ((), (tid,))
    t = life.get_ticket(tid)
    assert t is not None and (t.state, t.resolution) == (TicketState.RESOLVED, "wont_fix")
    assert t.occurrences == 3 and len(life.list_tickets()) == 1
    with pytest.raises(TicketError, match="is resolved, not open"):
        life.resolve_ticket(tid, "x")


def test_silences_by_host_site_and_rule_hold_new_tickets_until_they_expire(
    backend: Backend, life: SqlStore
) -> None:
    now = backend.clock.now
    life.add_silence("host", "ws-a1", reason="reimaging", who="ops", expires_ms=now + HOUR)
    life.add_silence("site", "lab", reason="patch night", who="ops", expires_ms=now + HOUR)
    life.add_silence("rule", "network.*", reason="noisy", who="ops", expires_ms=now + HOUR)
    assert fire(life, finding("a1")) == ((), ())
    assert fire(life, finding("a2", site="lab")) == ((), ())
    assert fire(life, finding("a3", rule="network.dns_timeouts")) == ((), ())
    assert life.list_tickets() == []
    assert [s.hits for s in life.list_silences()] == [1, 1, 1]
    (opened,), _ = fire(life, finding("a4"))  # not covered
    backend.clock.now += 2 * HOUR  # expired
    assert life.list_silences() == []
    (later,), _ = fire(life, finding("a1"))
    assert {opened, later} == {t.id for t in life.list_tickets()}
    with pytest.raises(TicketError, match="scope must be one of host, site, rule"):
        life.add_silence("room", "x", reason="", who="ops", expires_ms=now + DAY * 9)
    with pytest.raises(TicketError, match="expire in the future"):
        life.add_silence("host", "x", reason="", who="ops", expires_ms=now - 1)


def test_a_storm_opens_one_ticket_and_holds_the_burst_until_acknowledged(
    backend: Backend, life: SqlStore
) -> None:
    life.policy = replace(life.policy, group_wait_ms=30_000)
    for i in range(40):
        fire(life, finding(f"h{i}"))
    [storm] = life.list_tickets(kind="storm")
    hosts = life.list_tickets(kind="host", limit=1000)
    assert len(hosts) == 40
    assert all(t.state is TicketState.HELD and t.storm_id == storm.id for t in hosts)
    assert storm.occurrences == 40
    # Nothing of the burst is waiting for delivery: only the storm ticket is.
    backend.clock.now += 60_000
    due = life.pending_ops("test", backend.clock.now)
    assert [(o.ticket_id, o.op) for o in due] == [(storm.id, "create")]

    life.acknowledge(storm.id, "l2-alice")
    backend.clock.now += 120_000
    (fresh,), _ = fire(life, finding("late"))  # the breaker re-armed
    assert life.get_ticket(fresh).state is TicketState.OPEN  # type: ignore[union-attr]
    assert life.release_storm(storm.id, "l2-alice") == 40
    assert not life.list_tickets(state=TicketState.HELD)


def test_reopening_by_hand_is_refused_while_another_ticket_is_open(
    backend: Backend, life: SqlStore
) -> None:
    (first,), _ = fire(life, finding())
    life.resolve_ticket(first, "a")
    backend.clock.now += 30 * DAY
    (second,), _ = fire(life, finding())
    with pytest.raises(TicketError, match=f"ticket {second} is open for the same problem"):
        life.reopen_ticket(first, "a")
    with pytest.raises(TicketError, match="no ticket #999"):
        life.acknowledge(999, "a")


def test_a_fleet_incident_is_one_ticket_that_holds_back_its_members(
    backend: Backend, life: SqlStore
) -> None:
    life.policy = replace(life.policy, group_wait_ms=30_000, storm_max_new=1000)
    rule = "cross.fleet_dns_outage"
    members = [finding(f"d{i}", rule=rule, priority="P2") for i in range(5)]
    ids = [fire(life, d)[0][0] for d in members]
    hosts = tuple((d.agent_id, d.hostname, 1_000) for d in members)
    summary = "[Network] DNS server 10.0.0.53 not answering fleet-wide"
    update = IncidentUpdate(rule, "10.0.0.53", summary, 1_000, 1_000, hosts, True)
    seq = next(_seq)
    life.save_batches([batch(seq, seq, incidents=(update,))])
    [fleet] = life.list_tickets(kind="fleet")
    assert (fleet.summary, fleet.occurrences, fleet.priority) == (summary, 5, "P2")
    assert {h["hostname"] for h in fleet.evidence["hosts"]} == {d.hostname for d in members}
    for tid in ids:
        t = life.get_ticket(tid)
        assert t is not None and t.state is TicketState.MERGED and t.incident_id
        assert "Part of fleet incident ticket" in life.ticket_notes(tid)[-1].body
    # No member reaches a helpdesk: their creates were cancelled inside the group wait.
    backend.clock.now += 60_000
    due = life.pending_ops("test", backend.clock.now)
    assert [(o.ticket_id, o.op) for o in due] == [(fleet.id, "create")]
    # The incident grows: the same ticket, a note, and still no counter in the summary.
    more = (*hosts, ("d9", "ws-d9", 2_000))
    seq = next(_seq)
    grown = IncidentUpdate(rule, "10.0.0.53", summary, 1_000, 2_000, more, False)
    life.save_batches([batch(seq, seq, incidents=(grown,))])
    [again] = life.list_tickets(kind="fleet")
    assert again.id == fleet.id and again.occurrences == 6 and again.summary == summary
    assert life.ticket_notes(fleet.id) == []  # growth is noted at most every interval
    backend.clock.now += 31 * MINUTE
    more = (*more, ("d10", "ws-d10", 3_000))
    seq = next(_seq)
    life.save_batches([batch(seq, seq, incidents=(replace(grown, hosts=more),))])
    assert [n.body for n in life.ticket_notes(fleet.id)] == ["7 hosts now."]
    # The fleet ticket's report is the fleet's: no member's host in its facts.
    data = report_of(life, again).data()
    assert data["host"]["hostname"] == "fleet" and "machine_id" not in data["host"]


def test_the_storm_ticket_lists_what_it_holds(backend: Backend, life: SqlStore) -> None:
    for i in range(8):
        fire(life, finding(f"s{i}", rule="drivers.display_tdr" if i % 4 else "boot.bugcheck"))
    [storm] = life.list_tickets(kind="storm")
    md = report_of(life, storm).markdown()
    assert "## Held tickets" in md
    assert "- drivers.display_tdr: 6 host(s): ws-s1, ws-s2, ws-s3, ws-s5, ws-s6, ws-s7" in md
    assert "- boot.bugcheck: 2 host(s): ws-s0, ws-s4" in md
    assert "More than 5 new tickets opened within 1 min" in md


def test_a_flapping_hardware_finding_notes_its_clear_once_per_interval(
    backend: Backend, life: SqlStore
) -> None:
    (tid,), _ = fire(life, finding())
    for _ in range(6):  # fire, clear, fire, clear ... a minute apart
        backend.clock.now += MINUTE
        fire(life, finding(clear=True))
        backend.clock.now += MINUTE
        fire(life, finding())
    assert [n.kind for n in life.ticket_notes(tid)] == ["cleared"]
    backend.clock.now += 31 * MINUTE
    fire(life, finding(clear=True))
    assert [n.kind for n in life.ticket_notes(tid)] == ["cleared", "cleared"]


def test_only_the_newest_ticket_of_a_problem_can_be_reopened(
    backend: Backend, life: SqlStore
) -> None:
    (a,), _ = fire(life, finding())
    life.resolve_ticket(a, "x")
    backend.clock.now += 30 * DAY
    (b,), _ = fire(life, finding())
    life.resolve_ticket(b, "x")
    with pytest.raises(TicketError, match=f"ticket {b} is newer for the same problem"):
        life.reopen_ticket(a, "x")
    # Ingest goes on: the next recurrence lands on the newest ticket, never a second live one.
    _, (again,) = fire(life, finding())
    assert again == b


def test_a_merged_ticket_counts_repeats_only_while_its_root_cause_is_live(
    backend: Backend, life: SqlStore
) -> None:
    (child,), _ = fire(life, finding(rule="disk.io_errors"))
    root = finding(rule="cross.storage_caused_crash", absorbs=("disk.io_errors",))
    (root_id,), _ = fire(life, root)
    assert life.get_ticket(child).merged_into == root_id  # type: ignore[union-attr]
    assert fire(life, finding(rule="disk.io_errors")) == ((), (child,))  # counted on it
    life.resolve_ticket(root_id, "l2")
    (fresh,), _ = fire(life, finding(rule="disk.io_errors"))  # the root is gone: a recurrence
    t = life.get_ticket(fresh)
    assert t is not None and t.state is TicketState.OPEN and t.previous_id == child


def test_a_held_transient_ticket_that_clears_resolves_after_the_hold_down(
    backend: Backend, life: SqlStore
) -> None:
    for i in range(6):
        fire(life, finding(f"n{i}", rule="network.gateway_unreachable", auto_resolve=True))
    held = life.list_tickets(state=TicketState.HELD)
    assert held
    target = held[0]
    fire(life, replace(finding(target.agent_id, rule="network.gateway_unreachable",
                               auto_resolve=True), clear=True))  # fmt: skip
    backend.clock.now += 31 * MINUTE
    assert target.id in life.tick()


def test_a_problem_resolved_as_wont_fix_is_not_raised_again(
    backend: Backend, life: SqlStore
) -> None:
    (tid,), _ = fire(life, finding())
    for _ in range(3):
        life.resolve_ticket(tid, "x")
        backend.clock.now += DAY
        fire(life, finding())
    [problem] = life.list_tickets(kind="problem")
    life.resolve_ticket(problem.id, "l3", Resolution.WONT_FIX, "known error, vendor fix in Q3")
    life.resolve_ticket(tid, "x")
    backend.clock.now += DAY
    fire(life, finding())
    assert [p.id for p in life.list_tickets(kind="problem")] == [problem.id]


def test_a_silenced_rule_opens_no_fleet_ticket(backend: Backend, life: SqlStore) -> None:
    now = backend.clock.now
    life.add_silence("rule", "cross.*", reason="DNS migration", who="ops", expires_ms=now + DAY)
    hosts = tuple((f"f{i}", f"ws-f{i}", 1_000) for i in range(5))
    update = IncidentUpdate("cross.fleet_dns_outage", "10.0.0.53", "[Network] DNS down",
                            1_000, 1_000, hosts, True)  # fmt: skip
    seq = next(_seq)
    life.save_batches([batch(seq, seq, incidents=(update,))])
    assert life.list_tickets(kind="fleet") == []


def test_the_storm_tells_the_helpdesk_how_far_it_grew_at_most_every_interval(
    backend: Backend, life: SqlStore
) -> None:
    for i in range(10):
        fire(life, finding(f"g{i}"))
    [storm] = life.list_tickets(kind="storm")
    assert life.ticket_notes(storm.id) == []  # created with the burst; no note yet
    backend.clock.now += 31 * MINUTE
    fire(life, finding("late"))
    assert [n.body for n in life.ticket_notes(storm.id)] == ["11 tickets held now."]


def test_with_the_observed_clock_a_lagging_hosts_hold_down_runs_on_its_own_clock(
    backend: Backend,
) -> None:
    """A simulation lets one host lag behind the fleet's newest minute. Its clear counts
    from when it was observed and its hold-down elapses by its own snapshots: as in real
    time, not stamped at the fleet's late hour and left open when the run ends."""
    store = open_store(backend.url, clock=ObservedClock(lambda: 0), policy=TicketPolicy(
        hold_down_ms=30 * MINUTE, group_wait_ms=0))  # fmt: skip
    backend.opened.append(store)
    seqs = {"agent-1": itertools.count(1), "agent-2": itertools.count(1)}

    def at(agent: str, t: int, *findings: TicketDraft) -> BatchResult:
        seq = next(seqs[agent])
        [result] = store.save_batches([IncomingBatch(
            agent, "e", seq, seq, (StoredRecord(seq, RecordKind.SNAPSHOT, t, b"x"),), t,
            findings=tuple((seq, f) for f in findings),
            history=(HistoryDelta(agent, last_snapshot_ms=t),),
        )])  # fmt: skip
        return result

    net = finding(rule="network.gateway_unreachable", auto_resolve=True, priority="P3")
    (tid,) = at("agent-1", 1 * HOUR, replace(net, observed_at_ms=1 * HOUR)).tickets_opened
    at("agent-2", 5 * HOUR)  # the fleet's newest minute runs four hours ahead
    at("agent-1", 70 * MINUTE, replace(net, clear=True, observed_at_ms=70 * MINUTE))
    at("agent-1", 90 * MINUTE)  # 20 minutes clear on its own clock: not yet
    t = store.get_ticket(tid)
    assert t is not None and t.state == TicketState.OPEN
    # 31 minutes clear: the hold-down is over, though the fleet's clock has not moved (as
    # at a run's end, when the laggard catches up alone).
    at("agent-1", 101 * MINUTE)
    t = store.get_ticket(tid)
    assert t is not None and (t.state, t.resolution) == (TicketState.RESOLVED, "auto")
    assert "stayed clear" in store.ticket_notes(tid)[-1].body
