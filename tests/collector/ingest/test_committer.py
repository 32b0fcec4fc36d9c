"""GroupCommitter on a real SQLite store: groups, isolation of a bad batch, failure chains."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from collector.ingest.committer import GroupCommitter, StoreUnavailable
from collector.store import (
    BatchResult,
    IncomingBatch,
    RecordKind,
    SqlStore,
    StoredRecord,
    open_store,
)


class Flaky:
    """The real store, refusing any group that holds a batch of a poisoned agent, and able
    to hold the first save until released (so a queue builds up behind it)."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.poisoned: set[str] = set()
        self.fail_next = 0
        self.groups: list[list[str]] = []
        self.hold: threading.Event | None = None
        self.entered = threading.Event()

    def save_batches(self, batches: Sequence[IncomingBatch]) -> list[BatchResult]:
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(30)
            self.hold = None
        self.groups.append([f"{b.agent_id}:{b.seq_first}" for b in batches])
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("database is locked")
        if any(b.agent_id in self.poisoned for b in batches):
            raise RuntimeError("value out of range")
        return self.inner.save_batches(batches)


def batch(agent: str, first: int, last: int) -> IncomingBatch:
    records = tuple(StoredRecord(s, RecordKind.SNAPSHOT, s, b"x") for s in range(first, last + 1))
    return IncomingBatch(agent, "e1", first, last, records, received_at_ms=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path}/c.db")
    yield s
    s.close()


def run_with(store: SqlStore, scenario) -> None:
    async def main() -> None:
        flaky = Flaky(store)
        committer = GroupCommitter(flaky, max_batches=64)  # type: ignore[arg-type]
        committer.start()
        try:
            await scenario(committer, flaky)
        finally:
            if flaky.hold is not None:
                flaky.hold.set()
            await committer.close()

    asyncio.run(main())


def test_batches_queued_during_a_commit_share_the_next_one(store: SqlStore) -> None:
    async def scenario(c: GroupCommitter, flaky: Flaky) -> None:
        flaky.hold = threading.Event()
        first = await c.submit(batch("a", 1, 1))
        await asyncio.to_thread(flaky.entered.wait, 30)
        later = [await c.submit(batch(f"b{i}", 1, 1)) for i in range(10)]
        flaky.hold.set()
        results = await asyncio.gather(first, *later)
        assert [r.acked_seq for r in results] == [1] * 11
        assert [len(g) for g in flaky.groups] == [1, 10]  # one transaction for the ten

    run_with(store, scenario)


def test_one_bad_batch_fails_alone_and_the_rest_of_its_group_is_stored(store: SqlStore) -> None:
    async def scenario(c: GroupCommitter, flaky: Flaky) -> None:
        flaky.poisoned = {"bad"}
        flaky.hold = threading.Event()
        await c.submit(batch("a", 1, 1))
        await asyncio.to_thread(flaky.entered.wait, 30)
        good1 = await c.submit(batch("g1", 1, 2))
        bad = await c.submit(batch("bad", 1, 1))
        good2 = await c.submit(batch("g2", 1, 3))
        flaky.hold.set()
        assert (await good1).acked_seq == 2 and (await good2).acked_seq == 3
        with pytest.raises(StoreUnavailable, match="value out of range"):
            await bad
        assert store.telemetry_seqs("g1", "e1") == [1, 2]
        assert store.telemetry_seqs("g2", "e1") == [1, 2, 3]
        assert store.telemetry_seqs("bad", "e1") == []
        assert c.stats.failures == 1

    run_with(store, scenario)


def test_a_lost_batch_takes_its_later_stream_mates_with_it(store: SqlStore) -> None:
    """1-3 fails; 4-6 of the same stream, queued behind it, must not be stored (the stream
    position would pass 1-3); another agent's batch in the same queue is unaffected."""

    async def scenario(c: GroupCommitter, flaky: Flaky) -> None:
        flaky.hold = threading.Event()
        flaky.fail_next = 1
        first = await c.submit(batch("a", 1, 3))
        await asyncio.to_thread(flaky.entered.wait, 30)
        second = await c.submit(batch("a", 4, 6), after=first)
        third = await c.submit(batch("a", 7, 7), after=second)
        other = await c.submit(batch("b", 1, 1))
        flaky.hold.set()
        with pytest.raises(StoreUnavailable, match="database is locked"):
            await first
        for fut in (second, third):
            with pytest.raises(StoreUnavailable, match="earlier batch of this stream"):
                await fut
        assert (await other).acked_seq == 1
        assert store.stream_position("a", "e1") == 0
        assert store.telemetry_seqs("a", "e1") == []
        # The agent reconnects and resends from its acked position: all of it is stored.
        resent = await c.submit(batch("a", 1, 7))
        assert (await resent).acked_seq == 7

    run_with(store, scenario)


def test_close_commits_what_is_queued(store: SqlStore) -> None:
    async def scenario(c: GroupCommitter, flaky: Flaky) -> None:
        futs = [await c.submit(batch("a", i, i)) for i in range(1, 6)]
        await c.close()
        assert all(f.done() and f.result().acked_seq >= 1 for f in futs)
        assert store.telemetry_seqs("a", "e1") == [1, 2, 3, 4, 5]

    run_with(store, scenario)
