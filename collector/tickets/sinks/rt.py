"""Request Tracker 5 (REST2): tickets in a queue, the key in a ticket custom field.

Notes are RT comments (staff only); a note marked not internal is a correspondence, which
RT mails to the requestors. Resolve and reopen first comment, then set the status, so a
ticket never changes state without the text that says why.

Sources: bestpractical/rt lib/RT/REST2.pm (token auth, POST /ticket, /comment and
/correspond with base64 Attachments, PUT /ticket/:id, GET /tickets?query=TicketSQL with
orderby/order/per_page).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, MutableMapping
from typing import Any

import httpx

from collector.tickets.sinks.base import (
    Attachment,
    ClientOwner,
    DeliveryError,
    Outgoing,
    Ref,
    json_of,
    send,
)

# RT priorities are numbers (0..99 by default, higher is more urgent).
DEFAULT_PRIORITIES: Mapping[str, int] = {"P1": 90, "P2": 70, "P3": 50, "P4": 30, "P5": 10}


class RequestTrackerSink(ClientOwner):
    name = "rt"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        queue: str = "General",
        queue_map: Mapping[str, str] | None = None,
        key_field: str = "DedupKey",
        requestor: str | None = None,
        priorities: Mapping[str, int] | None = None,
        resolved_status: str = "resolved",
        reopen_status: str = "open",
        client: httpx.Client | None = None,
    ) -> None:
        """base_url is RT's web root (https://rt.example.org); queue_map: Outgoing.tier ->
        queue name, falling back to `queue`; key_field: the ticket custom field for the key."""
        self._base = base_url.rstrip("/")
        self._api = f"{self._base}/REST/2.0"
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self._queue = queue
        self._queues = dict(queue_map or {})
        self._cf = key_field
        self._requestor = requestor
        self._priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self._resolved = resolved_status
        self._reopen = reopen_status
        self._use(client)

    def _ref(self, ticket_id: str) -> Ref:
        return Ref(id=ticket_id, url=f"{self._base}/Ticket/Display.html?id={ticket_id}")

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(self._client, what, method, f"{self._api}/{path}", headers=self._headers,
                    **kwargs)  # fmt: skip

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "rt create"
        body: dict[str, Any] = {
            "Queue": self._queues.get(ticket.tier, self._queue),
            "Subject": ticket.summary,
            "Content": ticket.text,
            "ContentType": "text/plain",
            "Priority": self._priorities.get(ticket.priority, 50),
            "CustomFields": {self._cf: ticket.dedup_key},
        }
        if self._requestor:
            body["Requestor"] = self._requestor
        resp = self._send(what, "POST", "ticket", json=body)
        return self._ref(_id_field(json_of(resp, what), what, resp))

    def find(self, dedup_key: str) -> Ref | None:
        what = "rt find"
        key = dedup_key.replace("\\", "\\\\").replace("'", "\\'")
        # __Active__ = any status of the queue lifecycle's "active" set (new, open, stalled).
        query = f"CF.{{{self._cf}}}='{key}' AND Status='__Active__'"
        params = {"query": query, "orderby": "Created", "order": "DESC", "per_page": "1"}
        resp = self._send(what, "GET", "tickets", params=params)
        data = json_of(resp, what)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise DeliveryError(
                f"{what}: response of GET {resp.request.url.path} has no 'items'",
                retryable=False,
                status=resp.status_code,
            )
        if not items:
            return None
        return self._ref(_id_field(items[0], what, resp))

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        action = "comment" if internal else "correspond"
        body = {"Content": text, "ContentType": "text/plain"}
        self._send("rt note", "POST", f"ticket/{_number(ref.id, 'rt note')}/{action}", json=body)

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "rt attach"
        body = {
            "Content": f"Attached {file.name} ({len(file.content)} bytes, sha256 {file.sha256})",
            "ContentType": "text/plain",
            "Attachments": [
                {
                    "FileName": file.name,
                    "FileType": file.media_type,
                    "FileContent": base64.b64encode(file.content).decode("ascii"),
                }
            ],
        }
        self._send(what, "POST", f"ticket/{_number(ref.id, what)}/comment", json=body)

    def _set_status(self, what: str, ref: Ref, status: str, text: str) -> None:
        ticket_id = _number(ref.id, what)
        comment = {"Content": text, "ContentType": "text/plain"}
        self._send(what, "POST", f"ticket/{ticket_id}/comment", json=comment)
        self._send(what, "PUT", f"ticket/{ticket_id}", json={"Status": status})

    def resolve(self, ref: Ref, text: str) -> None:
        self._set_status("rt resolve", ref, self._resolved, text)

    def reopen(self, ref: Ref, text: str) -> None:
        self._set_status("rt reopen", ref, self._reopen, text)


def _number(ticket_id: str, what: str) -> int:
    # RT ids are numbers; refusing anything else keeps a bad ref out of the URL path.
    try:
        return int(ticket_id)
    except ValueError:
        raise DeliveryError(f"{what}: ticket id {ticket_id!r} is not an RT id",
                            retryable=False) from None  # fmt: skip


def _id_field(data: Any, what: str, resp: httpx.Response) -> str:
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise DeliveryError(
            f"{what}: response of {resp.request.method} {resp.request.url.path} has no 'id'",
            retryable=False,
            status=resp.status_code,
        )
    return str(value)
