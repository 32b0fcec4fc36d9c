"""GLPI (legacy REST API v1, apirest.php): incidents, private follow-ups, solutions.

Every call needs a session: initSession (App-Token + user token or Basic) answers a
session_token that later calls send as Session-Token. Sessions expire on the server after
the PHP session lifetime, so a call answered 401 ERROR_SESSION_TOKEN_INVALID opens a new
session and is sent once more; close() ends the session with killSession.

GLPI has no correlation field: the dedup key is written into the ticket content (a line
the adapter adds when the report does not already carry it) and, when a Fields plugin
field is configured, into that field too. find() searches the configured search option
(default 21, the content) with "contains" and status "notold" (neither solved nor closed).

Sources: glpi-project/glpi apirest.md (initSession, killSession, add items, uploadManifest
multipart upload, search with criteria/forcedisplay/sort/order), orthagh/glpi_api_upload
(Document then Document_Item), glpi-project/doc prioritymatrix.rst (urgency/impact 1..5).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import httpx

from collector.tickets.sinks.base import (
    Attachment,
    ClientOwner,
    DeliveryError,
    Outgoing,
    Ref,
    check,
    json_of,
    send,
)

# Outgoing impact/urgency 1 high, 2 medium, 3 low -> GLPI 1 very low .. 5 very high.
# 5 "very high" is left to people: an automatic finding is at most "high".
DEFAULT_LEVELS: Mapping[int, int] = {1: 4, 2: 3, 3: 2}
STATUS_FIELD = 12  # search option of Ticket.status
ID_FIELD = 2  # search option of Ticket.id
INCIDENT = 1  # Ticket.type


class GlpiSink(ClientOwner):
    name = "glpi"

    def __init__(
        self,
        *,
        base_url: str,
        user_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        app_token: str | None = None,
        category_map: Mapping[str, int] | None = None,
        group_map: Mapping[str, int] | None = None,
        requester_id: int | None = None,
        levels: Mapping[int, int] | None = None,
        key_search_field: int = 21,
        key_field: str | None = None,
        reopen_status: int = 2,
        client: httpx.Client | None = None,
    ) -> None:
        """base_url: GLPI's root (https://host/glpi) or its API (https://host/glpi/apirest.php).
        category_map: Outgoing.category -> itilcategories_id; group_map: Outgoing.tier ->
        groups_id of the assigned group; requester_id: a system user with notifications off
        (replies from a real mailbox would loop, glpi-project/glpi#24760)."""
        if user_token:
            auth = f"user_token {user_token}"
        elif username is not None and password is not None:
            auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        else:
            raise ValueError("GlpiSink needs user_token, or username and password")
        # Either GLPI's root or the API root itself (".../apirest.php") is accepted.
        root = base_url.rstrip("/")
        self._base = root.removesuffix("/apirest.php")
        self._api = f"{self._base}/apirest.php"
        self._auth = auth
        self._common = {"Accept": "application/json"}
        if app_token:
            self._common["App-Token"] = app_token
        self._categories = dict(category_map or {})
        self._groups = dict(group_map or {})
        self._requester = requester_id
        self._levels = {**DEFAULT_LEVELS, **(levels or {})}
        self._key_search_field = key_search_field
        self._key_field = key_field
        self._reopen_status = reopen_status
        self._use(client)
        # The outbox may run operations for different tickets in parallel threads: one
        # session for all of them, opened (and re-opened) by one thread at a time.
        self._lock = threading.Lock()
        self._session: str | None = None

    # -- session --------------------------------------------------------------------------

    def _open_session(self) -> str:
        what = "glpi initSession"
        headers = {**self._common, "Authorization": self._auth}
        resp = send(self._client, what, "GET", f"{self._api}/initSession", headers=headers)
        data = json_of(resp, what)
        token = data.get("session_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise DeliveryError(
                f"{what}: response of GET {resp.request.url.path} has no 'session_token'",
                retryable=False,
                status=resp.status_code,
            )
        return token

    def _token(self) -> str:
        with self._lock:
            if self._session is None:
                self._session = self._open_session()
            return self._session

    def _call(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call in the session; an expired session is renewed and the call sent once
        more (a second refusal is reported as it is: the credentials lost their rights)."""
        for attempt in (1, 2):
            token = self._token()
            headers = {**self._common, "Session-Token": token}
            try:
                resp = self._client.request(method, f"{self._api}/{path}", headers=headers,
                                            **kwargs)  # fmt: skip
            except httpx.TransportError as exc:
                raise DeliveryError(f"{what}: {type(exc).__name__}: {exc}",
                                    retryable=True) from None  # fmt: skip
            if attempt == 1 and resp.status_code == 401 and _session_expired(resp):
                with self._lock:
                    if self._session == token:  # another thread may have renewed it already
                        self._session = None
                continue
            return check(resp, what)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- operations -----------------------------------------------------------------------

    def _ref(self, ticket_id: str) -> Ref:
        return Ref(id=ticket_id, url=f"{self._base}/front/ticket.form.php?id={ticket_id}")

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "glpi create"
        content = ticket.html
        if ticket.dedup_key not in content:
            # find() searches the content for the key: make sure it is there.
            content += f"\n<p>rdiag key: <code>{html.escape(ticket.dedup_key)}</code></p>"
        fields: dict[str, Any] = {
            "name": ticket.summary,
            "content": content,
            "type": INCIDENT,
            "urgency": self._levels.get(ticket.urgency, 3),
            "impact": self._levels.get(ticket.impact, 3),
        }
        if ticket.category in self._categories:
            fields["itilcategories_id"] = self._categories[ticket.category]
        if ticket.tier in self._groups:
            fields["_groups_id_assign"] = self._groups[ticket.tier]
        if self._requester is not None:
            fields["_users_id_requester"] = self._requester
        if self._key_field:
            fields[self._key_field] = ticket.dedup_key
        resp = self._call(what, "POST", "Ticket", json={"input": fields})
        return self._ref(_id_field(json_of(resp, what), what, resp))

    def find(self, dedup_key: str) -> Ref | None:
        what = "glpi find"
        params = [
            ("criteria[0][field]", str(self._key_search_field)),
            ("criteria[0][searchtype]", "contains"),
            ("criteria[0][value]", dedup_key),
            ("criteria[1][link]", "AND"),
            ("criteria[1][field]", str(STATUS_FIELD)),
            ("criteria[1][searchtype]", "equals"),
            ("criteria[1][value]", "notold"),
            ("forcedisplay[0]", str(ID_FIELD)),
            ("sort", str(ID_FIELD)),
            ("order", "DESC"),
        ]
        resp = self._call(what, "GET", "search/Ticket", params=params)
        data = json_of(resp, what)
        rows = data.get("data") if isinstance(data, dict) else None
        if not rows:  # GLPI leaves "data" out when nothing matched
            return None
        ids: list[int] = []
        for row in rows if isinstance(rows, list) else []:
            value = row.get(str(ID_FIELD)) if isinstance(row, dict) else None
            if isinstance(value, int | str) and str(value).isdigit():
                ids.append(int(value))
        if not ids:
            raise DeliveryError(
                f"{what}: rows of GET {resp.request.url.path} have no id column '{ID_FIELD}'",
                retryable=False,
                status=resp.status_code,
            )
        return self._ref(str(max(ids)))  # ids grow: the biggest is the newest

    def _followup(self, what: str, ref: Ref, text: str, internal: bool = True) -> None:
        ticket_id = _number(ref.id, what)
        body = {"input": {"itemtype": "Ticket", "items_id": ticket_id, "content": text,
                          "is_private": 1 if internal else 0}}  # fmt: skip
        self._call(what, "POST", f"Ticket/{ticket_id}/ITILFollowup", json=body)

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        self._followup("glpi note", ref, text, internal)

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "glpi attach"
        ticket_id = _number(ref.id, what)
        manifest = {"input": {"name": file.name, "_filename": [file.name]}}
        resp = self._call(
            what,
            "POST",
            "Document",
            data={"uploadManifest": json.dumps(manifest)},
            files={"filename[0]": (file.name, file.content, file.media_type)},
        )
        document_id = _id_field(json_of(resp, what), what, resp)
        link = {"input": {"documents_id": int(document_id), "itemtype": "Ticket",
                          "items_id": ticket_id}}  # fmt: skip
        self._call("glpi attach (link)", "POST", "Document_Item", json=link)

    def resolve(self, ref: Ref, text: str) -> None:
        # A solution is GLPI's resolution record; adding one moves the ticket to "solved".
        what = "glpi resolve"
        ticket_id = _number(ref.id, what)
        body = {"input": {"itemtype": "Ticket", "items_id": ticket_id, "content": text}}
        self._call(what, "POST", f"Ticket/{ticket_id}/ITILSolution", json=body)

    def reopen(self, ref: Ref, text: str) -> None:
        what = "glpi reopen"
        ticket_id = _number(ref.id, what)
        body = {"input": {"status": self._reopen_status}}
        self._call(what, "PUT", f"Ticket/{ticket_id}", json=body)
        self._followup(what, ref, text)

    def close(self) -> None:
        with self._lock:
            token, self._session = self._session, None
        if token is not None:
            headers = {**self._common, "Session-Token": token}
            # Best effort: a session left open just expires on the server.
            with contextlib.suppress(DeliveryError):
                send(self._client, "glpi killSession", "GET", f"{self._api}/killSession",
                     headers=headers)  # fmt: skip
        super().close()


def _session_expired(resp: httpx.Response) -> bool:
    # GLPI answers ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"].
    return "ERROR_SESSION_TOKEN_INVALID" in resp.text


def _number(ticket_id: str, what: str) -> int:
    try:
        return int(ticket_id)
    except ValueError:
        raise DeliveryError(f"{what}: ticket id {ticket_id!r} is not a GLPI id",
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
