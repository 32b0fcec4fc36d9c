"""Group commit: many batches, one transaction, then every waiting stream gets its ack.

Groups form on their own: while one commit runs in the store's thread,
batches from all streams queue up, and the next commit takes them all (up
to max_batches). Under light load a batch is committed at once; under
heavy load one fsync covers hundreds of batches. Nothing is acked before
its transaction commits.
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


class GroupCommitter:
    def __init__(self, store: SqlStore, max_batches: int = 256) -> None:
        self._store = store
        self._max = max_batches
        # Bounded: when the store falls behind, stream handlers wait here and stop
        # reading, so gRPC flow control pushes back on the agents.
        self._queue: asyncio.Queue[tuple[IncomingBatch, asyncio.Future[BatchResult]]] = (
            asyncio.Queue(maxsize=max_batches * 4)
        )
        self._task: asyncio.Task[None] | None = None
        self.stats = CommitStats()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, batch: IncomingBatch) -> asyncio.Future[BatchResult]:
        """Queue a batch; the returned future resolves once it is committed."""
        fut: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((batch, fut))
        return fut

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max and not self._queue.empty():
                group.append(self._queue.get_nowait())
            await self._commit(group)
            for _ in group:
                self._queue.task_done()

    async def _commit(
        self, group: Sequence[tuple[IncomingBatch, asyncio.Future[BatchResult]]]
    ) -> None:
        batches = [b for b, _ in group]
        try:
            results = await asyncio.to_thread(self._store.save_batches, batches)
        except Exception as exc:  # the store's error must reach every waiting stream
            self.stats.failures += 1
            log.error("commit failed", extra={"batches": len(batches), "error": str(exc)})
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(StoreUnavailable(str(exc)))
            return
        self.stats.commits += 1
        self.stats.batches += len(batches)
        self.stats.records += sum(len(b.records) for b in batches)
        for (_, fut), result in zip(group, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def close(self) -> None:
        """Commit what is queued (and what is being committed), then stop."""
        if self._task is not None and not self._task.done():
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
