"""A scripted collector: a real grpc.aio server on loopback that follows a script.

The "scripted flaky servicer" of principle 9, shipped with the seam it doubles. Each
Connect runs the next step of a script (answer normally, refuse with a status and
trailers, stay silent, hold acks) and records what the agent sent, so tests assert on
what really crossed the wire.

    server = Scripted(unavailable, then=normal)
    async with collector(server) as port: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from agent.common.codec import Codec
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc
from rdiag_proto.v1 import telemetry_pb2 as pb

DEADLINE = 30.0  # generous: the box is shared and slow; nothing here waits this long when it works


async def until(pred: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.01)


# --- the scripted collector --------------------------------------------------------------


Context = grpc.aio.ServicerContext[cpb.AgentMessage, cpb.CollectorMessage]


@dataclass
class Session:
    """What one Connect saw."""

    messages: list[cpb.AgentMessage] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    @property
    def batches(self) -> list[cpb.Batch]:
        return [m.batch for m in self.messages if m.WhichOneof("kind") == "batch"]


class Conn:
    """One stream as a step sees it: read the agent, write to it, end it with a status."""

    def __init__(self, server: Scripted, context: Context, session: Session):
        self.server, self.context, self.session = server, context, session
        self._queue: asyncio.Queue[cpb.AgentMessage | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_all())

    async def _read_all(self) -> None:
        try:
            while True:
                msg = await self.context.read()
                if not isinstance(msg, cpb.AgentMessage):  # grpc.aio.EOF
                    break
                self.session.messages.append(msg)
                await self._queue.put(msg)
        finally:
            await self._queue.put(None)

    async def read(self, timeout: float | None = None) -> cpb.AgentMessage | None:
        """The next message; None at end of stream (or after timeout)."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def write(self, msg: cpb.CollectorMessage) -> None:
        await self.context.write(msg)

    async def welcome(self, acked_seq: int | None = None, **kw: Any) -> cpb.AgentMessage:
        hello = await self.read()
        assert hello is not None and hello.WhichOneof("kind") == "hello", hello
        acked = self.server.acked_seq if acked_seq is None else acked_seq
        await self.write(cpb.CollectorMessage(welcome=cpb.Welcome(acked_seq=acked, **kw)))
        return hello

    def store(self, batch: cpb.Batch) -> None:
        """Decode the payload (as the collector would) and keep each record seq."""
        payload = self.server.codec.decompress(
            batch.payload, batch.codec, batch.dictionary_id, 1 << 24
        )
        records = list(pb.TelemetryBatch.FromString(payload).records)
        seqs = [r.seq for r in records]
        assert (seqs[0], seqs[-1], len(seqs)) == (batch.seq_first, batch.seq_last,
                                                  batch.record_count)  # fmt: skip
        self.server.stored += seqs
        self.server.records += records
        self.server.acked_seq = max(self.server.acked_seq, batch.seq_last)

    async def serve_normally(self) -> None:
        """Store and ack every batch until the agent goes away."""
        while (msg := await self.read()) is not None:
            assert msg.WhichOneof("kind") == "batch", msg
            self.store(msg.batch)
            await self.write(cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=self.server.acked_seq)))

    async def abort(self, code: grpc.StatusCode, details: str, **trailers: str) -> None:
        if trailers:
            self.context.set_trailing_metadata(tuple(trailers.items()))
        await self.context.abort(code, details)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


Step = Callable[[Conn], Awaitable[None]]


async def normal(conn: Conn) -> None:
    await conn.welcome()
    await conn.serve_normally()


class Scripted(cpb_grpc.CollectorServicer):
    def __init__(self, *steps: Step, then: Step = normal) -> None:
        self.steps = list(steps)
        self.then = then
        self.sessions: list[Session] = []
        self.stored: list[int] = []
        self.records: list[pb.Record] = []
        self.acked_seq = 0
        self.codec = Codec()

    async def Connect(  # type: ignore[override]  # reads and writes through the context
        self, request_iterator: AsyncIterator[cpb.AgentMessage], context: Context
    ) -> None:
        session = Session()
        self.sessions.append(session)
        step = self.steps.pop(0) if self.steps else self.then
        conn = Conn(self, context, session)
        try:
            await step(conn)
        finally:
            session.ended = time.monotonic()
            await conn.close()


@contextlib.asynccontextmanager
async def collector(servicer: Scripted, port: int = 0) -> AsyncIterator[int]:
    server = grpc.aio.server()
    cpb_grpc.add_CollectorServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(None)
