"""The REST API (/api/v1): hosts, findings, tickets, incidents, rules, silences, tokens.

Lists are pages: `limit` (1..500) and `offset`, answered as {items, total, limit, offset,
next}; `next` is the URL of the following page or null. Filters are query parameters.
Every read needs the viewer role; acting on tickets L1 or L2, silences L2, tokens admin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from agent.common.config import _DURATION_UNITS, _parse_quantity
from collector.store import Resolution, Silence, TicketError, TicketState
from collector.store.accounts import AccountError
from collector.store.model import Role
from collector.tickets.report import report_of
from collector.web.auth import Permission, Principal, digest, new_api_token
from collector.web.security import console_of, require
from collector.web.views import (
    Console,
    delivery_json,
    finding_json,
    host_json,
    host_row_json,
    incident_json,
    note_json,
    rule_json,
    silence_json,
    ticket_json,
    when,
)

# The bearer scheme is declared for the OpenAPI document (clients generated from it send
# the token); it never rejects anything itself: security.require decides, and also
# accepts the console's session cookie.
BEARER_AUTH = HTTPBearer(
    auto_error=False, bearerFormat="rdg_...",
    description="An API token: `rdiag-collector tokens add NAME --role ROLE`.",
)  # fmt: skip
router = APIRouter(prefix="/api/v1", dependencies=[Security(BEARER_AUTH)])

Reader = Annotated[Principal, Depends(require(Permission.READ))]
L1 = Annotated[Principal, Depends(require(Permission.ACKNOWLEDGE))]
L2 = Annotated[Principal, Depends(require(Permission.WORK))]
Admin = Annotated[Principal, Depends(require(Permission.ADMIN))]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
Text = Annotated[str | None, Query(max_length=200)]


def page(request: Request, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    following = None
    if offset + len(items) < total:
        following = str(request.url.include_query_params(offset=offset + limit))
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": following}


class Strict(BaseModel):
    # An unknown field is an error, not a silent drop: a typo'd "assigne" must not pass.
    model_config = ConfigDict(extra="forbid")


class AssignBody(Strict):
    assignee: str = Field(min_length=1, max_length=100)


class CommentBody(Strict):
    text: str = Field(min_length=1, max_length=20_000)


class ResolveBody(Strict):
    resolution: Literal["fixed", "wont_fix", "duplicate"] = "fixed"
    note: str = Field(default="", max_length=20_000)


class SilenceBody(Strict):
    scope: Literal["host", "site", "rule"]
    value: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2_000)
    duration: str = Field(description="how long: 30m, 2h, 3d", max_length=20)


class TokenBody(Strict):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["viewer", "L1", "L2", "admin"]


# A silence longer than a year is a rule to retire, not maintenance; the bound also keeps
# the expiry a time that can be stored and shown (an unbounded one failed every silences
# list with a 500).
MAX_SILENCE_S = 365 * 86_400


def invalid(where: tuple[str, ...], problem: str, given: Any) -> RequestValidationError:
    """A 422 like the ones FastAPI raises itself: {error, problems: [{where, problem}]}."""
    return RequestValidationError([{"type": "value_error", "loc": where, "msg": problem,
                                    "input": given}])  # fmt: skip


def parse_duration_ms(text: str) -> int:
    seconds = _parse_quantity(text, _DURATION_UNITS)
    if seconds is None or seconds <= 0:
        raise invalid(("body", "duration"), f"expected such as 30m, 2h or 3d, got {text!r}", text)
    if seconds > MAX_SILENCE_S:
        raise invalid(("body", "duration"), f"at most 365d, got {text!r}", text)
    return int(seconds * 1000)


def ticket_error(exc: TicketError) -> HTTPException:
    """A refused ticket action: 404 for an unknown ticket, 409 for one in the wrong state."""
    text = str(exc)
    return HTTPException(404 if text.startswith("no ticket") else 409, text)


def silence(c: Console, scope: str, value: str, reason: str, duration: str, who: str) -> Silence:
    """Add a silence for `duration` from now (the API and the console's forms)."""
    expires = c.clock() + parse_duration_ms(duration)
    try:
        return c.store.add_silence(scope, value, reason=reason, who=who, expires_ms=expires)
    except TicketError as exc:  # a blank value: the other fields are checked by their models
        raise invalid(("body", "value"), str(exc), value) from None


def bounded_page(rows: list[Any], limit: int, offset: int) -> tuple[list[Any], int]:
    """(this page, total) from a store list read with limit offset + limit + 1: the extra
    row says whether a next page exists without counting the whole table, so the total is
    exact on the last page and "at least" before it."""
    items = rows[offset : offset + limit]
    return items, offset + len(items) + (1 if len(rows) > offset + limit else 0)


# -- hosts ---------------------------------------------------------------------------


@router.get("/hosts", summary="Hosts, by hostname, with their open tickets")
def list_hosts(
    request: Request, who: Reader, limit: Limit = 50, offset: Offset = 0, q: Text = None,
    stale: Annotated[bool | None, Query(description="only hosts not seen recently")] = None,
    open_tickets: Annotated[bool | None, Query(description="with open tickets or without")] = None,
) -> dict[str, Any]:  # fmt: skip
    if stale is False:
        raise invalid(("query", "stale"), "only stale=true filters; leave it out for every host",
                      stale)  # fmt: skip
    c = console_of(request)
    cutoff = c.wall_clock() - c.stale_after_ms
    rows, total = c.store.page_hosts(
        q=q, stale_before_ms=cutoff if stale else None, with_open_tickets=open_tickets,
        limit=limit, offset=offset,
    )  # fmt: skip
    return page(request, [host_row_json(r, cutoff) for r in rows], total, limit, offset)


@router.get("/hosts/{agent_id}", summary="One host: inventory and agent health")
def get_host(request: Request, agent_id: str, who: Reader) -> dict[str, Any]:
    c = console_of(request)
    host = c.store.get_host(agent_id)
    if host is None:
        raise HTTPException(404, f"no host {agent_id!r}")
    return host_json(host, c.store.agent_health(agent_id))


# -- findings ------------------------------------------------------------------------


@router.get("/findings", summary="What the rules found, newest first")
def list_findings(
    request: Request, who: Reader, limit: Limit = 50, offset: Offset = 0,
    host: Text = None, phase: Literal["active", "cleared"] | None = None,
) -> dict[str, Any]:  # fmt: skip
    store = console_of(request).store
    rows = store.list_findings(agent_id=host, phase=phase, limit=offset + limit + 1)
    items, total = bounded_page(rows, limit, offset)
    return page(request, [finding_json(f) for f in items], total, limit, offset)


# -- tickets -------------------------------------------------------------------------


@router.get("/tickets", summary="Tickets, newest first, filtered")
def list_tickets(
    request: Request, who: Reader, limit: Limit = 50, offset: Offset = 0,
    state: TicketState | None = None,
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None,
    tier: Literal["L1", "L2", "L3"] | None = None,
    kind: Literal["host", "fleet", "storm", "problem"] | None = None,
    host: Text = None, rule: Text = None, assignee: Text = None,
    incident: Annotated[int | None, Query(ge=1)] = None, q: Text = None,
    after_id: Annotated[int | None, Query(ge=0, description="only newer tickets than this")] = None,
) -> dict[str, Any]:  # fmt: skip
    rows, total = console_of(request).store.page_tickets(
        state=state, priority=priority, tier=tier, kind=kind, agent_id=host, rule_id=rule,
        assignee=assignee, incident_id=incident, q=q, after_id=after_id, limit=limit,
        offset=offset,
    )  # fmt: skip
    return page(request, [ticket_json(t) for t in rows], total, limit, offset)


@router.get("/tickets/{ticket_id}", summary="One ticket with its report, notes and deliveries")
def get_ticket(request: Request, ticket_id: int, who: Reader) -> dict[str, Any]:
    store = console_of(request).store
    ticket = store.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(404, f"no ticket #{ticket_id}")
    report = report_of(store, ticket)
    return {
        **ticket_json(ticket),
        "report": report.data(),
        "notes": [note_json(n) for n in report.notes],
        "deliveries": [delivery_json(d) for d in store.deliveries(ticket_id=ticket_id)],
    }


def _act(request: Request, ticket_id: int, action: Any) -> dict[str, Any]:
    try:
        return ticket_json(action(console_of(request).store))
    except TicketError as exc:
        raise ticket_error(exc) from None


@router.post("/tickets/{ticket_id}/acknowledge", summary="Acknowledge (L1)")
def acknowledge(request: Request, ticket_id: int, who: L1) -> dict[str, Any]:
    return _act(request, ticket_id, lambda s: s.acknowledge(ticket_id, who.name))


@router.post("/tickets/{ticket_id}/assign", summary="Assign (L1: to oneself; L2: to anyone)")
def assign(request: Request, ticket_id: int, body: AssignBody, who: L1) -> dict[str, Any]:
    if body.assignee != who.name and not who.may(Role.L2):
        raise HTTPException(403, "the L1 role may assign a ticket only to oneself")
    return _act(request, ticket_id, lambda s: s.assign(ticket_id, body.assignee, who.name))


@router.post("/tickets/{ticket_id}/comment", summary="Add a note (L1)")
def comment(request: Request, ticket_id: int, body: CommentBody, who: L1) -> dict[str, Any]:
    return _act(request, ticket_id, lambda s: s.comment(ticket_id, body.text, who.name))


@router.post("/tickets/{ticket_id}/resolve", summary="Resolve (L2)")
def resolve(request: Request, ticket_id: int, body: ResolveBody, who: L2) -> dict[str, Any]:
    how = Resolution(body.resolution)
    return _act(request, ticket_id,
                lambda s: s.resolve_ticket(ticket_id, who.name, how, body.note))  # fmt: skip


@router.post("/tickets/{ticket_id}/reopen", summary="Reopen a resolved ticket (L2)")
def reopen(request: Request, ticket_id: int, who: L2) -> dict[str, Any]:
    return _act(request, ticket_id, lambda s: s.reopen_ticket(ticket_id, who.name))


# -- incidents -----------------------------------------------------------------------


@router.get("/incidents", summary="Fleet incidents, newest first")
def list_incidents(
    request: Request, who: Reader, limit: Limit = 50, offset: Offset = 0,
    state: Literal["open", "resolved"] | None = None,
) -> dict[str, Any]:  # fmt: skip
    store = console_of(request).store
    rows = store.list_incidents(state=state, limit=offset + limit + 1)
    items, total = bounded_page(rows, limit, offset)
    return page(request, [incident_json(i, with_hosts=False) for i in items], total, limit,
                offset)  # fmt: skip


@router.get("/incidents/{incident_id}", summary="One incident with every affected host")
def get_incident(request: Request, incident_id: int, who: Reader) -> dict[str, Any]:
    incident = console_of(request).store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident #{incident_id}")
    return incident_json(incident)


# -- rules ---------------------------------------------------------------------------


@router.get("/rules", summary="The loaded rule pack, hit counts and load errors")
def list_rules(request: Request, who: Reader) -> dict[str, Any]:
    view = console_of(request).rules()
    return {"folder": view.folder, "items": [rule_json(r) for r in view.rules],
            "total": len(view.rules), "load_errors": list(view.load_errors),
            "reloads": view.reloads, "failed_reloads": view.failed_reloads}  # fmt: skip


# -- silences ------------------------------------------------------------------------


@router.get("/silences", summary="Maintenance silences")
def list_silences(request: Request, who: Reader, include_expired: bool = False) -> dict[str, Any]:
    rows = console_of(request).store.list_silences(include_expired=include_expired)
    return {"items": [silence_json(s) for s in rows], "total": len(rows)}


@router.post("/silences", status_code=201, summary="Silence a host, a site or a rule (L2)")
def add_silence(request: Request, body: SilenceBody, who: L2) -> dict[str, Any]:
    c = console_of(request)
    return silence_json(silence(c, body.scope, body.value, body.reason, body.duration, who.name))


@router.delete("/silences/{silence_id}", summary="End a silence (L2)")
def remove_silence(request: Request, silence_id: int, who: L2) -> dict[str, Any]:
    if not console_of(request).store.remove_silence(silence_id):
        raise HTTPException(404, f"no silence #{silence_id}")
    return {"removed": silence_id}


# -- API tokens ----------------------------------------------------------------------


@router.get("/tokens", summary="API tokens (admin); never their secrets")
def list_tokens(request: Request, who: Admin) -> dict[str, Any]:
    rows = console_of(request).store.list_tokens()
    items = [{"name": t.name, "role": t.role.value, "created_by": t.created_by,
              "created_at": when(t.created_ms), "last_used_at": when(t.last_used_ms)}
             for t in rows]  # fmt: skip
    return {"items": items, "total": len(items)}


@router.post("/tokens", status_code=201, summary="Create an API token (admin); shown once")
def add_token(request: Request, body: TokenBody, who: Admin) -> dict[str, Any]:
    secret = new_api_token()
    try:
        t = console_of(request).store.add_token(body.name, body.role, digest(secret), who.name)
    except AccountError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"name": t.name, "role": t.role.value, "token": secret}


@router.delete("/tokens/{name}", summary="Revoke an API token (admin)")
def remove_token(request: Request, name: str, who: Admin) -> dict[str, Any]:
    if not console_of(request).store.remove_token(name):
        raise HTTPException(404, f"no token {name!r}")
    return {"removed": name}
