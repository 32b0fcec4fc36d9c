"""Group commit: many batches, one transaction, then every waiting stream gets its ack.

Groups form on their own: while one commit runs in the store's thread,
batches from all streams queue up, and the next commit takes them all (up
to max_batches). Under light load a batch is committed at once; under
heavy load one fsync covers hundreds of batches. Nothing is acked before
its transaction commits.

Failures stay where they belong. A group the database refuses is retried batch
by batch, so one bad batch fails alone. And a batch whose predecessor on the
same stream was not stored is never stored either: the stream's position would
pass the missing records, and the agent would delete them as acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from collector.store import BatchResult, IncomingBatch, SqlStore

log = logging.getLogger("rdiag.collector.ingest")


class StoreUnavailable(Exception):
    """The commit failed; the batch was not stored and must be resent."""


@dataclass
class CommitStats:
    commits: int = 0
    batches: int = 0
    records: int = 0
    failures: int = 0


_EARLIER_FAILED = "an earlier batch of this stream was not stored"


@dataclass(frozen=True, slots=True)
class _Item:
    batch: IncomingBatch
    fut: asyncio.Future[BatchResult]
    after: asyncio.Future[BatchResult] | None


def _failed(fut: asyncio.Future[BatchResult]) -> bool:
    return fut.done() and (fut.cancelled() or fut.exception() is not None)


class GroupCommitter:
    def __init__(self, store: SqlStore, max_batches: int = 256) -> None:
        self._store = store
        self._max = max_batches
        # Bounded: when the store falls behind, stream handlers wait here and stop
        # reading, so gRPC flow control pushes back on the agents.
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_batches * 4)
        self._task: asyncio.Task[None] | None = None
        self.stats = CommitStats()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(
        self, batch: IncomingBatch, after: asyncio.Future[BatchResult] | None = None
    ) -> asyncio.Future[BatchResult]:
        """Queue a batch; the returned future resolves once it is committed.

        `after` is the previous batch of the same stream. If that one was not stored, this
        one is not either: committing it would move the stream's position past the missing
        records, and the agent, told so in its next Welcome, would delete them unsent.
        """
        fut: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(batch, fut, after))
        return fut

    async def _run(self) -> None:
        while True:
            taken = [await self._queue.get()]
            while len(taken) < self._max and not self._queue.empty():
                taken.append(self._queue.get_nowait())
            group = self._unblocked(taken)
            error = await self._commit(group) if group else None
            if error is not None and len(group) > 1:
                # Isolate: one batch the database refuses must not keep every other
                # agent's batches in its group from being stored. Retry one by one.
                log.warning("group commit failed; retrying batch by batch",
                            extra={"batches": len(group), "error": str(error)})  # fmt: skip
                for item in group:
                    if self._unblocked([item]):
                        self._fail([item], await self._commit([item]))
            else:
                self._fail(group, error)
            for _ in taken:
                self._queue.task_done()

    def _unblocked(self, items: Sequence[_Item]) -> list[_Item]:
        """The items whose stream predecessor was not lost; the others fail at once.
        In queue order, so a chain of failures fails link by link."""
        kept: list[_Item] = []
        for item in items:
            if item.after is not None and _failed(item.after):
                item.fut.set_exception(StoreUnavailable(_EARLIER_FAILED))
            else:
                kept.append(item)
        return kept

    def _fail(self, items: Sequence[_Item], error: Exception | None) -> None:
        if error is None:
            return
        self.stats.failures += 1
        log.error("commit failed", extra={"batches": len(items), "error": str(error)})
        for item in items:
            if not item.fut.done():
                item.fut.set_exception(StoreUnavailable(str(error)))

    async def _commit(self, group: Sequence[_Item]) -> Exception | None:
        """Store the group in one transaction and resolve its futures; the error, if any."""
        batches = [item.batch for item in group]
        try:
            results = await asyncio.to_thread(self._store.save_batches, batches)
        except Exception as exc:  # the store's error must reach every waiting stream
            return exc
        self.stats.commits += 1
        self.stats.batches += len(batches)
        self.stats.records += sum(len(b.records) for b in batches)
        for item, result in zip(group, results, strict=True):
            if not item.fut.done():
                item.fut.set_result(result)
        return None

    async def close(self) -> None:
        """Commit what is queued (and what is being committed), then stop."""
        if self._task is not None and not self._task.done():
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
