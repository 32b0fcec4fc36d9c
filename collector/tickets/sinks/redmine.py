"""Redmine (REST API, JSON): issues in a project, the key in an issue custom field.

Notes are journal entries with private_notes (visible to roles allowed to see private
notes only). Files go up first (POST /uploads.json answers a token) and are then bound to
the issue by an update carrying the token. Redmine's status ids are instance data, so the
resolved and reopened status ids are settings (defaults: stock data 3 Resolved, 2 In
Progress). The custom field must be marked "used as a filter", or find() cannot search it.

Sources: redmine.org wiki Rest_api (X-Redmine-API-Key, Content-Type on POST/PUT,
attaching files), Rest_Issues (create/update, filters cf_N, status_id=open, sort, limit).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

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

# Stock priorities (redmine:load_default_data): 1 Low, 2 Normal, 3 High, 4 Urgent, 5 Immediate.
DEFAULT_PRIORITIES: Mapping[str, int] = {"P1": 5, "P2": 4, "P3": 3, "P4": 2, "P5": 1}


class RedmineSink(ClientOwner):
    name = "redmine"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        project_id: int | str,
        key_field_id: int,
        tracker_id: int | None = None,
        priorities: Mapping[str, int] | None = None,
        resolved_status_id: int = 3,
        reopen_status_id: int = 2,
        description: Literal["markdown", "text"] = "markdown",
        client: httpx.Client | None = None,
    ) -> None:
        """project_id: the project's id or identifier; key_field_id: the issue custom field
        holding the key; tracker_id: None leaves the project's default tracker; description:
        "markdown" for the CommonMark/Markdown text formatting, "text" for Textile or none."""
        self._base = base_url.rstrip("/")
        self._headers = {"X-Redmine-API-Key": api_key, "Accept": "application/json"}
        self._project = project_id
        self._cf = key_field_id
        self._tracker = tracker_id
        self._priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self._resolved = resolved_status_id
        self._reopen = reopen_status_id
        self._description = description
        self._use(client)

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        return send(self._client, what, method, f"{self._base}/{path}", headers=headers,
                    **kwargs)  # fmt: skip

    def _ref(self, issue_id: str) -> Ref:
        return Ref(id=issue_id, url=f"{self._base}/issues/{issue_id}")

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "redmine create"
        issue: dict[str, Any] = {
            "project_id": self._project,
            "subject": ticket.summary,
            "description": ticket.markdown if self._description == "markdown" else ticket.text,
            "priority_id": self._priorities.get(ticket.priority, 2),
            "custom_fields": [{"id": self._cf, "value": ticket.dedup_key}],
        }
        if self._tracker is not None:
            issue["tracker_id"] = self._tracker
        resp = self._send(what, "POST", "issues.json", json={"issue": issue})
        data = json_of(resp, what)
        issue_data = data.get("issue") if isinstance(data, dict) else None
        return self._ref(_id_field(issue_data, what, resp, "issue.id"))

    def find(self, dedup_key: str) -> Ref | None:
        what = "redmine find"
        params = {
            f"cf_{self._cf}": dedup_key,
            "status_id": "open",
            "sort": "created_on:desc",
            "limit": "1",
        }
        resp = self._send(what, "GET", "issues.json", params=params)
        data = json_of(resp, what)
        issues = data.get("issues") if isinstance(data, dict) else None
        if not isinstance(issues, list):
            raise DeliveryError(
                f"{what}: response of GET {resp.request.url.path} has no 'issues'",
                retryable=False,
                status=resp.status_code,
            )
        return self._ref(_id_field(issues[0], what, resp, "issues[0].id")) if issues else None

    def _update(self, what: str, ref: Ref, issue: Mapping[str, Any]) -> None:
        self._send(what, "PUT", f"issues/{_number(ref.id, what)}.json", json={"issue": issue})

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        self._update("redmine note", ref, {"notes": text, "private_notes": internal})

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "redmine attach"
        _number(ref.id, what)  # before the upload: a bad ref would leave an orphan file
        resp = self._send(
            what,
            "POST",
            "uploads.json",
            params={"filename": file.name},
            content=file.content,
            headers={"Content-Type": "application/octet-stream"},
        )
        data = json_of(resp, what)
        upload = data.get("upload") if isinstance(data, dict) else None
        token = upload.get("token") if isinstance(upload, dict) else None
        if not isinstance(token, str) or not token:
            raise DeliveryError(
                f"{what}: response of POST {resp.request.url.path} has no 'upload.token'",
                retryable=False,
                status=resp.status_code,
            )
        issue = {
            "notes": f"Attached {file.name} ({len(file.content)} bytes, sha256 {file.sha256})",
            "private_notes": True,
            "uploads": [{"token": token, "filename": file.name, "content_type": file.media_type}],
        }
        self._update(what, ref, issue)

    def resolve(self, ref: Ref, text: str) -> None:
        issue = {"status_id": self._resolved, "notes": text, "private_notes": True}
        self._update("redmine resolve", ref, issue)

    def reopen(self, ref: Ref, text: str) -> None:
        issue = {"status_id": self._reopen, "notes": text, "private_notes": True}
        self._update("redmine reopen", ref, issue)


def _number(issue_id: str, what: str) -> int:
    try:
        return int(issue_id)
    except ValueError:
        raise DeliveryError(f"{what}: issue id {issue_id!r} is not a Redmine id",
                            retryable=False) from None  # fmt: skip


def _id_field(data: Any, what: str, resp: httpx.Response, name: str = "id") -> str:
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise DeliveryError(
            f"{what}: response of {resp.request.method} {resp.request.url.path} has no {name!r}",
            retryable=False,
            status=resp.status_code,
        )
    return str(value)
