"""Jira Cloud (platform REST v3) and Jira Service Management adapters.

Jira has no native correlation field, so the dedup key travels as a label (labels cannot
hold spaces and stop at 255 characters; our keys are short hex). Both adapters share the
platform endpoints for what JSM has no own door for: JQL search, workflow transitions and
issue links. Create keeps the new issue key in the memo, so a retry after a failed link or
label step finishes the job on the same issue instead of opening a second one; that also
covers the eventual consistency of /search/jql, which may not show a fresh issue yet.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
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

DEFAULT_PRIORITIES: Mapping[str, str] = MappingProxyType(
    {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low", "P5": "Lowest"}
)
LABEL = "rdiag"  # every issue we open carries it: one JQL finds all of them

_FENCE = re.compile(r"```\s*([\w+-]*)\s*")
_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def basic_auth(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def _inline(line: str) -> list[dict[str, Any]]:
    """Text nodes of one line; **bold** and `code` become marks (ADF forbids empty text)."""
    nodes: list[dict[str, Any]] = []
    pos = 0
    for m in _INLINE.finditer(line):
        if m.start() > pos:
            nodes.append({"type": "text", "text": line[pos : m.start()]})
        mark = "strong" if m.group(1) is not None else "code"
        nodes.append({"type": "text", "text": m.group(1) or m.group(2), "marks": [{"type": mark}]})
        pos = m.end()
    if pos < len(line):
        nodes.append({"type": "text", "text": line[pos:]})
    return nodes


def adf(markdown: str) -> dict[str, Any]:
    """A minimal Atlassian Document Format doc: paragraphs (lines joined by hard breaks)
    and fenced code blocks. v3 rejects a plain string description, and a faithful Markdown
    converter is not worth a dependency for the reports we render."""
    blocks: list[dict[str, Any]] = []
    lines: list[str] = []
    code: list[str] | None = None
    language = ""

    def paragraph() -> None:
        content: list[dict[str, Any]] = []
        for line in lines:
            if content:
                content.append({"type": "hardBreak"})
            content += _inline(line)
        if content:
            blocks.append({"type": "paragraph", "content": content})
        lines.clear()

    def code_block(body: list[str]) -> None:
        block: dict[str, Any] = {"type": "codeBlock"}
        if language:
            block["attrs"] = {"language": language}
        if body:
            block["content"] = [{"type": "text", "text": "\n".join(body)}]
        blocks.append(block)

    for line in markdown.splitlines():
        if code is not None:
            if line.strip() == "```":
                code_block(code)
                code = None
            else:
                code.append(line)
            continue
        fence = _FENCE.fullmatch(line.strip())
        if fence:
            paragraph()
            code, language = [], fence.group(1)
        elif line.strip():
            lines.append(line)
        else:
            paragraph()
    paragraph()
    if code is not None:  # an unterminated fence still shows its text
        code_block(code)
    return {"type": "doc", "version": 1, "content": blocks or [{"type": "paragraph"}]}


def _is(named: Any, wanted: str) -> bool:
    """Jira names are matched case-insensitively: "done" is the "Done" transition."""
    return isinstance(named, dict) and str(named.get("name", "")).casefold() == wanted.casefold()


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(body: Any, key: str, what: str, response: httpx.Response) -> str:
    """body[key] as a non-empty string, else a non-retryable error naming field and endpoint."""
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    raise DeliveryError(
        f"{what}: no {key!r} in the response to {response.request.method} "
        f"{response.request.url.path}",
        retryable=False,
        status=response.status_code,
    )


class _JiraPlatform(RestClient):
    """What both adapters do through the platform API: search, transitions, links."""

    name = "jira"

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        priority_names: Mapping[str, str],
        dedup_field: str | None,
        resolve_transition: str,
        reopen_transition: str,
        resolution: str | None,
        link_type: str,
        client: httpx.Client | None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {
            "Authorization": basic_auth(email, api_token),
            "Accept": "application/json",
        }
        self._priorities = dict(priority_names)
        self._dedup_field = dedup_field
        self._resolve_transition = resolve_transition
        self._reopen_transition = reopen_transition
        self._resolution = resolution
        self._link_type = link_type
        self._use(client)

    def _issue_url(self, key: str) -> str:
        return f"{self._base}/browse/{key}"

    @staticmethod
    def _path_key(ref: Ref) -> str:
        return quote(ref.id, safe="")

    def find(self, dedup_key: str) -> Ref | None:
        what = "jira find"
        jql = f"labels = {_jql_string(dedup_key)} AND statusCategory != Done ORDER BY created DESC"
        response = self._call(
            what,
            "GET",
            "/rest/api/3/search/jql",
            params={"jql": jql, "fields": "key", "maxResults": "1"},
        )
        body = json_of(response, what)
        issues = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(issues, list):
            raise DeliveryError(
                f"{what}: no 'issues' list in the response to GET {response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        if not issues:
            return None
        key = _field(issues[0], "key", what, response)
        return Ref(key, self._issue_url(key))

    def _link(self, key: str, previous: Ref) -> None:
        """A recurrence points at the ticket it repeats, so people see the history."""
        self._call(
            "jira link",
            "POST",
            "/rest/api/3/issueLink",
            json={
                "type": {"name": self._link_type},
                "inwardIssue": {"key": key},
                "outwardIssue": {"key": previous.id},
            },
        )

    def _finish_create(self, ticket: Outgoing, memo: MutableMapping[str, str], key: str) -> Ref:
        if ticket.previous is not None and memo.get("linked") != "1":
            self._link(key, ticket.previous)
            memo["linked"] = "1"
        return Ref(key, memo.get("url") or self._issue_url(key))

    def _transition(self, ref: Ref, wanted: str, done: bool, what: str) -> None:
        """Run the workflow transition named `wanted` (or with that id, or leading to a
        status of that name: workflows differ per site). When the issue has none but is
        already where it would lead (a retry after the transition went through), there is
        nothing to do; otherwise say which transitions the issue offers."""
        path = f"/rest/api/3/issue/{self._path_key(ref)}/transitions"
        response = self._call(what, "GET", path)
        body = json_of(response, what)
        found = body.get("transitions") if isinstance(body, dict) else None
        transitions = [t for t in found or [] if isinstance(t, dict)]
        match = next((t for t in transitions if _is(t, wanted) or str(t.get("id")) == wanted), None)
        if match is None:  # then by the status it leads to: "Done" finds "Close Issue" too
            match = next((t for t in transitions if _is(t.get("to"), wanted)), None)
        if match is not None:
            payload: dict[str, Any] = {"transition": {"id": str(match.get("id"))}}
            if done and self._resolution:
                payload["fields"] = {"resolution": {"name": self._resolution}}
            self._call(what, "POST", path, json=payload)
            return
        if self._status_is_done(ref, what) == done:
            return
        names = ", ".join(repr(str(t.get("name"))) for t in transitions) or "none"
        raise DeliveryError(
            f"{what}: issue {ref.id} has no transition named {wanted!r} (available: {names})",
            retryable=False,
        )

    def _status_is_done(self, ref: Ref, what: str) -> bool:
        response = self._call(
            what, "GET", f"/rest/api/3/issue/{self._path_key(ref)}", params={"fields": "status"}
        )
        body = json_of(response, what)
        fields = body.get("fields") if isinstance(body, dict) else None
        status = fields.get("status") if isinstance(fields, dict) else None
        category = status.get("statusCategory") if isinstance(status, dict) else None
        return isinstance(category, dict) and category.get("key") == "done"

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        raise NotImplementedError

    def resolve(self, ref: Ref, text: str) -> None:
        # Transition first: a retry after the note failed finds the issue already done
        # and only adds the note, instead of writing it twice.
        self._transition(ref, self._resolve_transition, True, "jira resolve")
        self.note(ref, text)

    def reopen(self, ref: Ref, text: str) -> None:
        self._transition(ref, self._reopen_transition, False, "jira reopen")
        self.note(ref, text)


class JiraSink(_JiraPlatform):
    """A Jira Cloud project through the platform REST API v3."""

    name = "jira"

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        project_key: str,
        issue_type: str = "Incident",
        priority_names: Mapping[str, str] = DEFAULT_PRIORITIES,
        dedup_field: str | None = None,
        resolve_transition: str = "Done",
        reopen_transition: str = "To Do",
        resolution: str | None = None,
        comment_visibility: Mapping[str, str] | None = None,
        link_type: str = "Relates",
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            email=email,
            api_token=api_token,
            priority_names=priority_names,
            dedup_field=dedup_field,
            resolve_transition=resolve_transition,
            reopen_transition=reopen_transition,
            resolution=resolution,
            link_type=link_type,
            client=client,
        )
        self._project = project_key
        self._issue_type = issue_type
        # Platform comments have no internal flag; a role/group restriction such as
        # {"type": "role", "value": "Developers"} is the closest thing.
        self._visibility = dict(comment_visibility) if comment_visibility else None

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "jira create"
        key = memo.get("key")
        if not key:
            fields: dict[str, Any] = {
                "project": {"key": self._project},
                "issuetype": {"name": self._issue_type},
                "summary": ticket.summary,
                "description": adf(ticket.markdown),
                "labels": [ticket.dedup_key, LABEL],
            }
            priority = self._priorities.get(ticket.priority)
            if priority:
                fields["priority"] = {"name": priority}
            if self._dedup_field:
                fields[self._dedup_field] = ticket.dedup_key
            response = self._call(what, "POST", "/rest/api/3/issue", json={"fields": fields})
            key = _field(json_of(response, what), "key", what, response)
            memo["key"] = key
        return self._finish_create(ticket, memo, key)

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        payload: dict[str, Any] = {"body": adf(text)}
        if internal and self._visibility:
            payload["visibility"] = self._visibility
        self._call(
            "jira note", "POST", f"/rest/api/3/issue/{self._path_key(ref)}/comment", json=payload
        )

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "jira attach"
        response = self._call(
            what,
            "POST",
            f"/rest/api/3/issue/{self._path_key(ref)}/attachments",
            headers={"X-Atlassian-Token": "no-check"},  # else the XSRF check rejects multipart
            files={"file": (file.name, file.content, file.media_type)},
        )
        body = json_of(response, what)
        if not (isinstance(body, list) and body):
            raise DeliveryError(
                f"{what}: no attachment in the response to POST {response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        _field(body[0], "id", what, response)


class JiraServiceManagementSink(_JiraPlatform):
    """A JSM service desk: requests through /rest/servicedeskapi, the rest through the
    platform API (JSM issues are Jira issues)."""

    name = "jsm"

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        service_desk_id: str,
        request_type_id: str,
        labels_on_form: bool = True,
        priority_on_form: bool = False,
        priority_names: Mapping[str, str] = DEFAULT_PRIORITIES,
        dedup_field: str | None = None,
        resolve_transition: str = "Done",
        reopen_transition: str = "To Do",
        resolution: str | None = None,
        link_type: str = "Relates",
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            email=email,
            api_token=api_token,
            priority_names=priority_names,
            dedup_field=dedup_field,
            resolve_transition=resolve_transition,
            reopen_transition=reopen_transition,
            resolution=resolution,
            link_type=link_type,
            client=client,
        )
        self._desk = service_desk_id
        self._request_type = request_type_id
        # requestFieldValues may only name fields on the request type's form; when Labels
        # (and the dedup custom field) are not there, they are set through the platform.
        self._labels_on_form = labels_on_form
        self._priority_on_form = priority_on_form

    def _dedup_fields(self, ticket: Outgoing) -> dict[str, Any]:
        fields: dict[str, Any] = {"labels": [ticket.dedup_key, LABEL]}
        if self._dedup_field:
            fields[self._dedup_field] = ticket.dedup_key
        return fields

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "jsm create"
        key = memo.get("key")
        if not key:
            values: dict[str, Any] = {"summary": ticket.summary, "description": ticket.text}
            if self._labels_on_form:
                values.update(self._dedup_fields(ticket))
            priority = self._priorities.get(ticket.priority)
            if self._priority_on_form and priority:
                values["priority"] = {"name": priority}
            response = self._call(
                what,
                "POST",
                "/rest/servicedeskapi/request",
                json={
                    "serviceDeskId": self._desk,
                    "requestTypeId": self._request_type,
                    "requestFieldValues": values,
                },
            )
            body = json_of(response, what)
            key = _field(body, "issueKey", what, response)
            links = body.get("_links")
            web = links.get("web") if isinstance(links, dict) else None
            memo["key"] = key
            if isinstance(web, str) and web:
                memo["url"] = web
        if not self._labels_on_form and memo.get("labelled") != "1":
            self._call(
                "jsm label",
                "PUT",
                f"/rest/api/3/issue/{quote(key, safe='')}",
                json={"fields": self._dedup_fields(ticket)},
            )
            memo["labelled"] = "1"
        return self._finish_create(ticket, memo, key)

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        self._call(
            "jsm note",
            "POST",
            f"/rest/servicedeskapi/request/{self._path_key(ref)}/comment",
            json={"body": text, "public": not internal},
        )

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "jsm attach"
        response = self._call(
            what,
            "POST",
            f"/rest/servicedeskapi/servicedesk/{quote(self._desk, safe='')}/attachTemporaryFile",
            # no-check passes the XSRF guard on multipart; opt-in is what older JSM
            # releases demanded of this once-experimental resource and is ignored elsewhere.
            headers={"X-Atlassian-Token": "no-check", "X-ExperimentalApi": "opt-in"},
            files={"file": (file.name, file.content, file.media_type)},
        )
        body = json_of(response, what)
        temporary = body.get("temporaryAttachments") if isinstance(body, dict) else None
        if not (isinstance(temporary, list) and temporary):
            raise DeliveryError(
                f"{what}: no 'temporaryAttachments' in the response to POST "
                f"{response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        ids = [_field(t, "temporaryAttachmentId", what, response) for t in temporary]
        self._call(
            what,
            "POST",
            f"/rest/servicedeskapi/request/{self._path_key(ref)}/attachment",
            json={"temporaryAttachmentIds": ids, "public": False},
        )
