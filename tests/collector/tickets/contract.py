"""A local HTTP server that plays a helpdesk's documented API for contract tests.

Each test gives it routes: (method, path regex) → a function of the request that checks
the request against the vendor's documented contract (endpoint, headers, body shape)
and returns (status, headers, body). A request no route claims is answered 404 and
recorded as unexpected, so an adapter calling an undocumented endpoint fails the test.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.tickets.sinks.base import Outgoing


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


Reply = tuple[int, dict[str, str], bytes | str | dict[str, Any] | list[Any]]

# The ticket every adapter test delivers, changed where a test needs it.
KEY = "rdiag-0123456789abcdef0123"


def outgoing(**changes: Any) -> Outgoing:
    fields: dict[str, Any] = dict(
        ticket_id=7, dedup_key=KEY, kind="host",
        summary="[Disk] Drive sda reports SMART failure on ws-0421", markdown="**Symptoms.** ...",
        html="<p><strong>Symptoms.</strong> ...</p>", text="Symptoms. ...", priority="P2",
        impact=1, urgency=2, severity="critical", tier="L2", assignment_group="Desktop L2",
        category="Hardware / Storage", hostname="ws-0421", agent_id="a-1",
        rule_id="disk.smart_health_failed", data={"rule": "disk.smart_health_failed"},
    )  # fmt: skip
    fields.update(changes)
    return Outgoing(**fields)


Handler = Callable[[Request], Reply]


@dataclass
class ContractServer:
    url: str = ""
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    unexpected: list[Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # contract checks that failed

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern + r"\Z"), fn))
            return fn

        return register

    def calls(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern + r"\Z")
        return [r for r in self.requests if r.method == method and rx.match(r.path)]

    def dispatch(self, req: Request) -> Reply:
        self.requests.append(req)
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if method == req.method and m:
                req.match = m
                try:
                    return fn(req)
                except AssertionError as exc:  # a contract violation: the test reports it
                    self.failures.append(f"{req.method} {req.path}: {exc}")
                    return 400, {}, {"error": f"contract violation: {exc}"}
        self.unexpected.append(req)
        return 404, {}, {"error": f"no such endpoint {req.method} {req.path}"}


@contextmanager
def serve() -> Iterator[ContractServer]:
    server = ContractServer()

    class _Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            req = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, headers, body = server.dispatch(req)
            if isinstance(body, dict | list):
                data = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **headers}
            else:
                data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
