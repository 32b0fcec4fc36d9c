"""The whole ticket lifecycle delivered to a REAL Roundup tracker through the outbox:
create → repeat (no second issue) → evidence attached → resolve → recur within the
window (reopen) → recur after it (a new issue, linked) → a network failure during
create and a retry (no duplicate); a helpdesk outage (nothing lost); a storm of 500 hosts
(one issue). The collector side is the real store (SQLite), lifecycle and Outbox; time
is a fake clock so hours pass in a test."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.store import Resolution, SqlStore, TicketState, open_store
from collector.tickets.outbox import Outbox
from collector.tickets.policy import MINUTE, TicketPolicy
from collector.tickets.sinks.roundup import RoundupSink
from tests.collector.tickets.test_lifecycle import finding
from tests.collector.tickets.test_sink_roundup import Wrapped
from tests.helpers.roundup_tracker import RoundupServer

HOUR = 60 * MINUTE
DAY = 24 * HOUR
_seq = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


class World:
    def __init__(self, tmp: Path, server: RoundupServer, client: httpx.Client | None = None):
        self.clock = Clock()
        policy = TicketPolicy(group_wait_ms=30_000, note_interval_ms=30 * MINUTE,
                              reopen_window_ms=7 * DAY, storm_max_new=50)  # fmt: skip
        self.store: SqlStore = open_store(f"sqlite:///{tmp / 'c.db'}", clock=self.clock,
                                          policy=policy)  # fmt: skip
        self.server = server
        self.sink = RoundupSink(base_url=server.base_url, user=server.user,
                                password=server.password, client=client)  # fmt: skip
        self.outbox = Outbox(self.store, [self.sink], self.clock, retry_base_ms=5_000,
                             retry_max_ms=60_000, rng=random.Random(7))  # fmt: skip

    def fire(self, d: Any) -> tuple[int, ...]:
        from tests.collector.store.test_store_contract import batch

        seq = next(_seq)
        [r] = self.store.save_batches([batch(seq, seq, findings=((seq, d),))])
        return r.tickets_opened + r.tickets_updated

    def deliver(self, after_ms: int = 0) -> int:
        self.clock.now += after_ms
        return self.outbox.run_once()

    def issues(self, key: str) -> list[dict[str, Any]]:
        return self.server.issues(correlation_id=key)

    def close(self) -> None:
        self.sink.close()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path, roundup: RoundupServer) -> Iterator[World]:
    w = World(tmp_path, roundup)
    yield w
    w.close()


def test_the_full_lifecycle_on_a_real_tracker(world: World, roundup: RoundupServer) -> None:
    d = finding()
    key = d.dedup_key
    (tid,) = world.fire(d)
    assert world.deliver() == 0  # group_wait: a burst is seen whole before delivery
    assert world.issues(key) == []
    assert world.deliver(31_000) == 4  # create + 3 evidence files
    [issue] = world.issues(key)
    assert issue["title"] == d.summary and issue["priority"] == "P1"
    assert (issue["impact"], issue["urgency"], issue["ci"]) == ("1", "1", d.hostname)
    assert issue["assignment_group"] == "Desktop Support"
    ref = world.store.ref_for(tid, "roundup")
    assert ref is not None and ref.external_id == issue["id"]
    # The evidence is attached, byte for byte, under the hashes the report names.
    report = roundup.message(issue["messages"][0])["content"]
    files = {f.name: f for f in world.store.ticket_files(tid)}
    got = {roundup.file(fid)[0]: roundup.file(fid)[2] for fid in issue["files"]}
    assert set(got) == set(files) == {"smart-sda.txt", "events.log", "evidence.json"}
    for name, content in got.items():
        assert hashlib.sha256(content).hexdigest() == files[name].sha256
        assert files[name].sha256 in report

    # Repeats: counted; one rate-limited note after the interval; never a second issue.
    for _ in range(5):
        world.clock.now += 10 * MINUTE
        world.fire(d)
    world.deliver()
    [issue] = world.issues(key)
    assert len(issue["messages"]) == 1 + 1  # the report + one "still firing" note
    assert "Still firing" in roundup.message(issue["messages"][1])["content"]

    # Resolved by a person, then it comes back within the window: the same issue reopens.
    world.store.resolve_ticket(tid, "l2-alice", text="replaced the SATA cable")
    world.deliver()
    assert world.server.issue(issue["id"])["status"] == "resolved"
    world.clock.now += 2 * DAY
    assert world.fire(d) == (tid,)
    world.deliver()
    [issue] = world.issues(key)
    assert (
        issue["status"] == "open"
        and "Recurred" in roundup.message(issue["messages"][-1])["content"]
    )

    # Resolved again; a recurrence after the window opens a new issue linked to the old one.
    world.store.resolve_ticket(tid, "l2-alice")
    world.deliver()
    world.clock.now += 10 * DAY
    (second,) = world.fire(d)
    assert second != tid
    world.deliver(31_000)
    issues = world.issues(key)
    assert [i["status"] for i in issues] == ["resolved", "new"]
    assert issues[1]["related"] == [issue["id"]]


def test_a_network_failure_during_create_then_a_retry_makes_no_duplicate(
    tmp_path: Path, roundup: RoundupServer
) -> None:
    lost = {"done": False}

    def drop_answer(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        # The issue is created in Roundup; the answer never reaches the collector.
        if request.method == "POST" and "/@poe/" in request.url.path and not lost["done"]:
            lost["done"] = True
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    with httpx.Client(transport=Wrapped(after=drop_answer), timeout=10.0) as client:
        w = World(tmp_path, roundup, client)
        try:
            d = finding("retry-host")
            (tid,) = w.fire(d)
            w.deliver(31_000)
            assert lost["done"]
            [status] = [s for s in w.store.deliveries(ticket_id=tid) if s.op == "create"]
            assert (status.state, status.attempts) == ("retrying", 1)
            assert "answer lost" in status.last_error
            w.deliver(120_000)  # the retry
            assert len(w.issues(d.dedup_key)) == 1
            assert {s.state for s in w.store.deliveries(ticket_id=tid)} == {"done"}
        finally:
            w.close()


def test_a_helpdesk_outage_loses_nothing_and_delivers_in_order_when_it_returns(
    world: World, roundup: RoundupServer
) -> None:
    d = finding("outage-host")
    (tid,) = world.fire(d)
    world.deliver(31_000)
    roundup.stop()
    # While the helpdesk is down: a second host's ticket, a comment, a resolve.
    d2 = finding("outage-host-2")
    (tid2,) = world.fire(d2)
    world.store.comment(tid, "called the user, backup running", "l1-bob")
    world.store.resolve_ticket(tid, "l2-alice")
    for _ in range(6):  # an hour of retries against a dead tracker
        world.deliver(10 * MINUTE)
    pending = [s for s in world.store.deliveries(limit=1000) if s.state != "done"]
    assert pending and all(s.state in ("retrying", "waiting") for s in pending)
    assert any("ConnectError" in s.last_error for s in pending)
    roundup.start()
    for _ in range(4):
        world.deliver(2 * MINUTE)
    assert {s.state for s in world.store.deliveries(limit=1000)} == {"done"}
    [one] = world.issues(d.dedup_key)
    assert one["status"] == "resolved"
    contents = [roundup.message(m)["content"] for m in one["messages"]]
    assert "called the user" in contents[-2] and "Resolved by l2-alice" in contents[-1]
    assert len(world.issues(d2.dedup_key)) == 1


def test_a_storm_of_500_hosts_gives_one_issue_not_500(world: World, roundup: RoundupServer):
    # 500 hosts fire the same rule within a minute (a bad update, a site outage).
    drafts = [finding(f"storm-{i:03d}", rule="drivers.display_tdr") for i in range(500)]
    for start in range(0, 500, 50):
        batch_seq = [next(_seq) for _ in range(50)]
        from tests.collector.store.test_store_contract import batch

        world.store.save_batches(
            [batch(s, s, agent=f"a{s}", findings=((s, d),))
             for s, d in zip(batch_seq, drafts[start:start + 50], strict=True)]
        )  # fmt: skip
    world.deliver(31_000)
    world.deliver(60_000)
    everything = roundup.issues()
    assert len(everything) == 1, [i["title"] for i in everything]
    assert everything[0]["title"].startswith("[Storm]")
    [storm] = world.store.list_tickets(kind="storm")
    assert storm.occurrences == 500
    held = world.store.list_tickets(state=TicketState.HELD, limit=1000)
    assert len(held) == 500 and {t.storm_id for t in held} == {storm.id}
    # Every held ticket is kept, whole, for when a person releases them.
    assert all(world.store.ticket_files(t.id) for t in held[:5])


def test_wont_fix_in_the_collector_is_never_reopened_in_the_helpdesk(world: World) -> None:
    d = replace(finding("wf-host"), auto_resolve=False)
    (tid,) = world.fire(d)
    world.deliver(31_000)
    world.store.resolve_ticket(tid, "l2-alice", Resolution.WONT_FIX, "end of life, replacing")
    world.deliver()
    world.clock.now += DAY
    world.fire(d)
    world.deliver(31_000)
    [issue] = world.issues(d.dedup_key)
    assert issue["status"] == "resolved"
