"""The composition root: build(config) wires store → rules → ingest → gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from agent.common.codec import Codec, Dictionaries
from agent.common.config import ConfigError
from agent.common.tls import read_pem
from collector.config import CollectorConfig

if TYPE_CHECKING:
    from collector.web.server import ConsoleServer
    from collector.web.views import RulesView
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.load import default_rules_dir, load_rules, rule_files
from collector.engine.subjects import site_table
from collector.ingest.committer import GroupCommitter
from collector.ingest.evaluator import Limits
from collector.ingest.service import AgentPolicy, CollectorService
from collector.ingest.workers import Evaluators, Setup, WorkerPool, rule_sources, worker_count
from collector.store import SqlStore, open_store
from collector.store.clock import ObservedClock, WallClock, wall_clock_ms
from collector.tickets.outbox import Outbox
from collector.tickets.sinks.factory import make_sinks
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc

log = logging.getLogger("rdiag.collector")

RETENTION_EVERY_S = 3600.0


@dataclass
class RuleStatus:
    """What the console and logs report about the rule pack."""

    folder: Path
    loaded: int = 0
    errors: tuple[str, ...] = ()  # of the last load attempt; the active set may be older
    reloads: int = 0
    failed_reloads: int = 0
    fingerprint: tuple[tuple[str, int, int], ...] = ()  # (file, mtime_ns, size) last loaded


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for f in rule_files(folder) if folder.is_dir() else []:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass
class Collector:
    config: CollectorConfig
    store: SqlStore
    engine: Engine
    rule_status: RuleStatus
    server: grpc.aio.Server | None = None
    committer: GroupCommitter | None = None
    service: CollectorService | None = None
    port: int = 0
    outbox: Outbox | None = None
    clock: WallClock = wall_clock_ms
    console: ConsoleServer | None = None
    pool: WorkerPool | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> int:
        cfg = self.config
        codec = Codec(Dictionaries.from_dir(cfg.server.dictionaries))
        evaluators: Evaluators | None = None
        workers = worker_count(cfg.ingest.workers)
        if workers:
            # Before gRPC starts its threads: the first workers are forked (workers.py).
            self.pool = WorkerPool(workers, self.engine, codec, self._worker_setup)
            await self.pool.start()
            evaluators = self.pool
        try:
            return await self._serve(codec, evaluators)
        except BaseException:
            if self.pool is not None:
                await self.pool.stop()
            raise

    async def _serve(self, codec: Codec, evaluators: Evaluators | None) -> int:
        cfg = self.config
        self.committer = GroupCommitter(self.store, cfg.ingest.commit_max_batches)
        self.service = CollectorService(
            store=self.store,
            committer=self.committer,
            codec=codec,
            engine=self.engine,
            max_events_per_host=cfg.rules.max_events_per_host,
            max_points_per_series=cfg.rules.max_points_per_series,
            policy=AgentPolicy(int(cfg.agents.interval), cfg.agents.probes),
            max_batch_bytes=int(cfg.server.max_batch_bytes),
            max_message_bytes=int(cfg.server.max_message_bytes),
            max_streams=cfg.ingest.max_streams,
            evaluators=evaluators,
        )
        limit = int(cfg.server.max_message_bytes)
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # Agents ping every 60 s to notice dead links; allow it.
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.so_reuseport", 0),
            ]
        )
        cpb_grpc.add_CollectorServicer_to_server(self.service, self.server)
        self.port = self._bind(self.server)
        await self.server.start()
        self.committer.start()
        self._tasks.append(asyncio.create_task(self._retention(), name="retention"))
        if self.outbox is not None:
            self._tasks.append(asyncio.create_task(self._deliver(self.outbox), name="outbox"))
        if cfg.rules.reload_interval:
            self._tasks.append(asyncio.create_task(self._watch_rules(), name="rules-reload"))
        log.info("listening", extra={"address": cfg.server.listen, "port": self.port,
                                     "store": cfg.store.url.split("://")[0]})  # fmt: skip
        if cfg.console.enabled:
            await self._start_console()
        return self.port

    def _worker_setup(self) -> Setup:
        cfg = self.config
        d = cfg.server.dictionaries
        return Setup(
            rule_sources=rule_sources(self.engine.rules),
            site_map=tuple((k, tuple(v)) for k, v in cfg.rules.site_map().items()),
            dictionaries=str(d) if d else None,
            limits=Limits(int(cfg.server.max_batch_bytes), self.store.policy),
            log_level=cfg.log.level,
            log_format=cfg.log.format,
        )

    async def _start_console(self) -> None:
        # Imported here: a collector run with the console off never loads the web stack.
        from collector.web.server import ConsoleServer
        from collector.web.views import Console

        c = self.config.console
        console = Console(
            store=self.store, clock=self.clock, rules=self.rules_view,
            stale_after_ms=int(c.stale_after * 1000), session_ttl_ms=int(c.session_ttl * 1000),
            secure_cookies=c.secure_cookies or c.tls_cert is not None,
            reload_rules=self.reload_rules,
        )  # fmt: skip
        self.console = ConsoleServer(console, c.listen, tls_cert=c.tls_cert, tls_key=c.tls_key)
        await self.console.start()

    def rules_view(self) -> RulesView:
        from collector.web.views import rules_view

        s = self.rule_status
        return rules_view(self.engine, str(s.folder), s.errors, s.reloads, s.failed_reloads)

    def _bind(self, server: grpc.aio.Server) -> int:
        s = self.config.server
        host, _, port = s.listen.rpartition(":")
        try:
            if s.insecure:
                bound = server.add_insecure_port(s.listen)
            else:
                if not (s.tls_cert and s.tls_key):
                    raise ConfigError(
                        "collector",
                        "server.tls_cert",
                        "TLS needs server.tls_cert and server.tls_key (or run with --insecure)",
                    )
                creds = grpc.ssl_server_credentials(
                    [(read_pem(s.tls_key, "server.tls_key", "collector"),
                      read_pem(s.tls_cert, "server.tls_cert", "collector"))],
                    root_certificates=read_pem(s.client_ca, "server.client_ca", "collector")
                    if s.client_ca
                    else None,
                    require_client_auth=s.client_ca is not None,
                )  # fmt: skip
                bound = server.add_secure_port(s.listen, creds)
        except RuntimeError as exc:
            raise ConfigError(
                "collector", "server.listen", f"cannot listen on {s.listen}: {exc}"
            ) from None
        if not bound:
            raise ConfigError("collector", "server.listen", f"cannot listen on {s.listen}")
        return int(bound) if port == "0" or not port else int(port)

    async def _retention(self) -> None:
        # Never cancelled mid-purge: the purge runs in a worker thread that cancelling
        # would not stop, and closing the store under it crashes the SQLite driver.
        while not self._stopping.is_set():
            cutoff = self.clock() - int(self.config.store.retention * 1000)
            try:
                gone = await asyncio.to_thread(self.store.purge_telemetry, cutoff)
                if gone:
                    log.info("retention purged telemetry", extra={"rows": gone})
            except Exception as exc:  # retention must never take ingest down
                log.error("retention failed", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETENTION_EVERY_S):
                    await self._stopping.wait()

    async def _deliver(self, outbox: Outbox) -> None:
        """The outbox worker: lifecycle ticks and helpdesk deliveries, off the event loop."""
        every = float(self.config.outbox.interval)
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(outbox.run_once)
            except Exception as exc:  # delivery must never take ingest down
                log.error("outbox run failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._stopping.wait()

    def reload_rules(self) -> bool:
        """Load the rules folder again; a folder with any error keeps the active set."""
        status = self.rule_status
        fingerprint = _fingerprint(status.folder)
        loaded = load_rules(status.folder)
        status.fingerprint = fingerprint
        status.errors = loaded.errors
        if loaded.errors:
            status.failed_reloads += 1
            for err in loaded.errors:
                log.error("rules not reloaded; the previous rule set stays active",
                          extra={"error": err})  # fmt: skip
            return False
        self.engine.rules = RuleSet(loaded.rules)
        if self.service is not None:
            self.service.evaluators.set_rules(self.engine.rules)
        status.loaded = len(loaded.rules)
        status.reloads += 1
        log.info("rules reloaded", extra={"rules": len(loaded.rules), "folder": str(status.folder)})
        return True

    async def _watch_rules(self) -> None:
        interval = float(self.config.rules.reload_interval)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                changed = await asyncio.to_thread(_fingerprint, self.rule_status.folder)
                if changed != self.rule_status.fingerprint:
                    await asyncio.to_thread(self.reload_rules)
            except Exception as exc:  # the watcher must never take the collector down
                log.error("rules reload failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def stop(self) -> None:
        """Stop taking streams, let in-flight batches commit and ack, then close the store."""
        if self.console is not None:
            await self.console.stop()
        if self.server is not None:
            await self.server.stop(self.config.server.grace)
        if self.committer is not None:
            await self.committer.close()
        if self.pool is not None:
            await self.pool.stop()
        self._stopping.set()
        for t in self._tasks:
            await t  # each ends at its next check of _stopping, after its own work
        if self.outbox is not None:
            for sink in self.outbox.sinks:
                sink.close()
        self.store.close()


def build(config: CollectorConfig) -> Collector:
    """Open the store (migrating it) and load the rules; raises StoreError / ConfigError."""
    observed = ObservedClock() if config.store.clock == "observed" else None
    clock: WallClock = observed or wall_clock_ms
    store = open_store(
        config.store.url,
        sqlite_synchronous=config.store.sqlite_synchronous,
        clock=clock,
        policy=config.tickets.policy(),
    )
    if observed is not None:
        # A restarted simulation goes on from the fleet's time, not from the wall clock's.
        observed.observe(max((h.last_seen_ms for h in store.list_hosts()), default=0))
    folder = config.rules.path or default_rules_dir()
    fingerprint = _fingerprint(folder)
    # At start there is no previous set to keep: the valid rules run, the bad files are
    # reported (one typo must not leave the fleet undiagnosed).
    loaded = load_rules(folder)
    for err in loaded.errors:
        log.error("rule not loaded", extra={"error": err})
    engine = Engine(RuleSet(loaded.rules), site_table(config.rules.site_map()))
    try:
        for inc in store.list_incidents(state="open", limit=10_000):
            engine.fleet.load(inc.rule_id, inc.group, inc.opened_ms, inc.hosts)
    except Exception:
        store.close()
        raise
    status = RuleStatus(folder, len(loaded.rules), loaded.errors, fingerprint=fingerprint)
    # The collector's own store is always the first sink; these are the helpdesks.
    sinks = make_sinks(config.sinks)
    o = config.outbox
    outbox = Outbox(store, sinks, clock, retry_base_ms=int(o.retry_base * 1000),
                    retry_max_ms=int(o.retry_max * 1000))  # fmt: skip
    return Collector(config, store, engine, status, outbox=outbox, clock=clock)
