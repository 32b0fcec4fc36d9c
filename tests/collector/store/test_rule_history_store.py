"""The rule engine's history in the store: it survives a restart, on every backend.

The engine's changes travel as deltas in the batch that caused them; these tests save
them through save_batches exactly as the ingest path does, reopen the store, and check
the engine picks up where it was.
"""

from __future__ import annotations

from pathlib import Path

from agent.records import Event, HostInventory, Severity, Snapshot, Volume
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.load import parse_rule
from collector.engine.model import Change, IncidentUpdate, Rule
from collector.store import SqlStore, TicketState
from tests.collector.store import test_store_contract as contract
from tests.collector.store.test_store_contract import Backend, batch, draft

# The contract's fixtures: every test here runs on SQLite and on PostgreSQL too.
postgres_url = contract.postgres_url
backend = contract.backend
store = contract.store

H = 3_600_000
GIB = 1024**3
HOST = HostInventory(hostname="ws-1", os_family="linux")


def _rule(name: str, body: str) -> Rule:
    text = (f"id: disk.{name}\ndomain: disk\nversion: 1\ntitle: t\nseverity: high\n"
            "impact: medium\nurgency: medium\nreason: r\ntier: L2\ncategory: c\n"
            f"{body}\nticket: {{summary: 's {{hostname}}', symptoms: x, cause: x,"
            " remediation: {L2: [x]}}\n")  # fmt: skip
    return parse_rule(text, Path(f"/r/disk/{name}.yaml"))


FULL = _rule("full", "for_each: volume\nwhen: used_pct >= 95 and delta(used_bytes, '6h') >= 0\n"
                     "persist: {cycles: 3}\nevidence: {series: [used_bytes]}")  # fmt: skip
IO = _rule("io", "for_each: event\nmatch: disk.io_error\nwhen: count('disk.io_error', '1h') >= 3")
RULES = RuleSet([FULL, IO])


def _snap(t: int, used: int) -> Snapshot:
    return Snapshot(
        t, HOST, (Volume("/", "/dev/sda1", "ext4", 100 * GIB, used * GIB, (100 - used) * GIB),)
    )


def _feed(
    store: SqlStore, hist: HostHistory, engine: Engine, seq: int, body: object
) -> list[Change]:
    if isinstance(body, Snapshot):
        found = engine.on_snapshot(hist, HOST, body)
    else:
        assert isinstance(body, Event)
        found = engine.on_event(hist, body)
    store.save_batches(
        [batch(seq, seq, history=(hist.flush(),), incidents=tuple(engine.fleet.flush()))]
    )
    return [f.change for f in found]


def _loaded(store: SqlStore) -> HostHistory:
    hist = HostHistory("agent-1")
    hist.load(*store.load_history("agent-1"))
    hist.horizon_ms = RULES.horizon_ms
    return hist


def test_persistence_and_windows_continue_after_a_restart(backend: Backend) -> None:
    store = backend.open()
    engine, hist = Engine(RULES), HostHistory("agent-1")
    assert _feed(store, hist, engine, 1, _snap(0, 96)) == []
    assert _feed(store, hist, engine, 2, _snap(H, 97)) == []
    for i, t in enumerate((10, 20)):
        _feed(
            store,
            hist,
            engine,
            3 + i,
            Event(2 * H + t, "kernel", "disk.io_error", Severity.ERROR, "x"),
        )
    store.close()

    # A new collector process: new store handle, new engine, history from the database.
    store = backend.open()
    engine, again = Engine(RULES), _loaded(store)
    assert again.states == hist.states
    assert again.points("volume.used_bytes", "/", 0, 10 * H) == hist.points(
        "volume.used_bytes", "/", 0, 10 * H
    )
    assert again.event_count() == 2 and again.last_snapshot_ms == H
    # The third cycle in a row fires, as it would have without the restart ...
    assert _feed(store, again, engine, 5, _snap(2 * H, 98)) == [Change.OPENED]
    # ... and the third I/O error within the hour too.
    assert _feed(
        store, again, engine, 6, Event(2 * H + 30, "kernel", "disk.io_error", Severity.ERROR, "x")
    ) == [Change.OPENED]
    assert {(f.state.rule_id, f.state.phase) for f in store.list_findings()} == {
        ("disk.full", "active"), ("disk.io", "active")}  # fmt: skip


def test_history_deletes_reach_the_store(store: SqlStore) -> None:
    hist = HostHistory("agent-1", max_events=10, max_points=16)
    engine = Engine(RULES)
    for i in range(40):
        engine.on_event(hist, Event(i, "kernel", "disk.io_error", Severity.ERROR, f"e{i}"))
        engine.on_snapshot(hist, HOST, _snap(i * 60_000, 50))
    store.save_batches([batch(1, 1, history=(hist.flush(),))])
    events, points, states, last = store.load_history("agent-1")
    assert len(events) == 10 and len(points) <= 16
    assert sorted(e.key for e in events) == sorted(
        e.key for e in hist.events(["disk.io_error"], 0, 10**9))  # fmt: skip


def test_an_incident_merges_its_members_tickets(store: SqlStore) -> None:
    for agent in ("agent-1", "agent-2"):
        store.save_batches(
            [
                batch(
                    1,
                    1,
                    agent=agent,
                    findings=(
                        (1, draft(key=f"{agent}/dns", agent_id=agent, rule_id="network.dns_down")),
                    ),
                )
            ]
        )
    other = draft(key="agent-1/full", rule_id="disk.full")
    store.save_batches([batch(2, 2, findings=((2, other),))])
    update = IncidentUpdate("network.dns_down", "10.0.0.53", "DNS 10.0.0.53 down for 2 hosts",
                            1_000, 2_000, (("agent-1", "ws-1", 1_500), ("agent-2", "ws-2", 2_000)),
                            True)  # fmt: skip
    store.save_batches([batch(3, 3, incidents=(update,))])
    (incident,) = store.list_incidents()
    assert (incident.rule_id, incident.group, incident.state) == (
        "network.dns_down",
        "10.0.0.53",
        "open",
    )
    assert [h[0] for h in incident.hosts] == ["agent-1", "agent-2"]
    by_rule = {(t.agent_id, t.rule_id): t for t in store.list_tickets()}
    for agent in ("agent-1", "agent-2"):
        t = by_rule[(agent, "network.dns_down")]
        assert (t.state, t.incident_id) == (TicketState.MERGED, incident.id)
    assert by_rule[("agent-1", "disk.full")].state is TicketState.OPEN
    # A later update adds a host and keeps one incident.
    bigger = IncidentUpdate(
        "network.dns_down",
        "10.0.0.53",
        "DNS 10.0.0.53 down for 3 hosts",
        1_000,
        3_000,
        (*update.hosts, ("agent-3", "ws-3", 3_000)),
        False,
    )
    store.save_batches([batch(4, 4, incidents=(bigger,))])
    (incident,) = store.list_incidents()
    assert len(incident.hosts) == 3 and incident.summary.endswith("3 hosts")


def test_a_root_cause_ticket_takes_over_what_it_explains(store: SqlStore) -> None:
    storage = draft(key="k-io", rule_id="disk.io_errors", observed=1_000)
    crash = draft(key="k-crash", rule_id="cross.storage_caused_crash", observed=1_500,
                  absorbs=("disk.io_errors",), absorb_since_ms=500)  # fmt: skip
    unrelated = draft(key="k-full", rule_id="disk.volume_nearly_full", observed=1_000)
    store.save_batches([batch(1, 1, findings=((1, storage), (1, unrelated)))])
    store.save_batches([batch(2, 2, findings=((2, crash),))])
    by_rule = {t.rule_id: t for t in store.list_tickets()}
    root = by_rule["cross.storage_caused_crash"]
    assert root.state is TicketState.OPEN
    assert (by_rule["disk.io_errors"].state, by_rule["disk.io_errors"].merged_into) == (
        TicketState.MERGED, root.id)  # fmt: skip
    assert by_rule["disk.volume_nearly_full"].state is TicketState.OPEN


def _dns_update(n: int, *, new: bool = False) -> IncidentUpdate:
    hosts = tuple((f"agent-{i}", f"ws-{i}", 1_000 * i) for i in range(1, n + 1))
    return IncidentUpdate("network.dns_down", "10.0.0.53", f"DNS 10.0.0.53 down for {n} hosts",
                          1_000, 1_000 * n, hosts, new)  # fmt: skip


def test_a_group_writes_each_incident_once_with_its_last_update(store: SqlStore) -> None:
    from sqlalchemy import event

    writes: list[str] = []

    def spy(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT INTO INCIDENTS", "UPDATE INCIDENTS")):
            writes.append(statement)

    event.listen(store._engine, "before_cursor_execute", spy)
    # Three member batches in one group, each growing the incident (the first opens it).
    group = [batch(i, i, incidents=(_dns_update(i + 1, new=i == 1),)) for i in (1, 2, 3)]
    store.save_batches(group)
    assert len(writes) == 1  # not three rewrites of a growing member list
    (incident,) = store.list_incidents()
    assert [h[0] for h in incident.hosts] == ["agent-1", "agent-2", "agent-3", "agent-4"]
    assert incident.summary.endswith("4 hosts")
    (fleet,) = [t for t in store.list_tickets() if t.kind == "fleet"]
    assert fleet.occurrences == 4
