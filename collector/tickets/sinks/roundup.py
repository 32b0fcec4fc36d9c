"""Roundup issues through its REST API (roundup 2.6, doc/rest.txt).

The tracker needs the helpdesk fields on its issue class (correlation_id, impact,
urgency, category, assignment_group, ci: String; related: Multilink("issue")), P1..P5
priorities and the statuses named below; tests/helpers/roundup_tracker.py builds one.

Roundup specifics this adapter handles:
* CSRF: every non-GET call carries X-Requested-With and an Origin (and Referer) equal
  to the tracker's own origin, or Roundup refuses it.
* Optimistic locking: PATCH needs If-Match with the item's current ETag; on a 412
  (someone changed the issue in between) the adapter reads it again and retries once.
* Idempotent create with Post Once Exactly: a single-use URL from POST .../@poe is kept
  in the memo before the issue is posted to it, so a retry after a lost answer cannot
  make a second issue: Roundup refuses a used URL, and find() then names the issue.
* Messages have no public/internal flag: a note is a message like any other (who gets
  mail is the tracker's nosy configuration).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from collector.tickets.sinks.base import (
    DEFAULT_TIMEOUT,
    Attachment,
    DeliveryError,
    Outgoing,
    Ref,
    json_of,
    send,
)

# Roundup's filter syntax for Link properties takes an expression in reverse Polish
# notation where negative numbers are operators (roundup/mlink_expr.py).
_OR, _NOT = "-4", "-2"


def _not_any(names: Sequence[str]) -> str:
    """status filter value meaning "none of these" (an unset status counts as open)."""
    terms = [names[0]]
    for name in names[1:]:
        terms += [name, _OR]
    return ",".join([*terms, _NOT])


def _data(response: httpx.Response, what: str, *keys: str) -> Any:
    """body["data"][key]...; a missing part is a non-retryable error naming it and the endpoint."""
    value: Any = json_of(response, what)
    path: list[str] = []
    for key in ("data", *keys):
        path.append(key)
        value = value.get(key) if isinstance(value, dict) else None
        if value is None or value == "":
            raise DeliveryError(
                f"{what}: no {'.'.join(path)} in the response to {response.request.method} "
                f"{response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
    return value


def _poe_refused(exc: DeliveryError) -> bool:
    """Roundup's answer to a used or expired POE URL (the same 400 for both)."""
    return exc.status == 400 and "POE token" in str(exc)


class RoundupSink:
    name = "roundup"

    def __init__(
        self,
        *,
        base_url: str,
        user: str,
        password: str,
        new_status: str = "new",
        open_status: str = "open",
        resolved_status: str = "resolved",
        done_statuses: Sequence[str] = ("resolved", "closed", "wontfix"),
        client: httpx.Client | None = None,
    ) -> None:
        """base_url: the tracker's web URL without the trailing slash, e.g.
        http://127.0.0.1:8917/diag (the REST root is base_url + "/rest"). user/password:
        Basic auth for an account with Rest Access (role User suffices). done_statuses:
        what find() skips. A given client needs nothing set: auth and headers go with
        every request."""
        if not done_statuses:
            raise ValueError("done_statuses must name at least one status")
        self._base = base_url.rstrip("/")
        self._rest = self._base + "/rest"
        parts = urlsplit(self._base)
        self._auth = httpx.BasicAuth(user, password)
        self._user = user
        self._headers = {
            "Accept": "application/json",
            # CSRF defences of the REST interface (rest.txt "Preventing CSRF Attacks").
            "X-Requested-With": "rest",
            "Origin": f"{parts.scheme}://{parts.netloc}",
            "Referer": self._base + "/",
        }
        self._new = new_status
        self._open = open_status
        self._resolved = resolved_status
        self._not_done = _not_any(list(done_statuses))
        self._owns_client = client is None
        self._client = (
            client
            if client is not None
            else httpx.Client(timeout=DEFAULT_TIMEOUT, auth=self._auth, headers=self._headers)
        )

    # -- plumbing --------------------------------------------------------------------------

    def _call(
        self, what: str, method: str, url: str, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = self._rest + url
        return send(
            self._client,
            what,
            method,
            url,
            auth=self._auth,
            headers={**self._headers, **(headers or {})},
            **kw,
        )

    def _ref(self, issue_id: str) -> Ref:
        return Ref(issue_id, f"{self._base}/issue{issue_id}")

    @staticmethod
    def _path(ref_or_id: Ref | str) -> str:
        issue_id = ref_or_id.id if isinstance(ref_or_id, Ref) else ref_or_id
        return f"/data/issue/{quote(issue_id, safe='')}"

    def _new_msg(self, what: str, content: str) -> str:
        response = self._call(
            what,
            "POST",
            "/data/msg",
            # author and date are what the web UI shows; REST leaves them unset otherwise.
            json={"content": content, "author": self._user, "date": "."},
        )
        return str(_data(response, what, "id"))

    def _patch(
        self, what: str, ref: Ref, body: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> None:
        """PATCH the issue with If-Match; body() gets the current attributes (ids only).

        A 412 means the issue changed between our GET and PATCH (a human edited it):
        read it again and try once more; a second 412 is an error.
        """
        for attempt in (1, 2):
            response = self._call(what, "GET", self._path(ref), params={"@verbose": "0"})
            etag = str(_data(response, what, "@etag"))
            attributes = _data(response, what, "attributes")
            try:
                self._call(
                    what,
                    "PATCH",
                    self._path(ref),
                    headers={"If-Match": etag},
                    json=body(attributes),
                )
                return
            except DeliveryError as exc:
                if exc.status != 412 or attempt == 2:
                    raise

    def _post_once(self, what: str, memo: MutableMapping[str, str], body: Mapping[str, Any]) -> str:
        if "poe" not in memo:
            response = self._call(what + ": POE URL", "POST", "/data/issue/@poe")
            link = str(_data(response, what + ": POE URL", "link"))
            token = link.rstrip("/").rsplit("/@poe/", 1)[-1]
            # Rebuilt on our own base: the link uses the tracker's configured web URL,
            # which need not be how this collector reaches it.
            memo["poe"] = f"{self._rest}/data/issue/@poe/{quote(token, safe='')}"
        response = self._call(what, "POST", memo["poe"], json=body)
        return str(_data(response, what, "id"))

    # -- the port --------------------------------------------------------------------------

    def create(self, ticket: Outgoing, memo: MutableMapping[str, str]) -> Ref:
        what = "roundup create"
        if "msg" not in memo:
            # Kept so that a retry attaches this message instead of making another.
            # If only its answer is lost, a retry makes a second msg, but the first
            # stays attached to nothing, so nobody sees the report twice.
            memo["msg"] = self._new_msg(what + ": report message", ticket.markdown or ticket.text)
        related = [r.id for r in (ticket.previous, ticket.problem) if r is not None]
        body = {
            "title": ticket.summary,
            "priority": ticket.priority,
            "status": self._new,
            "correlation_id": ticket.dedup_key,
            "impact": str(ticket.impact),
            "urgency": str(ticket.urgency),
            "category": ticket.category,
            "assignment_group": ticket.assignment_group,
            "ci": ticket.hostname,
            "related": related,
            "messages": [memo["msg"]],
        }
        try:
            return self._ref(self._post_once(what, memo, body))
        except DeliveryError as exc:
            if not _poe_refused(exc):
                raise
        # The URL was used (an earlier attempt created the issue and its answer got
        # lost; or it failed after Roundup spent the token) or it expired: Roundup
        # says the same for all. An issue with our key tells which.
        found = self.find(ticket.dedup_key)
        if found is not None:
            return found
        del memo["poe"]
        return self._ref(self._post_once(what, memo, body))

    def find(self, dedup_key: str) -> Ref | None:
        what = "roundup find"
        params = {
            "correlation_id:": dedup_key,  # ":" = exact, case-sensitive; "=" is a substring
            "status": self._not_done,
            "@sort": "-id",
            "@page_size": "1",
        }
        response = self._call(what, "GET", "/data/issue", params=params)
        items = _data(response, what, "collection")
        if not isinstance(items, list):
            raise DeliveryError(
                f"{what}: no data.collection list in the response to GET "
                f"{response.request.url.path}",
                retryable=False,
                status=response.status_code,
            )
        for item in items:
            if isinstance(item, dict) and item.get("id"):
                return self._ref(str(item["id"]))
        return None

    def note(self, ref: Ref, text: str, *, internal: bool = True) -> None:
        what = "roundup note"
        msg = self._new_msg(what, text)
        self._patch(what, ref, lambda _: {"@op": "add", "messages": [msg]})

    def attach(self, ref: Ref, file: Attachment) -> None:
        what = "roundup attach"
        response = self._call(
            what,
            "POST",
            "/data/file",
            data={"name": file.name, "type": file.media_type},
            files={"content": (file.name, file.content, file.media_type)},
        )
        file_id = str(_data(response, what, "id"))
        self._patch(what, ref, lambda _: {"@op": "add", "files": [file_id]})

    def _set_status(self, what: str, ref: Ref, text: str, status: str) -> None:
        msg = self._new_msg(what, text)

        # One PATCH for message and status: both land or neither. "add" would
        # concatenate a Link's id strings, so this replaces the message list in full;
        # If-Match guarantees it is the list we read.
        def body(current: Mapping[str, Any]) -> dict[str, Any]:
            messages = [str(m) for m in current.get("messages") or []]
            return {"@op": "replace", "messages": [*messages, msg], "status": status}

        self._patch(what, ref, body)

    def resolve(self, ref: Ref, text: str) -> None:
        self._set_status("roundup resolve", ref, text, self._resolved)

    def reopen(self, ref: Ref, text: str) -> None:
        self._set_status("roundup reopen", ref, text, self._open)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
