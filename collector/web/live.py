"""New tickets without a reload: one poller, any number of server-sent-event streams.

One task asks the store for tickets newer than the last it saw (an indexed read, once a
second) and hands them to every open stream; a browser that reconnects says where it
stopped (Last-Event-ID) and gets what it missed. The store is the source, not the ingest
path, so tickets opened by another collector on the same PostgreSQL appear too.
Each stream's queue is bounded: a stalled browser loses its live feed (it reconnects
and catches up from its last id), never the collector's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from collector.store import SqlStore, Ticket
from collector.store.model import TicketState
from collector.web.views import ticket_json

log = logging.getLogger("rdiag.console")

QUEUE_MAX = 100
CATCH_UP_MAX = 50
KEEPALIVE_S = 15.0


def event_text(t: Ticket) -> str:
    data = json.dumps({k: v for k, v in ticket_json(t).items() if v not in (None, "")})
    return f"id: {t.id}\nevent: ticket\ndata: {data}\n\n"


class Live:
    def __init__(self, store: SqlStore, poll_s: float = 1.0) -> None:
        self.store = store
        self.poll_s = poll_s
        self._streams: set[asyncio.Queue[str | None]] = set()
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def streams(self) -> int:
        return len(self._streams)

    async def start(self) -> None:
        self._last_id = await asyncio.to_thread(self.store.newest_ticket_id)
        self._task = asyncio.create_task(self._poll(), name="console-live")

    async def stop(self) -> None:
        self._stopping.set()
        for q in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _poll(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._stopping.wait()
            if self._stopping.is_set():
                continue
            try:
                if not self._streams:
                    # Nobody listens: what opens meanwhile is no news to a stream that
                    # connects later (a page that lists tickets asks for its catch-up by id).
                    self._last_id = await asyncio.to_thread(self.store.newest_ticket_id)
                    continue
                # Oldest first: a burst larger than one read goes out over the next polls
                # instead of its older tickets being skipped.
                new, _ = await asyncio.to_thread(
                    self.store.page_tickets, after_id=self._last_id, limit=CATCH_UP_MAX,
                    oldest_first=True,
                )  # fmt: skip
            except Exception as exc:  # the live feed must never take the console down
                log.error(
                    "live ticket feed failed", extra={"error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            for t in new:
                self._last_id = max(self._last_id, t.id)
                if t.state is TicketState.HELD:
                    continue
                text = event_text(t)
                for q in list(self._streams):
                    try:
                        q.put_nowait(text)
                    except asyncio.QueueFull:
                        self._streams.discard(q)  # it reconnects and catches up by id

    async def stream(self, last_event_id: int | None) -> AsyncIterator[str]:
        q: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_MAX)
        self._streams.add(q)
        try:
            yield "retry: 3000\n\n"
            if last_event_id is not None:
                missed, _ = await asyncio.to_thread(
                    self.store.page_tickets, after_id=last_event_id, limit=CATCH_UP_MAX
                )
                for t in reversed(missed):
                    yield event_text(t)
            while not self._stopping.is_set():
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        item = await q.get()
                except TimeoutError:
                    if q not in self._streams:
                        return  # dropped as too slow: the browser reconnects and catches up
                    yield ": keepalive\n\n"  # proxies close idle streams
                    continue
                if item is None or q not in self._streams:
                    return
                yield item
        finally:
            self._streams.discard(q)
