"""New tickets without a reload: the server-sent event stream at /events.

End to end on a collector of this module's own (the shared fleet must keep its 40
hosts): a viewer's stream is open while a small simulation makes a laptop blue-screen,
and the ticket it opens arrives as an `event: ticket`; a stream that says where it
stopped (`Last-Event-ID`, or `?after=` on a first connect) gets what it missed. Then
collector.web.live.Live itself on a real SQLite store: a stalled stream is dropped at
QUEUE_MAX instead of holding the collector's memory.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from agent.config import CollectorSection
from collector.sim.run import simulate
from collector.sim.scenario import load_scenario
from collector.store import IncomingBatch, SqlStore, TicketDraft, open_store
from collector.store.model import RecordKind, StoredRecord
from collector.tickets.policy import TicketPolicy
from collector.web.live import CATCH_UP_MAX, QUEUE_MAX, Live
from tests.collector.web.conftest import PASSWORD, USERS, LiveConsole, in_thread, login
from tests.helpers.procs import ROOT, start_collector

pytestmark = pytest.mark.timeout(180)

CAPTURE = ROOT / "tests" / "fixtures" / "hosts" / "sim-windows11-healthy"
# Laptops that blue-screen a few minutes in: one ticket each, a second or two after the
# simulation starts (a simulated quarter hour at 60 s).
SCENARIO = """\
name: {name}
duration: 15m
interval: 60s
fleet:
  - profile: nb
    count: {count}
    capture: {capture}
    hostname: "{prefix}-{{n:02}}"
faults:
  - kind: bugcheck
    hosts: nb
    at: [5m]
    stop_code: "0x9f"
"""
DEADLINE_S = 60.0


@dataclass
class OwnConsole:
    live: LiveConsole

    def simulate(self, folder: Path, prefix: str, count: int = 1) -> None:
        """A few laptops of their own (a new hostname prefix each call), each opening one
        ticket; returns once the collector has every record."""
        folder.mkdir(parents=True)
        path = folder / "scenario.yaml"
        path.write_text(SCENARIO.format(name=prefix.lower(), count=count, capture=CAPTURE,
                                        prefix=prefix))  # fmt: skip
        cfg = CollectorSection(address=self.live.proc.address, insecure=True)
        asyncio.run(simulate(load_scenario(path), cfg, folder / "spools"))

    def client(self) -> httpx.Client:
        client, _ = login(self.live.url, USERS["viewer"], PASSWORD)
        return client


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnConsole]:
    folder = tmp_path_factory.mktemp("live")
    (folder / "base.yaml").write_text(SCENARIO.format(name="base", count=1, capture=CAPTURE,
                                                      prefix="NB-BASE"))  # fmt: skip
    config = load_scenario(folder / "base.yaml").collector_toml()
    db = folder / "collector.db"
    proc = start_collector(db, folder / "collector.log", config=config, console=True)
    try:
        live = LiveConsole(proc, db, folder)
        done = live.cli("users", "add", USERS["viewer"], "--role", "viewer", "--password-stdin",
                        stdin=PASSWORD + "\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield OwnConsole(live)
    finally:
        proc.stop()


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    data: dict[str, Any]


def events(response: httpx.Response) -> Iterator[Event | str]:
    """The stream's events as they come; a comment or a retry line as its text."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":") or line.startswith("retry:"):
            yield line
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield Event(fields.get("id", ""), fields.get("event", "message"),
                        json.loads(fields.get("data", "null")))  # fmt: skip
            fields = {}


TIMEOUT = httpx.Timeout(10, read=DEADLINE_S)


def test_a_new_ticket_arrives_on_an_open_stream(own: OwnConsole, tmp_path: Path) -> None:
    with closing(own.client()) as client, client.stream("GET", "/events", timeout=TIMEOUT) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        feed = events(r)
        assert next(feed) == "retry: 3000"  # connected: the stream is registered
        join = in_thread(lambda: own.simulate(tmp_path / "sim", "NB-LIVE"))
        try:
            started = time.monotonic()
            got: Event | None = None
            for item in feed:
                assert time.monotonic() - started < DEADLINE_S, "no ticket event in time"
                if isinstance(item, Event) and "NB-LIVE-01" in item.data.get("summary", ""):
                    got = item
                    break
        finally:
            join()
    assert got is not None and got.event == "ticket"
    assert got.data["summary"] == "[Stability] Blue screen 0x0000009f on NB-LIVE-01"
    assert got.id == str(got.data["id"])
    with closing(own.client()) as client:
        stored = client.get(f"/api/v1/tickets/{got.data['id']}").json()
    assert (stored["summary"], stored["state"], stored["hostname"]) == (
        got.data["summary"], got.data["state"], "NB-LIVE-01")  # fmt: skip
    assert got.data["priority"] == stored["priority"] == "P2"


def first_tickets(client: httpx.Client, n: int, **kw: Any) -> list[Event]:
    """The first n ticket events of a new stream (its catch-up comes before anything)."""
    out: list[Event] = []
    with client.stream("GET", "/events", timeout=TIMEOUT, **kw) as r:
        assert r.status_code == 200
        for item in events(r):
            if isinstance(item, Event):
                out.append(item)
                if len(out) == n:
                    break
    return out


def test_a_stream_catches_up_from_where_it_stopped(own: OwnConsole, tmp_path: Path) -> None:
    with closing(own.client()) as client:
        before = client.get("/api/v1/tickets?limit=1").json()["items"]
        last = before[0]["id"] if before else 0
        own.simulate(tmp_path / "sim", "NB-MISSED", count=3)
        missed = [t["id"] for t in client.get(f"/api/v1/tickets?after_id={last}").json()["items"]]
        assert len(missed) == 3
        missed.reverse()  # oldest first, as the stream sends them

        got = first_tickets(client, 3, params={"after": last})
        assert [int(e.id) for e in got] == missed and {e.event for e in got} == {"ticket"}
        assert all(e.data["hostname"].startswith("NB-MISSED-") for e in got)
        # A reconnecting browser says the last id it saw: it gets only what came after it,
        # and that wins over the page's ?after= of its first connect.
        got = first_tickets(client, 2, headers={"Last-Event-ID": str(missed[0])})
        assert [int(e.id) for e in got] == missed[1:]
        got = first_tickets(client, 1, params={"after": last},
                            headers={"Last-Event-ID": str(missed[1])})  # fmt: skip
        assert [int(e.id) for e in got] == missed[2:]


def test_a_stranger_gets_no_stream(own: OwnConsole, live_console: LiveConsole) -> None:
    for url in (own.live.url, live_console.url):
        with httpx.Client(base_url=url, timeout=30) as anon:
            r = anon.get("/events")
        assert r.status_code == 401
        assert "text/event-stream" not in r.headers["content-type"]
    with closing(own.client()) as client:
        assert client.get("/events?after=yesterday").status_code == 422


# -- Live, on a real store -----------------------------------------------------------------


def make_store(tmp_path: Path) -> SqlStore:
    # No storm breaker: these tests open more tickets at once than a storm allows.
    return open_store("sqlite:///" + str(tmp_path / "c.db"),
                      policy=TicketPolicy(storm_max_new=1_000_000))  # fmt: skip


class Tickets:
    """Opens tickets in the store the way ingest does: a batch whose records carry
    findings, one new problem (dedup key) per ticket."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.seq = 0

    def open(self, n: int) -> None:
        first = self.seq + 1
        self.seq += n
        records = tuple(StoredRecord(s, RecordKind.EVENT, 1_000 + s, b"rec %d" % s)
                        for s in range(first, self.seq + 1))  # fmt: skip
        drafts = tuple((s, TicketDraft(
            dedup_key=f"live/{s}", agent_id="live-host", hostname="live-host",
            rule_id="live.test", rule_version=1, component=f"c{s}", severity="medium",
            priority="P3", tier="L1", category="test", summary=f"ticket {s}",
            description="", evidence={}, observed_at_ms=1_000 + s,
        )) for s in range(first, self.seq + 1))  # fmt: skip
        self.store.save_batches([IncomingBatch("live-host", "e1", first, self.seq, records,
                                               2_000, findings=drafts)])  # fmt: skip


async def close(stream: AsyncIterator[str]) -> None:
    # Live.stream is an async generator (annotated as the iterator it is to its callers).
    await cast(AsyncGenerator[str, None], stream).aclose()


async def take(stream: Any, n: int, within: float = 20) -> list[int]:
    """The ids of the next n ticket events of a stream."""
    out: list[int] = []
    try:
        async with asyncio.timeout(within):
            while len(out) < n:
                text = await anext(stream)
                if text.startswith("id: "):
                    out.append(int(text.split("\n", 1)[0][4:]))
    except TimeoutError:
        raise AssertionError(f"{len(out)} of {n} ticket events in {within} s: {out}") from None
    return out


def test_a_stalled_stream_is_dropped_at_queue_max(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    tickets = Tickets(store)

    async def run() -> None:
        live = Live(store, poll_s=0.01)
        await live.start()
        slow, fast = live.stream(None), live.stream(None)
        try:
            assert await anext(slow) == "retry: 3000\n\n"
            # Only the slow stream's queue is registered yet: its bound is what is checked.
            [slow_queue] = live._streams
            assert await anext(fast) == "retry: 3000\n\n"
            assert live.streams == 2
            chunk = CATCH_UP_MAX // 2  # below what one poll hands out
            received: list[int] = []
            while len(received) <= QUEUE_MAX + chunk:
                await asyncio.to_thread(tickets.open, chunk)
                received += await take(fast, chunk)
                assert slow_queue.qsize() <= QUEUE_MAX  # never more than its bound
            assert received == list(range(1, len(received) + 1))  # the live one gets all
            assert live.streams == 1  # the stalled one is no longer fed
            assert slow_queue.qsize() == QUEUE_MAX
            await asyncio.to_thread(tickets.open, chunk)
            assert await take(fast, chunk) == list(range(len(received) + 1,
                                                         len(received) + chunk + 1))  # fmt: skip
            assert slow_queue.qsize() == QUEUE_MAX  # dropped: nothing more queued for it
            # When it reads again it ends, and the browser reconnects with its last id.
            with pytest.raises(StopAsyncIteration):
                await anext(slow)
        finally:
            await close(slow)
            await close(fast)
            await live.stop()
        assert live.streams == 0

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_a_burst_larger_than_one_poll_reaches_the_stream_whole(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    tickets = Tickets(store)

    async def run() -> None:
        live = Live(store, poll_s=0.05)
        await live.start()
        stream = live.stream(None)
        try:
            assert await anext(stream) == "retry: 3000\n\n"
            burst = CATCH_UP_MAX * 2 + 10
            await asyncio.to_thread(tickets.open, burst)
            assert await take(stream, burst, within=5) == list(range(1, burst + 1))
        finally:
            await close(stream)
            await live.stop()

    try:
        asyncio.run(run())
    finally:
        store.close()


def test_tickets_opened_while_nobody_listened_are_not_news(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    tickets = Tickets(store)

    async def run() -> None:
        live = Live(store, poll_s=0.01)
        await live.start()
        tickets.open(5)  # nobody is listening
        await asyncio.sleep(0.2)  # polls go by
        stream = live.stream(None)  # a page that shows no tickets connects: no catch-up
        try:
            assert await anext(stream) == "retry: 3000\n\n"
            await asyncio.to_thread(tickets.open, 1)
            assert await take(stream, 1, within=5) == [6]  # only the one opened since
        finally:
            await close(stream)
            await live.stop()

    try:
        asyncio.run(run())
    finally:
        store.close()
