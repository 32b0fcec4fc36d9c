"""The agent's runtime: one asyncio loop with a collection task and the uplink.

Probes run in worker threads under timeouts (agent/runner.py); spool writes
go through asyncio.to_thread, so the loop never waits on the disk or the
network. SIGTERM sets the stop event: the collection in progress finishes
its spool write, the uplink gives in-flight batches a moment to be acked,
and the process exits 0 with everything unacked still in the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

import agent
from agent import eventlog
from agent.common.codec import Codec
from agent.config import KNOWN_PROBES, AgentConfig
from agent.derive import Deriver
from agent.follow import CURSOR_NAME, Follower, LogReader, kernel_log_reader
from agent.parsers import ParseError, host_facts_json
from agent.probes import PROBES
from agent.probes.base import ProbeContext
from agent.records import AgentStats, Event, HostInventory, Priority, ProbeError, Snapshot
from agent.redact import Redactor
from agent.runner import collect
from agent.sources import CachingSource, LiveSource, Source, Unavailable
from agent.specs import BOOT_ID, HOST_FACTS
from agent.uplink.client import PROTOCOL_VERSION, Uplink
from agent.uplink.convert import encode_body, hello_message
from agent.uplink.spool import Spool
from rdiag_proto.v1 import collector_pb2 as cpb

log = logging.getLogger("rdiag.agent")


def _name_of(address: str) -> tuple[str, ...]:
    """The collector's host name, when it is a name: a name that must resolve."""
    host = address.rpartition(":")[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return (host,) if host and host != "localhost" else ()
    return ()


def probe_context(cfg: AgentConfig) -> ProbeContext:
    return ProbeContext(
        dns_names=cfg.collect.dns_names or _name_of(cfg.collector.address),
        dns_timeout=float(cfg.collect.dns_timeout),
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def _read_id(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    return ""


def resolve_agent_id(cfg: AgentConfig) -> str:
    """The configured id, or the one kept in the state dir (made on first start).

    Two first starts at once (a service manager restarting while an operator runs
    `rdiag-agent run` by hand) must agree on one id: each writes its candidate to a
    file of its own, then hard-links it into place, which fails if the other won;
    the loser adopts the winner's id.
    """
    if cfg.identity.agent_id:
        return cfg.identity.agent_id
    path = cfg.identity.state_dir / "agent_id"
    existing = _read_id(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    new = str(uuid.uuid4())
    tmp = path.with_name(f".{path.name}.{new}.tmp")
    try:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(new + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, complete (tmp is on disk), and never overwrites
            return new
        except FileExistsError:
            winner = _read_id(path)
            if winner:
                return winner
            # An empty leftover (an operator's `truncate`, an older version's crash).
        except OSError:
            pass  # no hard links on this filesystem (some FAT or network mounts)
        os.replace(tmp, path)
        return _read_id(path) or new
    finally:
        tmp.unlink(missing_ok=True)


class AgentRuntime:
    def __init__(
        self,
        cfg: AgentConfig,
        *,
        agent_id: str,
        source: Source,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.cfg = cfg
        self.agent_id = agent_id
        self.live = isinstance(source, LiveSource)
        # On a live host, slow-changing facts are reused for their spec's max_age.
        self.source: Source = CachingSource(source) if self.live else source
        self.clock_ms = clock_ms
        self.interval = float(cfg.collect.interval)
        self.enabled = tuple(cfg.collect.probes)
        self.inventory: HostInventory | None = None
        self.spool = Spool(
            cfg.spool_path,
            int(cfg.spool.max_bytes),
            max_record_bytes=min(
                int(cfg.spool.max_bytes) // 4, int(cfg.collector.max_batch_bytes) // 2
            ),
        )
        self.codec = Codec()
        self.stop = asyncio.Event()
        self._reschedule = asyncio.Event()
        self.uplink = Uplink(
            config=cfg.collector,
            spool=self.spool,
            codec=self.codec,
            hello=self._hello,
            on_config=self._apply_config,
            stop=self.stop,
        )
        self.cycles = 0
        self.deriver = Deriver()
        self.redactor = Redactor(cfg.redact)
        self.probe_context = probe_context(cfg)
        self.follower: Follower | None = None
        self.follower_unavailable = ""

    def _hello(self) -> cpb.AgentMessage:
        return hello_message(
            agent_id=self.agent_id,
            epoch=self.spool.epoch,
            inventory=self.inventory,
            agent_version=agent.__version__,
            capabilities=KNOWN_PROBES,
            dictionaries=self.codec.dictionaries.ids,
            protocol_version=PROTOCOL_VERSION,
        )

    def _apply_config(self, update: cpb.ConfigUpdate) -> None:
        if update.interval_seconds and update.interval_seconds != self.interval:
            log.info("interval changed by collector", extra={"seconds": update.interval_seconds})
            self.interval = float(update.interval_seconds)
            self._reschedule.set()
        probes = tuple(p for p in update.enabled_probes if p in KNOWN_PROBES)
        if update.enabled_probes and probes != self.enabled:
            log.info("probes changed by collector", extra={"probes": ",".join(probes)})
            self.enabled = probes

    @property
    def probe_timeout(self) -> float:
        """The configured timeout, at most twice the interval (which the collector may shorten)."""
        return min(float(self.cfg.collect.probe_timeout), 2 * self.interval)

    async def collect_once(self) -> Snapshot:
        """Run the enabled probes and spool the snapshot (plus the agent's own stats).

        Every record passes the derive stage (rates over recent samples) and then the
        redaction stage before it is encoded: nothing unredacted reaches the spool.
        """
        probes = [p for p in PROBES if p.name in self.enabled]
        collected = await collect(
            self.source,
            probes,
            timeout_s=self.probe_timeout,
            clock_ms=self.clock_ms,
            agent_version=agent.__version__,
            context=self.probe_context,
        )
        snap = self.deriver.apply(collected.snapshot)
        if self.follower is not None and self.follower.error:
            error = ProbeError("kernel_log", "error", self.follower.error)
            snap = dataclasses.replace(snap, errors=(*snap.errors, error))
        elif self.follower_unavailable:
            error = ProbeError("kernel_log", "unavailable", self.follower_unavailable)
            snap = dataclasses.replace(snap, errors=(*snap.errors, error))
        snap = self.redactor.record(snap)
        if snap.inventory is not None:
            self.inventory = snap.inventory
        loop = asyncio.get_running_loop()
        for probe, events in collected.events.items():
            await asyncio.to_thread(self._spool_events, probe, events, loop)
        await asyncio.to_thread(
            self.spool.append, Priority.NORMAL, "snapshot", encode_body(snap, Priority.NORMAL)
        )
        await self._spool_stats()
        self.cycles += 1
        self.uplink.wake.set()
        return snap

    async def _spool_stats(self) -> None:
        status = await asyncio.to_thread(self.spool.status)
        stats = AgentStats(self.clock_ms(), status.records, status.bytes, status.dropped)
        await asyncio.to_thread(
            self.spool.append,
            Priority.LOW,
            "stats",
            encode_body(stats, Priority.LOW),
            supersede=True,
        )

    async def submit_event(
        self, event: Event, priority: Priority = Priority.CRITICAL
    ) -> int | None:
        """Spool an event (redacted) and wake the uplink: critical events do not wait for
        the interval."""
        event = self.redactor.record(event)
        seq = await asyncio.to_thread(
            self.spool.append, priority, "event", encode_body(event, priority)
        )
        self.uplink.wake.set()
        return seq

    def _spool_events(
        self, probe: str, events: tuple[Event, ...], loop: asyncio.AbstractEventLoop
    ) -> None:
        """Spool the events a probe read that were not sent before (agent/eventlog.py)."""
        name = eventlog.cursor_name(probe)
        woke = False
        for event, cursor in eventlog.fresh(events, self.spool.cursor(name)):
            priority = event.priority
            body = encode_body(self.redactor.record(event), priority)
            self.spool.append(priority, "event", body, cursor=(name, cursor))
            woke = woke or priority is Priority.CRITICAL
        if woke:
            loop.call_soon_threadsafe(self.uplink.wake.set)

    def _open_kernel_log(self) -> LogReader | None:
        """The kernel-log reader for this host, or None with the reason kept (reported as
        a kernel_log ProbeError in every snapshot). Blocking (it may ask journalctl), so it
        runs in a thread."""
        if not self.cfg.collect.follow_kernel_log or self.source.os != "linux":
            return None
        try:
            boot_id = self.source.read(BOOT_ID).strip()
            if self.live:
                # Not host_facts: that call may wait for the one-time CPU inventory.
                boot_time_ms = int(psutil.boot_time() * 1000)
            else:
                boot_time_ms = (
                    host_facts_json.parse(self.source.read(HOST_FACTS)).boot_time_unix * 1000
                )
            return kernel_log_reader(
                self.source, self.spool.cursor(CURSOR_NAME), boot_id, boot_time_ms, live=self.live
            )
        except Unavailable as exc:
            self.follower_unavailable = str(exc)
        except ParseError as exc:
            self.follower_unavailable = f"cannot tell the boot: {exc}"
        return None

    def _reader_opener(self, first: LogReader) -> Callable[[str | None], LogReader] | None:
        if not self.live:
            return None
        boot_id = getattr(first, "boot_id", "") or self.source.read(BOOT_ID).strip()
        boot_ms = int(psutil.boot_time() * 1000)
        return lambda cursor: kernel_log_reader(self.source, cursor, boot_id, boot_ms, live=True)

    async def _start_follower(self) -> None:
        reader = await asyncio.to_thread(self._open_kernel_log)
        if reader is None:
            return
        loop = asyncio.get_running_loop()
        self.follower = Follower(
            reader,
            spool=self.spool,
            redactor=self.redactor,
            wake=lambda: _wake(loop, self.uplink.wake),
            reopen=self._reader_opener(reader),
        )
        if self.live:
            self.follower.start()
        else:
            # A capture's kernel log is fixed: replay it now, before the first snapshot,
            # so a simulated host's events are spooled (and delivered by --once) in order.
            await asyncio.to_thread(self._replay, self.follower, reader)

    @staticmethod
    def _replay(follower: Follower, reader: LogReader) -> None:
        follower.handle(reader.poll(0))
        follower.flush()

    async def _collect_loop(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                await self.collect_once()
            except Exception:  # a broken cycle must not end the agent; the next one may work
                log.exception("collection cycle failed")
            wait = max(1.0, self.interval - (time.monotonic() - started))
            self._reschedule.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await _first(self.stop, self._reschedule)

    async def run(self, *, once: bool = False, once_timeout: float = 60.0) -> bool:
        """Run until stop is set. With once=True: one cycle, then deliver and return.

        Returns True when everything spooled was acked (always True for the endless mode).
        """
        # Spool calls are serialized by the spool's lock anyway; one I/O thread instead of
        # asyncio's default pool (up to cpu_count + 4 threads, each with its own stack and
        # malloc arena) keeps the agent's footprint flat on many-core workstations.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rdiag-io")
        )
        uplink = asyncio.create_task(self.uplink.run(), name="uplink")
        try:
            await self._start_follower()
            if once:
                await self.collect_once()
                return await self._delivered(once_timeout)
            await self._collect_loop()
            return True
        finally:
            self.stop.set()
            self.uplink.wake.set()
            if self.follower is not None:
                await asyncio.to_thread(self.follower.stop)
                self.follower.flush()
            with contextlib.suppress(asyncio.CancelledError):
                await uplink
            self.spool.close()

    async def _delivered(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if (await asyncio.to_thread(self.spool.status)).records == 0:
                return True
            await asyncio.sleep(0.05)
        return False


def _wake(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set an asyncio event from a thread (the follower's)."""
    with contextlib.suppress(RuntimeError):  # the loop closed while the agent stops
        loop.call_soon_threadsafe(event.set)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
