"""The agent's gRPC stream to the collector.

One session = one channel + one Connect stream: Hello → Welcome, then
batches read from the spool are sent (at most max_in_flight unacked) while
acks delete them from the spool. Any failure ends the session; run()
decides from the status code whether and how soon to reconnect, waits on
the stop event (so SIGTERM cuts the wait short) and starts over from the
oldest unacked record. The collector dedupes by seq, so resending is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import grpc.aio

from agent.common.codec import Codec
from agent.common.tls import read_pem
from agent.config import CollectorSection
from agent.uplink.backoff import Backoff
from agent.uplink.convert import batch_message, batch_payload
from agent.uplink.spool import Spool
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc

log = logging.getLogger("rdiag.agent.uplink")

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 3.0  # on stop: how long in-flight batches get to be acked
REJECTED_SEQ_KEY = "rdiag-rejected-seq"  # trailing metadata: "first-last"
TOO_LARGE_REASON = "too_large_for_collector"  # spool drop reason
RETRY_AFTER_KEY = "rdiag-retry-after-ms"  # trailing metadata from an overloaded collector

# What each status means for the next attempt. Everything is retried (an agent
# must keep trying for days), but not at the same pace: a collector that says
# the agent is not allowed in, or speaks another protocol, gets the slowest pace.
SLOW = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNIMPLEMENTED,
}


class SessionEnded(Exception):
    """The collector closed the stream or broke the protocol."""


@dataclass
class UplinkStats:
    sessions: int = 0
    batches_sent: int = 0
    records_acked: int = 0
    rejected: int = 0
    last_error: str = ""


def channel_for(cfg: CollectorSection) -> grpc.aio.Channel:
    options: list[tuple[str, int | str]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Notice a dead collector behind a NAT or a load balancer in minutes, not hours.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        # Our own backoff paces reconnects; keep the channel's short.
        ("grpc.initial_reconnect_backoff_ms", 1000),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.enable_retries", 0),
    ]
    if cfg.insecure:
        return grpc.aio.insecure_channel(cfg.address, options=options)
    where = "collector"
    creds = grpc.ssl_channel_credentials(
        root_certificates=read_pem(cfg.ca_cert, "collector.ca_cert", where)
        if cfg.ca_cert
        else None,
        private_key=read_pem(cfg.client_key, "collector.client_key", where)
        if cfg.client_key
        else None,
        certificate_chain=read_pem(cfg.client_cert, "collector.client_cert", where)
        if cfg.client_cert
        else None,
    )
    if cfg.server_name:
        options.append(("grpc.ssl_target_name_override", cfg.server_name))
    return grpc.aio.secure_channel(cfg.address, creds, options=options)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for event up to timeout; True if it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


class Uplink:
    def __init__(
        self,
        *,
        config: CollectorSection,
        spool: Spool,
        codec: Codec,
        hello: Callable[[], cpb.AgentMessage],
        on_config: Callable[[cpb.ConfigUpdate], None],
        stop: asyncio.Event,
        backoff: Backoff | None = None,
    ) -> None:
        self._cfg = config
        self._spool = spool
        self._codec = codec
        self._hello = hello
        self._on_config = on_config
        self._stop = stop
        self._backoff = backoff or Backoff(config.backoff_initial, config.backoff_max)
        self.wake = asyncio.Event()  # set when something new is spooled
        self.connected = asyncio.Event()
        self.stats = UplinkStats()

    async def run(self) -> None:
        """Keep a session up until stop is set; never raises for network trouble."""
        while not self._stop.is_set():
            floor = 0.0
            try:
                await self._session_until_stopped()
            except grpc.aio.AioRpcError as exc:
                floor = self._after_rpc_error(exc)
            except (SessionEnded, TimeoutError, ConnectionError) as exc:
                self.stats.last_error = str(exc) or type(exc).__name__
                log.warning("collector session ended", extra={"reason": self.stats.last_error})
            except Exception as exc:
                # Whatever grpc or the spool raised, the uplink must outlive it: an agent
                # whose uplink task died would spool forever and never say why.
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.error("collector session failed", exc_info=True)
            finally:
                self.connected.clear()
            if self._stop.is_set():
                break
            delay = self._backoff.next_delay(floor)
            log.info("reconnecting", extra={"in_seconds": round(delay, 2)})
            await _wait(self._stop, delay)

    async def _session_until_stopped(self) -> None:
        """One session, cut short by stop: at once before Welcome, after the drain once connected.

        The session itself notices stop only between batches; on its own it could sit in
        the Welcome read (connect_timeout) or a blocked write, holding up SIGTERM.
        """
        session = asyncio.create_task(self._session(), name="uplink-session")
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not session.done():
                grace = DRAIN_SECONDS + 1 if self.connected.is_set() else 0
                await asyncio.wait({session}, timeout=grace)
        finally:
            stopped.cancel()
            if not session.done():
                session.cancel()
                await asyncio.wait({session})  # let it close its call and channel
        if not session.cancelled():
            session.result()  # re-raise why it ended

    def _after_rpc_error(self, exc: grpc.aio.AioRpcError) -> float:
        """Log the failure, apply what the status asks for; return a minimum delay."""
        code, details = exc.code(), exc.details() or ""
        self.stats.last_error = f"{code.name}: {details}"
        trailers = dict(exc.trailing_metadata() or ())
        rejected = trailers.get(REJECTED_SEQ_KEY)
        if code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(rejected, str):
            first, _, last = rejected.partition("-")
            n = self._spool.reject(int(first), int(last))
            self.stats.rejected += n
            log.error(
                "collector rejected records; dropped them",
                extra={"seq": rejected, "records": n, "reason": details},
            )
            return 0.0
        if code in SLOW:
            log.error(
                "collector refused this agent", extra={"status": code.name, "reason": details}
            )
            return self._backoff.maximum
        retry_after = trailers.get(RETRY_AFTER_KEY)
        level = logging.INFO if code == grpc.StatusCode.UNAVAILABLE else logging.WARNING
        log.log(level, "collector unreachable", extra={"status": code.name, "reason": details})
        if isinstance(retry_after, str) and retry_after.isdigit():
            return int(retry_after) / 1000
        return 0.0

    async def _session(self) -> None:
        async with channel_for(self._cfg) as channel:
            stub = cpb_grpc.CollectorStub(channel)
            call = stub.Connect(wait_for_ready=False)
            try:
                await self._converse(call)
            finally:
                call.cancel()

    async def _converse(
        self, call: grpc.aio.StreamStreamCall[cpb.AgentMessage, cpb.CollectorMessage]
    ) -> None:
        async with asyncio.timeout(self._cfg.connect_timeout):
            await call.write(self._hello())
            first = await call.read()
        if not isinstance(first, cpb.CollectorMessage) or first.WhichOneof("kind") != "welcome":
            raise SessionEnded("collector did not answer Hello with Welcome")
        welcome = first.welcome
        self.stats.sessions += 1
        self._backoff.reset()
        await asyncio.to_thread(self._spool.ack, welcome.acked_seq)
        if welcome.HasField("config"):
            self._on_config(welcome.config)
        limit = int(self._cfg.max_batch_bytes)
        if welcome.max_batch_bytes:
            limit = min(limit, welcome.max_batch_bytes)
        dict_id = welcome.preferred_dictionary_id
        if dict_id not in self._codec.dictionaries.ids:
            dict_id = 0
        log.info(
            "connected to collector",
            extra={"address": self._cfg.address, "acked_seq": welcome.acked_seq},
        )
        self.connected.set()
        in_flight: deque[int] = deque()
        space = asyncio.Event()
        receiver = asyncio.create_task(self._receive(call, in_flight, space))
        try:
            await self._send(call, welcome.acked_seq, limit, dict_id, in_flight, space, receiver)
        finally:
            if not receiver.done():
                receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, SessionEnded, grpc.aio.AioRpcError):
                await receiver

    async def _send(
        self,
        call: grpc.aio.StreamStreamCall[cpb.AgentMessage, cpb.CollectorMessage],
        cursor: int,
        limit: int,
        dict_id: int,
        in_flight: deque[int],
        space: asyncio.Event,
        receiver: asyncio.Task[None],
    ) -> None:
        while not self._stop.is_set():
            if receiver.done():
                receiver.result()  # re-raise why the stream ended
                raise SessionEnded("collector closed the stream")
            if len(in_flight) >= self._cfg.max_in_flight:
                space.clear()
                await self._first_of(space, receiver)
                continue
            self.wake.clear()
            # Leave room for the envelope: the limit applies to the compressed payload,
            # and compression never makes a record larger than ~1% plus a frame header.
            rows = await asyncio.to_thread(self._spool.read, cursor, limit - 1024)
            if not rows:
                await self._first_of(self.wake, receiver)
                continue
            payload, codec, used_dict = self._codec.encode(batch_payload(rows), dict_id)
            if len(payload) > limit and len(rows) == 1:
                # One record over the collector's batch limit (it may be lower than ours):
                # it could never be delivered, and resending it would wedge the stream.
                seq = rows[0].seq
                await asyncio.to_thread(self._spool.reject, seq, seq, TOO_LARGE_REASON)
                log.error(
                    "record larger than the collector accepts; dropped it",
                    extra={"seq": seq, "bytes": len(payload), "limit": limit},
                )
                cursor = seq
                continue
            try:
                await call.write(batch_message(rows, payload, codec, used_dict))
            except asyncio.InvalidStateError:
                # grpc.aio raises this when the call already ended; its status (with
                # any rejected-seq trailer) is what the receiver read: surface that.
                await asyncio.wait({receiver}, timeout=5)
                if receiver.done():
                    receiver.result()
                raise SessionEnded("collector closed the stream") from None
            self.stats.batches_sent += 1
            cursor = rows[-1].seq
            in_flight.append(cursor)
        await self._drain(call, in_flight, receiver)

    async def _first_of(self, event: asyncio.Event, receiver: asyncio.Task[None]) -> None:
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())}
        try:
            await asyncio.wait({*waiters, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _drain(
        self,
        call: grpc.aio.StreamStreamCall[cpb.AgentMessage, cpb.CollectorMessage],
        in_flight: deque[int],
        receiver: asyncio.Task[None],
    ) -> None:
        """On shutdown: give in-flight batches a moment to be acked, then half-close."""
        quiet = (TimeoutError, grpc.aio.AioRpcError, SessionEnded, asyncio.InvalidStateError)
        with contextlib.suppress(*quiet):
            async with asyncio.timeout(DRAIN_SECONDS):
                while in_flight and not receiver.done():
                    await asyncio.sleep(0.05)
                await call.done_writing()

    async def _receive(
        self,
        call: grpc.aio.StreamStreamCall[cpb.AgentMessage, cpb.CollectorMessage],
        in_flight: deque[int],
        space: asyncio.Event,
    ) -> None:
        while True:
            msg = await call.read()
            if not isinstance(msg, cpb.CollectorMessage):  # grpc.aio.EOF
                raise SessionEnded("collector closed the stream")
            match msg.WhichOneof("kind"):
                case "ack":
                    up_to = msg.ack.up_to_seq
                    self.stats.records_acked += await asyncio.to_thread(self._spool.ack, up_to)
                    while in_flight and in_flight[0] <= up_to:
                        in_flight.popleft()
                    space.set()
                case "config":
                    self._on_config(msg.config)
                case "action":
                    log.warning(
                        "collector asked for an action this agent does not support yet",
                        extra={"action": msg.action.action},
                    )
                case other:
                    raise SessionEnded(f"unexpected message from collector: {other}")
