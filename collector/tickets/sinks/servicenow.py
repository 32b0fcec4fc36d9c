"""ServiceNow incidents through the Table and Attachment APIs.

The dedup key goes into the incident's native correlation_id (with correlation_display
naming us), which Task tables carry for exactly this. The Table API cannot address a record
by it, so every operation after create works on the sys_id that create or find returned.
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

CORRELATION_DISPLAY = "rdiag"
TABLE = "/api/now/table/incident"
STATE_IN_PROGRESS = "2"
STATE_RESOLVED = "6"


def _result(body: Any, key: str, what: str, response: httpx.Response) -> str:
    """body["result"][key] as a non-empty string, else a non-retryable error saying so."""
    result = body.get("result") if isinstance(body, dict) else None
    value = result.get(key) if isinstance(result, dict) else None
    if isinstance(value, str) and value:
        return value
    raise DeliveryError(
        f"{what}: no result.{key} in the response to {response.request.method} "
        f"{response.request.url.path}",
        retryable=False,
        status=response.status_code,
    )


def _level(value: int) -> str:
    """Impact/urgency as ServiceNow's choice values "1".."3" (1 high)."""
    return str(min(max(value, 1), 3))


class ServiceNowSink(RestClient):
    name = "servicenow"

    def __init__(
        self,
        *,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        assignment_groups: Mapping[str, str] | None = None,
        categories: Mapping[str, tuple[str, str | None]] | None = None,
        category: str | None = None,
        subcategory: str | None = None,
        caller_id: str | None = None,
        close_code: str = "Solution provided",
        client: httpx.Client | None = None,
    ) -> None:
        """assignment_groups: tier ("L1".."L3") -> group name or sys_id, else the ticket's
        own assignment_group. categories: the collector's category ("Hardware / Storage")
        -> (category, subcategory) choice values, else category/subcategory, else none
        (the instance default). Auth: username + password (Basic) or token (Bearer)."""
        if token is not None and (username is not None or password is not None):
            raise ValueError("servicenow: give either username/password or token, not both")
        if token is not None:
            auth = f"Bearer {token}"
        elif username is not None and password is not None:
            auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        else:
            raise ValueError("servicenow: username and password, or token, are required")
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": auth, "Accept": "application/json"}
        self._groups = dict(assignment_groups or {})
        self._categories = dict(categories or {})
        self._category = category
        self._subcategory = subcategory
        self._caller = caller_id
        self._close_code = close_code
        self._use(client)

    def _ref(self, sys_id: str) -> Ref:
        return Ref(sys_id, f"{self._base}/nav_to.do?uri=incident.do?sys_id={sys_id}")

    def _record(self, ref: Ref) -> str:
        return f"{TABLE}/{quote(ref.id, safe='')}"

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "servicenow create"
        body: dict[str, Any] = {
            "short_description": ticket.summary,
            # description is a plain string field (4000 characters on a stock instance,
            # cut silently beyond); the journal takes the full report, JSON block included.
            "description": ticket.text,
            "work_notes": ticket.markdown,
            "impact": _level(ticket.impact),
            "urgency": _level(ticket.urgency),
            "cmdb_ci": ticket.hostname,
            "correlation_id": ticket.dedup_key,
            "correlation_display": CORRELATION_DISPLAY,
        }
        group = self._groups.get(ticket.tier) or ticket.assignment_group
        if group:
            body["assignment_group"] = group
        category, subcategory = self._categories.get(
            ticket.category, (self._category, self._subcategory)
        )
        if category:
            body["category"] = category
        if subcategory:
            body["subcategory"] = subcategory
        if self._caller:
            body["caller_id"] = self._caller
        if ticket.problem is not None:
            # Our problem record is a parent incident in this sink: resolving it lets the
            # instance's rules resolve the children with it.
            body["parent_incident"] = ticket.problem.id
        response = self._call(what, "POST", TABLE, json=body)
        return self._ref(_result(json_of(response, what), "sys_id", what, response))

    def find(self, dedup_key: str) -> Ref | None:
        what = "servicenow find"
        if "^" in dedup_key:  # would split the encoded query into other conditions
            raise DeliveryError(f"{what}: '^' in dedup key {dedup_key!r}", retryable=False)
        response = self._call(
            what,
            "GET",
            TABLE,
            params={
                "sysparm_query": (
                    f"correlation_id={dedup_key}^active=true^ORDERBYDESCsys_created_on"
                ),
                "sysparm_limit": "1",
                "sysparm_fields": "sys_id,number,correlation_id",
            },
        )
        body = json_of(response, what)
        results = body.get("result") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise DeliveryError(
                f"{what}: no result list in the response to GET {response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        if not results:
            return None
        found = results[0] if isinstance(results[0], dict) else {}
        # An invalid part of an encoded query is dropped, not refused: were the filter on
        # correlation_id ignored, the newest incident of the whole instance would come back.
        # Taking that as ours would write notes into a stranger's ticket, so stop instead.
        if found.get("correlation_id") != dedup_key:
            raise DeliveryError(
                f"{what}: the instance answered correlation_id={dedup_key} with "
                f"{found.get('number') or found.get('sys_id')!r} whose correlation_id is "
                f"{found.get('correlation_id')!r}; the filter was ignored (is correlation_id "
                f"readable on incident for this user?)",
                retryable=False,
                status=response.status_code,
            )
        sys_id = found.get("sys_id")
        if not isinstance(sys_id, str) or not sys_id:
            raise DeliveryError(
                f"{what}: no sys_id in the result of GET {response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        return self._ref(sys_id)

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        # work_notes are for the fulfillers; comments go to the caller too.
        field = "work_notes" if internal else "comments"
        self._call("servicenow note", "PATCH", self._record(ref), json={field: text})

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "servicenow attach"
        response = self._call(
            what,
            "POST",
            "/api/now/attachment/file",
            headers={"Content-Type": file.media_type},
            params={"table_name": "incident", "table_sys_id": ref.id, "file_name": file.name},
            content=file.content,
        )
        _result(json_of(response, what), "sys_id", what, response)

    def resolve(self, ref: Ref, text: str) -> None:
        self._call(
            "servicenow resolve",
            "PATCH",
            self._record(ref),
            json={"state": STATE_RESOLVED, "close_code": self._close_code, "close_notes": text},
        )

    def reopen(self, ref: Ref, text: str) -> None:
        self._call(
            "servicenow reopen",
            "PATCH",
            self._record(ref),
            json={"state": STATE_IN_PROGRESS, "work_notes": text},
        )
