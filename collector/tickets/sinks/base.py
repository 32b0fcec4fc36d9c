"""The port every helpdesk adapter implements, and what it is given.

An adapter is a thin, synchronous client over a handful of REST endpoints: the outbox
worker calls it from a thread, one operation at a time per ticket, and decides about
retries. An adapter never retries by itself and never sleeps; it raises DeliveryError
saying whether trying again later can help (a 5xx, a timeout, a refused connection, a
429) or not (a 4xx that will fail the same way: bad credentials, a missing field).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class Ref:
    """A ticket in the helpdesk: its own id (key, sys_id, number) and a link for people."""

    id: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str  # file name shown in the helpdesk, e.g. "smart-sda.txt"
    media_type: str  # "text/plain", "application/json"
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A ticket as the helpdesk should see it. Built by the collector from its own store."""

    ticket_id: int  # the collector's ticket number
    dedup_key: str  # stable: host identity + rule + component; the helpdesk correlation id
    kind: str  # host | fleet | storm | problem
    summary: str  # "[Category] symptom on host", <= 150 chars, no timestamps or counters
    markdown: str  # the full report, Markdown
    html: str  # the same report, an HTML fragment (no <html>/<body>)
    text: str  # the same report, plain text, for systems that take neither
    priority: str  # P1..P5
    impact: int  # 1 high, 2 medium, 3 low (ITIL / ServiceNow numbering)
    urgency: int  # 1 high, 2 medium, 3 low
    severity: str  # critical | high | medium | low
    tier: str  # L1 | L2 | L3
    assignment_group: str  # the helpdesk group this tier maps to (configured)
    category: str  # "Hardware / Storage"
    hostname: str
    agent_id: str
    rule_id: str
    data: Mapping[str, Any] = field(default_factory=dict)  # the machine-readable block
    previous: Ref | None = None  # the earlier ticket this one recurs (same sink)
    problem: Ref | None = None  # the problem record it belongs to (same sink)


class DeliveryError(Exception):
    """An operation failed. retryable: a later attempt can succeed (the outbox backs off)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Sink(Protocol):
    """One helpdesk. Every method is one logical operation, idempotent where the system allows.

    create's memo is persisted by the outbox between attempts (also after a failed one):
    an adapter keeps there what makes a retry safe, e.g. Roundup's single-use POE URL.
    Before a retry of create the outbox first calls find(dedup_key); find returns the
    newest ticket with this key that is not resolved or closed, or None.
    """

    name: str

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref: ...

    def find(self, dedup_key: str) -> Ref | None: ...

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None: ...

    def attach(self, ref: Ref, file: Attachment) -> None: ...

    def resolve(self, ref: Ref, text: str) -> None: ...

    def reopen(self, ref: Ref, text: str) -> None: ...

    def close(self) -> None: ...


DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class ClientOwner:
    """The httpx client an adapter uses: the one it was given (tests, a shared pool), or
    its own with DEFAULT_TIMEOUT, which close() then closes."""

    _client: httpx.Client
    _own_client: bool

    def _use(self, client: httpx.Client | None) -> None:
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)

    def close(self) -> None:
        if self._own_client:
            self._client.close()


class RestClient(ClientOwner):
    """A ClientOwner that talks to one base URL with fixed headers (auth, Accept)."""

    _base: str
    _headers: Mapping[str, str]

    def _call(
        self, what: str, method: str, path: str, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return send(
            self._client, what, method, self._base + path,
            headers={**self._headers, **(headers or {})}, **kw,
        )  # fmt: skip


def check(response: httpx.Response, what: str) -> httpx.Response:
    """The response when it is a 2xx; otherwise a DeliveryError that says what failed."""
    if response.is_success:
        return response
    body = response.text[:300].replace("\n", " ")
    retryable = response.status_code in (408, 409, 425, 429) or response.status_code >= 500
    raise DeliveryError(
        f"{what}: HTTP {response.status_code} from {response.request.method} "
        f"{response.request.url.path}: {body}",
        retryable=retryable,
        status=response.status_code,
    )


def send(client: httpx.Client, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures (refused, reset, timeout) become retryable errors."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from None
    return check(response, what)


def json_of(response: httpx.Response, what: str) -> Any:
    """The response's JSON body; a body that is not JSON is a non-retryable error."""
    try:
        return response.json()
    except ValueError:
        raise DeliveryError(
            f"{what}: expected JSON from {response.request.url.path}, got {response.text[:120]!r}",
            retryable=False,
            status=response.status_code,
        ) from None
