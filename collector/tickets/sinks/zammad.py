"""Zammad (REST API v1): tickets with internal note articles, a custom key attribute, a tag.

Zammad has no native correlation field, so the dedup key goes into a ticket object attribute
(created once by an admin through the Object Manager; default name "rdiag_key") and the
ticket is tagged "rdiag" for people filtering the overview. Search runs on Zammad's
Elasticsearch index, which lags behind writes: create therefore records the new ticket's id
in the outbox memo, so a retry after a half-done create (ticket made, tag not added) finishes
the job instead of opening a second ticket that a lagging find() could not see.

Sources: zammad/zammad-documentation api/intro.rst (Token auth), api/ticket/index.rst
(create, update with an article, search with sort_by/order_by), api/ticket/articles.rst
(internal notes, base64 attachments), api/ticket/tags.rst (tags/add).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, MutableMapping, Sequence
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

# Zammad's stock priorities are "1 low", "2 normal", "3 high"; five P levels fold onto three.
DEFAULT_PRIORITIES: Mapping[str, str] = {
    "P1": "3 high",
    "P2": "3 high",
    "P3": "2 normal",
    "P4": "1 low",
    "P5": "1 low",
}


class ZammadSink(ClientOwner):
    name = "zammad"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        group_map: Mapping[str, str] | None = None,
        customer: str = "rdiag@localhost",
        key_attribute: str = "rdiag_key",
        tag: str | None = "rdiag",
        priorities: Mapping[str, str] | None = None,
        open_states: Sequence[str] = ("new", "open"),
        resolved_state: str = "closed",
        reopen_state: str = "open",
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        # Sent on every request (not only baked into a client we build), so an injected
        # client with its own transport or CA settings still authenticates.
        self._headers = {"Authorization": f"Token token={token}", "Accept": "application/json"}
        self._groups = dict(group_map or {})
        self._customer = customer
        self._attr = key_attribute
        self._tag = tag
        self._priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self._open_states = tuple(open_states)
        self._resolved_state = resolved_state
        self._reopen_state = reopen_state
        self._use(client)

    def _url(self, path: str) -> str:
        return f"{self._base}/api/v1/{path}"

    def _ref(self, ticket_id: str) -> Ref:
        return Ref(id=ticket_id, url=f"{self._base}/#ticket/zoom/{ticket_id}")

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "zammad create"
        ticket_id = memo.get("zammad_id")
        if ticket_id is None:
            body: dict[str, Any] = {
                "title": ticket.summary,
                "group": self._groups.get(ticket.tier, ticket.assignment_group),
                "customer": self._customer,
                "priority": self._priorities.get(ticket.priority, "2 normal"),
                "state": "new",
                self._attr: ticket.dedup_key,
                "article": {
                    "subject": ticket.summary,
                    "body": ticket.html,
                    "content_type": "text/html",
                    "type": "note",
                    "internal": True,
                },
            }
            resp = send(self._client, what, "POST", self._url("tickets"), json=body,
                        headers=self._headers)  # fmt: skip
            ticket_id = _id_field(json_of(resp, what), what, resp)
            memo["zammad_id"] = ticket_id
        if self._tag and memo.get("zammad_tagged") != ticket_id:
            tag = {"item": self._tag, "object": "Ticket", "o_id": _number(ticket_id, what)}
            send(self._client, "zammad tag", "POST", self._url("tags/add"), json=tag,
                 headers=self._headers)  # fmt: skip
            memo["zammad_tagged"] = ticket_id
        return self._ref(ticket_id)

    def find(self, dedup_key: str) -> Ref | None:
        what = "zammad find"
        states = " OR ".join(f'state.name:"{s}"' for s in self._open_states)
        # Quoted: the key contains a hyphen, which Elasticsearch's query syntax would
        # otherwise split (or read as NOT).
        query = f'{self._attr}:"{dedup_key}" AND ({states})'
        params = {"query": query, "sort_by": "created_at", "order_by": "desc", "limit": "10"}
        resp = send(self._client, what, "GET", self._url("tickets/search"), params=params,
                    headers=self._headers)  # fmt: skip
        for ticket_id, record in _search_hits(json_of(resp, what), what, resp):
            # A full-text index can match loosely; trust a hit only when its attribute,
            # if the response shows it, is exactly our key.
            if record is not None and self._attr in record and record[self._attr] != dedup_key:
                continue
            return self._ref(ticket_id)
        return None

    def _article(self, ticket_id: int | None, text: str, internal: bool) -> dict[str, Any]:
        article: dict[str, Any] = {
            "body": text,
            "content_type": "text/plain",
            "type": "note",
            "internal": internal,
        }
        if ticket_id is not None:
            article["ticket_id"] = ticket_id
        return article

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        what = "zammad note"
        body = self._article(_number(ref.id, what), text, internal)
        send(self._client, what, "POST", self._url("ticket_articles"), json=body,
             headers=self._headers)  # fmt: skip

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "zammad attach"
        text = f"Attached {file.name} ({len(file.content)} bytes, sha256 {file.sha256})"
        body = self._article(_number(ref.id, what), text, True)
        body["attachments"] = [
            {
                "filename": file.name,
                "data": base64.b64encode(file.content).decode("ascii"),
                "mime-type": file.media_type,
            }
        ]
        send(self._client, what, "POST", self._url("ticket_articles"), json=body,
             headers=self._headers)  # fmt: skip

    def _set_state(self, what: str, ref: Ref, state: str, text: str) -> None:
        # The article rides along with the state change: one request, so the ticket never
        # ends up closed without the note that says why.
        body = {"state": state, "article": self._article(None, text, True)}
        url = self._url(f"tickets/{_number(ref.id, what)}")
        send(self._client, what, "PUT", url, json=body, headers=self._headers)

    def resolve(self, ref: Ref, text: str) -> None:
        self._set_state("zammad resolve", ref, self._resolved_state, text)

    def reopen(self, ref: Ref, text: str) -> None:
        self._set_state("zammad reopen", ref, self._reopen_state, text)


def _number(ticket_id: str, what: str) -> int:
    try:
        return int(ticket_id)
    except ValueError:
        raise DeliveryError(f"{what}: ticket id {ticket_id!r} is not a Zammad id",
                            retryable=False) from None  # fmt: skip


def _id_field(data: Any, what: str, resp: httpx.Response) -> str:
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        raise DeliveryError(
            f"{what}: response of {resp.request.method} {resp.request.url.path} has no 'id'",
            retryable=False,
            status=resp.status_code,
        )
    return str(value)


def _search_hits(
    data: Any, what: str, resp: httpx.Response
) -> list[tuple[str, Mapping[str, Any] | None]]:
    """(id, record or None) in the server's order. Zammad answers a search either with a
    list of tickets (expand=true, as documented) or, by default, with
    {"tickets": [ids], "tickets_count": n, "assets": {"Ticket": {"<id>": {...}}}}."""
    if isinstance(data, list):
        return [(str(t["id"]), t) for t in data if isinstance(t, dict) and "id" in t]
    if isinstance(data, dict) and isinstance(data.get("tickets"), list):
        assets = data.get("assets")
        records = assets.get("Ticket") if isinstance(assets, dict) else None
        records = records if isinstance(records, dict) else {}
        hits: list[tuple[str, Mapping[str, Any] | None]] = []
        for item in data["tickets"]:
            ticket_id = str(item["id"]) if isinstance(item, dict) and "id" in item else str(item)
            record = records.get(ticket_id)
            hits.append((ticket_id, record if isinstance(record, dict) else None))
        return hits
    if isinstance(data, dict) and not data:
        return []  # no hits: some versions answer {}
    raise DeliveryError(
        f"{what}: response of GET {resp.request.url.path} has neither a ticket list nor 'tickets'",
        retryable=False,
        status=resp.status_code,
    )
