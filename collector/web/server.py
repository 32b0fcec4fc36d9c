"""Serve the console from the collector's own event loop, beside the gRPC server.

uvicorn runs as one more task of the collector: no second process to deploy or
supervise, and the console reads the same store object. The socket is bound here, so
port 0 works (tests) and a port already taken is a clear error, not a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from agent.common.config import ConfigError
from collector.web.live import Live
from collector.web.views import Console
from collector.web.webapp import create_app

log = logging.getLogger("rdiag.console")


class _InLoopServer(uvicorn.Server):
    # The collector owns SIGTERM/SIGINT (a graceful ingest stop); uvicorn must not take them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleServer:
    def __init__(self, console: Console, listen: str, *, tls_cert: Path | None = None,
                 tls_key: Path | None = None) -> None:  # fmt: skip
        self.console = console
        self.listen = listen
        self.tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        self.live = Live(console.store, console.live_poll_s)
        self.app = create_app(console, self.live)
        self.port = 0
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = self.listen.rpartition(":")[0].strip("[]")
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}/"

    def _bind(self) -> socket.socket:
        host, _, port = self.listen.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it every response's body waits ~40 ms behind its headers (Nagle against
        # the browser's delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError as exc:
            sock.close()
            problem = f"cannot listen on {self.listen}: {exc.strerror}"
            raise ConfigError("collector", "console.listen", problem) from None
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    async def start(self) -> None:
        sock = self._bind()
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off",
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
            timeout_graceful_shutdown=2, server_header=False,
        )  # fmt: skip
        self._server = _InLoopServer(config)
        await self.live.start()
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="console")
        # Ready once uvicorn has started listening (or has failed to).
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
        log.info("console listening", extra={"url": self.url})

    async def stop(self) -> None:
        await self.live.stop()  # ends the event streams, or shutdown would wait on them
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
