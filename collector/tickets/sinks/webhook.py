"""A signed JSON webhook: every operation is one POST to one URL, for home-grown receivers.

Body: {"event": "ticket.created" | "ticket.note" | "ticket.attachment" | "ticket.resolved"
| "ticket.reopened", "delivery": id, "sent_at": unix seconds, "ticket": {...}, ...}. For
ticket.created "ticket" holds every Outgoing field; otherwise it is the ref {"id", "url"},
and the operation's content sits beside it ("note": {text, internal}; "attachment": {name,
media_type, size, sha256, content_base64}; "text" for resolved/reopened).

Headers: X-Rdiag-Event, X-Rdiag-Delivery, X-Rdiag-Timestamp, and X-Rdiag-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the shared secret>, the same
scheme as GitHub's X-Hub-Signature-256, so a receiver can reuse code it has for GitHub.

The timestamp is signed by being in the body ("sent_at"), not by a second signed string:
X-Rdiag-Timestamp only repeats it for receivers that want to drop stale requests before
parsing. A receiver verifies the signature over the raw body first, then may reject a
"sent_at" older than a few minutes (replay) and drop a "delivery" it has seen (a retry):

    from collector.tickets.sinks.webhook import verify

    def handle(raw_body: bytes, headers: Mapping[str, str]) -> int:
        if not verify(SECRET, raw_body, headers.get("X-Rdiag-Signature", "")):
            return 401
        event = json.loads(raw_body)
        if seen(event["delivery"]):
            return 200  # a retry of something already processed
        ...

Delivery ids: a create keeps its id in the outbox memo (a uuid4 made on the first attempt),
so every retry of one create carries the same id. The other operations have no memo; their
id is derived from the operation's content (event, ticket, text or file hash), so a retry
repeats it; the same text sent twice to the same ticket for the same event is, to the
receiver, one delivery. find() always answers None: a webhook cannot be searched, and the
memo plus the delivery id already make a retried create safe.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import httpx

from collector.tickets.sinks.base import (
    Attachment,
    ClientOwner,
    DeliveryError,
    Outgoing,
    Ref,
    send,
)

SIGNATURE_PREFIX = "sha256="
# Name-based delivery ids (uuid5) of non-create operations live in this namespace.
DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:rdiag:webhook:delivery")


def sign(secret: str | bytes, body: bytes) -> str:
    """The X-Rdiag-Signature value for a body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str) -> bool:
    """True when `header` (X-Rdiag-Signature) signs `body` with `secret`. Constant time."""
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    # Bytes on both sides: compare_digest refuses non-ASCII str, and a header is untrusted.
    return hmac.compare_digest(sign(secret, body).encode(), header.encode("utf-8", "replace"))


class WebhookSink(ClientOwner):
    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ) -> None:
        """headers: extra headers for every request (e.g. a receiver's own bearer token)."""
        if not secret:
            raise ValueError("WebhookSink needs a non-empty secret: receivers verify signatures")
        self._url = url
        self._secret = secret.encode()
        self._extra = dict(headers or {})
        self._clock = clock
        self._use(client)

    def _post(self, event: str, delivery: str, payload: Mapping[str, Any]) -> httpx.Response:
        what = f"webhook {event}"
        sent_at = int(self._clock())
        message = {"event": event, "delivery": delivery, "sent_at": sent_at, **payload}
        try:
            body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:  # data that JSON cannot carry: fix the caller
            raise DeliveryError(f"{what}: payload is not JSON: {exc}", retryable=False) from None
        headers = {
            **self._extra,
            "Content-Type": "application/json",
            "X-Rdiag-Event": event,
            "X-Rdiag-Delivery": delivery,
            "X-Rdiag-Timestamp": str(sent_at),
            "X-Rdiag-Signature": sign(self._secret, body),
        }
        return send(self._client, what, "POST", self._url, content=body, headers=headers)

    def _delivery(self, event: str, ref: Ref, digest: str) -> str:
        return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{event}\0{ref.id}\0{digest}"))

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        delivery = memo.get("delivery")
        if not delivery:
            delivery = memo["delivery"] = str(uuid.uuid4())
        resp = self._post("ticket.created", delivery, {"ticket": _outgoing(ticket)})
        # A receiver may answer with its own record id; otherwise the key is the ref.
        try:
            data = resp.json()
        except ValueError:
            data = None
        ref_id = data.get("id") if isinstance(data, dict) else None
        ref_url = data.get("url") if isinstance(data, dict) else None
        has_id = isinstance(ref_id, int | str) and not isinstance(ref_id, bool) and ref_id != ""
        return Ref(
            id=str(ref_id) if has_id else ticket.dedup_key,
            url=ref_url if isinstance(ref_url, str) else "",
        )

    def find(self, dedup_key: str) -> Ref | None:
        return None

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        event = "ticket.note"
        digest = hashlib.sha256(f"{internal}\0{text}".encode()).hexdigest()
        self._post(event, self._delivery(event, ref, digest),
                   {"ticket": _ref(ref), "note": {"text": text, "internal": internal}})  # fmt: skip

    def attach(self, ref: Ref, file: Attachment) -> None:
        event = "ticket.attachment"
        attachment = {
            "name": file.name,
            "media_type": file.media_type,
            "size": len(file.content),
            "sha256": file.sha256,
            "content_base64": base64.b64encode(file.content).decode("ascii"),
        }
        digest = hashlib.sha256(f"{file.name}\0{file.sha256}".encode()).hexdigest()
        self._post(event, self._delivery(event, ref, digest),
                   {"ticket": _ref(ref), "attachment": attachment})  # fmt: skip

    def _state(self, event: str, ref: Ref, text: str) -> None:
        digest = hashlib.sha256(text.encode()).hexdigest()
        self._post(event, self._delivery(event, ref, digest), {"ticket": _ref(ref), "text": text})

    def resolve(self, ref: Ref, text: str) -> None:
        self._state("ticket.resolved", ref, text)

    def reopen(self, ref: Ref, text: str) -> None:
        self._state("ticket.reopened", ref, text)


def _ref(ref: Ref) -> dict[str, str]:
    return {"id": ref.id, "url": ref.url}


def _outgoing(ticket: Outgoing) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(ticket):
        value = getattr(ticket, f.name)
        if isinstance(value, Ref):
            value = _ref(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out
