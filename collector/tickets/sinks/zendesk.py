"""Zendesk Support tickets through the Tickets and Uploads APIs.

Zendesk has a native correlation field, external_id, which is not unique-enforced: a
lookup can list several tickets (an old solved one and the current one), so find picks.
Comments exist only as part of a ticket update; every note is a private comment.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import quote

import httpx

from collector.tickets.sinks.base import (
    Attachment,
    DeliveryError,
    Outgoing,
    Ref,
    RestClient,
    json_of,
)

PRIORITIES = {"P1": "urgent", "P2": "high", "P3": "normal", "P4": "low", "P5": "low"}
DONE = frozenset({"solved", "closed"})
SUBJECT_MAX = 150  # the ticket schema's maxLength for subject
TAG = "rdiag"


def _need(body: Any, outer: str, key: str, what: str, response: httpx.Response) -> Any:
    """body[outer][key], non-empty, else a non-retryable error naming field and endpoint."""
    inner = body.get(outer) if isinstance(body, dict) else None
    value = inner.get(key) if isinstance(inner, dict) else None
    if value is None or value == "" or isinstance(value, bool):
        raise DeliveryError(
            f"{what}: no {outer}.{key} in the response to {response.request.method} "
            f"{response.request.url.path}",
            retryable=False,
            status=response.status_code,
        )
    return value


def _id(value: str) -> int | str:
    """Zendesk ids are integers in JSON; a Ref keeps them as text."""
    return int(value) if value.isdigit() else value


class ZendeskSink(RestClient):
    name = "zendesk"

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        group_ids: Mapping[str, int] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        """base_url: https://<subdomain>.zendesk.com. group_ids: tier ("L1".."L3") ->
        group id; an unmapped tier leaves the group to Zendesk's routing."""
        credentials = f"{email}/token:{api_token}".encode()
        self._base = base_url.rstrip("/")
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "Accept": "application/json",
        }
        self._groups = dict(group_ids or {})
        self._use(client)

    def _ref(self, ticket_id: str) -> Ref:
        return Ref(ticket_id, f"{self._base}/agent/tickets/{ticket_id}")

    def _update(self, what: str, ref: Ref, ticket: Mapping[str, Any]) -> None:
        path = f"/api/v2/tickets/{quote(ref.id, safe='')}.json"
        self._call(what, "PUT", path, json={"ticket": ticket})

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "zendesk create"
        comment: dict[str, Any] = {"public": False}
        if ticket.html:
            comment["html_body"] = ticket.html
        else:
            comment["body"] = ticket.text
        kind = "problem" if ticket.kind == "problem" else "incident"
        body: dict[str, Any] = {
            "subject": ticket.summary[:SUBJECT_MAX],
            "comment": comment,
            "type": kind,
            "tags": [TAG, ticket.rule_id.replace(".", "_")],
            "external_id": ticket.dedup_key,
        }
        priority = PRIORITIES.get(ticket.priority)
        if priority:
            body["priority"] = priority
        group = self._groups.get(ticket.tier)
        if group is not None:
            body["group_id"] = group
        if ticket.problem is not None and kind == "incident":
            body["problem_id"] = _id(ticket.problem.id)
        response = self._call(what, "POST", "/api/v2/tickets.json", json={"ticket": body})
        return self._ref(str(_need(json_of(response, what), "ticket", "id", what, response)))

    def find(self, dedup_key: str) -> Ref | None:
        what = "zendesk find"
        response = self._call(
            what, "GET", "/api/v2/tickets.json", params={"external_id": dedup_key}
        )
        body = json_of(response, what)
        tickets = body.get("tickets") if isinstance(body, dict) else None
        if not isinstance(tickets, list):
            raise DeliveryError(
                f"{what}: no 'tickets' list in the response to GET {response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        live = [
            t
            for t in tickets
            if isinstance(t, dict)
            and t.get("external_id") == dedup_key
            and t.get("status") not in DONE
            and isinstance(t.get("id"), int)
        ]
        if not live:
            return None
        # ISO 8601 UTC stamps sort as text; ids grow, so they break ties.
        newest = max(live, key=lambda t: (str(t.get("created_at") or ""), t["id"]))
        return self._ref(str(newest["id"]))

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        self._update("zendesk note", ref, {"comment": {"body": text, "public": not internal}})

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "zendesk attach"
        response = self._call(
            what,
            "POST",
            "/api/v2/uploads.json",
            headers={"Content-Type": file.media_type},
            params={"filename": file.name},
            content=file.content,
        )
        token = _need(json_of(response, what), "upload", "token", what, response)
        # An upload token not used in a comment is deleted after a while: bind it now.
        comment = {
            "body": f"Attached {file.name} (sha256 {file.sha256})",
            "uploads": [str(token)],
            "public": False,
        }
        self._update(what, ref, {"comment": comment})

    def resolve(self, ref: Ref, text: str) -> None:
        comment = {"body": text, "public": False}
        self._update("zendesk resolve", ref, {"status": "solved", "comment": comment})

    def reopen(self, ref: Ref, text: str) -> None:
        comment = {"body": text, "public": False}
        self._update("zendesk reopen", ref, {"status": "open", "comment": comment})
