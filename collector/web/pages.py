"""The console's pages: server-rendered HTML (Jinja2), forms that post and redirect back.

A page reads the store once per part it shows, each part a bounded query, so a page
costs the same with 10 hosts or 10,000. Actions are plain forms (they work without
JavaScript); the only script adds the live feed of new tickets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from collector.store import Resolution, TicketError, TicketState
from collector.store.model import Role
from collector.tickets.policy import PRIORITIES
from collector.tickets.report import report_of
from collector.web.api import silence, ticket_error
from collector.web.auth import (
    SESSION_COOKIE,
    Permission,
    Principal,
    check_password,
    digest,
    new_secret,
    same,
)
from collector.web.security import console_of, require
from collector.web.views import ticket_json, when

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["when"] = when
TEMPLATES.env.globals["PRIORITIES"] = PRIORITIES
TEMPLATES.env.globals["TIERS"] = ("L1", "L2", "L3")
TEMPLATES.env.globals["Role"] = Role

LOGIN_COOKIE = "rdiag_login"  # the login form's CSRF token (double submit): no session yet
PAGE = 50
HOST_WINDOW_MS = 7 * 86_400_000

router = APIRouter()

Viewer = Annotated[Principal, Depends(require(Permission.READ, page=True))]
L1 = Annotated[Principal, Depends(require(Permission.ACKNOWLEDGE, page=True))]
L2 = Annotated[Principal, Depends(require(Permission.WORK, page=True))]
Admin = Annotated[Principal, Depends(require(Permission.ADMIN, page=True))]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Text = Annotated[str | None, Query(max_length=200)]


def render(request: Request, name: str, who: Principal | None, status: int = 200,
           **context: Any) -> HTMLResponse:  # fmt: skip
    return TEMPLATES.TemplateResponse(
        request, name, {"who": who, "csrf": who.csrf if who else "", "flash":
                        request.query_params.get("done", ""), **context},
        status_code=status,
    )  # fmt: skip


def render_error(request: Request, status: int, text: str) -> Response:
    who: Principal | None = getattr(request.state, "principal", None)
    return render(request, "error.html", who, status=status, code=status, message=text)


def back(path: str, done: str) -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}{urlencode({'done': done})}", status_code=303)


def pager(request: Request, total: int, offset: int) -> dict[str, Any]:
    def at(o: int) -> str:
        return str(request.url.include_query_params(offset=o))

    return {
        "total": total, "first": offset + 1 if total else 0, "last": min(offset + PAGE, total),
        "prev": at(max(0, offset - PAGE)) if offset > 0 else "",
        "next": at(offset + PAGE) if offset + PAGE < total else "",
    }  # fmt: skip


def _safe_next(target: str) -> str:
    # Only a path on this console: an open redirect would make the login page a phishing aid.
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else "/"


# -- login ---------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    token = new_secret()
    response = render(request, "login.html", None, next=_safe_next(next), login_csrf=token,
                      error="")  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=console_of(request).secure_cookies, max_age=3600)  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    c = console_of(request)
    target = _safe_next(next)
    if not same(csrf, request.cookies.get(LOGIN_COOKIE, "")):
        raise HTTPException(403, "the login form expired: reload the page and try again")
    found = await run_in_threadpool(c.store.user_password, username)
    user = await run_in_threadpool(check_password, found, password)
    if user is None:
        token = new_secret()
        response = render(request, "login.html", None, status=401, next=target,
                          login_csrf=token, error="Wrong user name or password.")  # fmt: skip
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=c.secure_cookies, max_age=3600)  # fmt: skip
        return response
    secret, session_csrf = new_secret(), new_secret()
    await run_in_threadpool(c.store.open_session, user, digest(secret), session_csrf,
                            c.session_ttl_ms)  # fmt: skip
    redirect = RedirectResponse(target, status_code=303)
    redirect.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict",
                        secure=c.secure_cookies, max_age=c.session_ttl_ms // 1000)  # fmt: skip
    redirect.delete_cookie(LOGIN_COOKIE)
    return redirect


@router.post("/logout")
def logout(request: Request, who: Viewer) -> Response:
    if who.session_sha256:
        console_of(request).store.close_session(who.session_sha256)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- overview ------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Viewer) -> Response:
    c = console_of(request)
    now = c.clock()
    cutoff = c.wall_clock() - c.stale_after_ms
    summary = c.store.fleet_summary(stale_before_ms=cutoff)
    stale, _ = c.store.page_hosts(stale_before_ms=cutoff, limit=10)
    worst, _ = c.store.page_hosts(with_open_tickets=True, worst_first=True, limit=10)
    newest, _ = c.store.page_tickets(state=TicketState.OPEN, limit=10)
    incidents = c.store.list_incidents(state="open", limit=10)
    grid = {(p, t): summary.open_by_priority_tier.get((p, t), 0)
            for p in PRIORITIES for t in ("L1", "L2", "L3")}  # fmt: skip
    return render(
        request, "overview.html", who, summary=summary, grid=grid, stale=stale, worst=worst,
        newest=newest, incidents=incidents, deliveries=c.store.delivery_summary(), now=now,
        open_total=sum(summary.open_by_priority_tier.values()),
        newest_id=c.store.newest_ticket_id(),
    )  # fmt: skip


# -- hosts ---------------------------------------------------------------------------


@router.get("/hosts", response_class=HTMLResponse)
def hosts(
    request: Request, who: Viewer, offset: Offset = 0, q: Text = None,
    show: Literal["all", "stale", "open"] = "all",
) -> Response:  # fmt: skip
    c = console_of(request)
    cutoff = c.wall_clock() - c.stale_after_ms
    rows, total = c.store.page_hosts(
        q=q, stale_before_ms=cutoff if show == "stale" else None,
        with_open_tickets=True if show == "open" else None, limit=PAGE, offset=offset,
    )  # fmt: skip
    return render(request, "hosts.html", who, rows=rows, q=q or "", show=show, cutoff=cutoff,
                  pages=pager(request, total, offset))  # fmt: skip


def _host_report(request: Request, agent_id: str) -> Any:
    from collector.web import host_report as host_reports

    c = console_of(request)
    report = host_reports.host_report(c.store, agent_id, now_ms=c.clock(),
                                      window_ms=HOST_WINDOW_MS)  # fmt: skip
    if report is None:
        raise HTTPException(404, f"no host {agent_id!r}")
    return report


@router.get("/hosts/{agent_id}", response_class=HTMLResponse)
def host(request: Request, agent_id: str, who: Viewer) -> Response:
    report = _host_report(request, agent_id)
    # The report has read the host's tickets already (its exports list them).
    return render(request, "host.html", who, report=report, agent_id=agent_id,
                  body=Markup(report.html_fragment()), tickets=report.tickets[:PAGE],
                  quoted=quote(agent_id, safe=""))  # fmt: skip


@router.get("/hosts/{agent_id}/report.{fmt}")
def host_export(request: Request, agent_id: str, fmt: str, who: Viewer) -> Response:
    report = _host_report(request, agent_id)
    name = f"rdiag-host-{agent_id}"
    return _export(fmt, name, report.html, report.markdown, report.data)


# -- tickets -------------------------------------------------------------------------


@router.get("/tickets", response_class=HTMLResponse)
def tickets(
    request: Request, who: Viewer, offset: Offset = 0,
    # The filter form sends "" for "any" (and an empty text box): no filter, not bad input.
    state: Literal["", "open", "resolved", "closed", "merged", "held"] = "open",
    priority: Literal["", "P1", "P2", "P3", "P4", "P5"] = "",
    tier: Literal["", "L1", "L2", "L3"] = "", q: Text = None, host: Text = None,
    assignee: Text = None, rule: Text = None,
) -> Response:  # fmt: skip
    rows, total = console_of(request).store.page_tickets(
        state=TicketState(state) if state else None, priority=priority or None,
        tier=tier or None, q=q or None, agent_id=host or None, assignee=assignee or None,
        rule_id=rule or None, limit=PAGE, offset=offset,
    )  # fmt: skip
    filters = {"state": state, "priority": priority, "tier": tier, "q": q or "",
               "host": host or "", "assignee": assignee or "", "rule": rule or ""}  # fmt: skip
    return render(request, "tickets.html", who, rows=rows, filters=filters,
                  states=[s.value for s in TicketState], pages=pager(request, total, offset),
                  newest_id=console_of(request).store.newest_ticket_id())  # fmt: skip


def _ticket(request: Request, ticket_id: int) -> Any:
    ticket = console_of(request).store.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(404, f"no ticket #{ticket_id}")
    return ticket


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: int, who: Viewer) -> Response:
    store = console_of(request).store
    t = _ticket(request, ticket_id)
    report = report_of(store, t)
    return render(
        request, "ticket.html", who, t=t, body=Markup(report.html(with_notes=False)),
        notes=report.notes, files=report.files, refs=report.refs,
        deliveries=store.deliveries(ticket_id=ticket_id, limit=50),
        incident=store.get_incident(t.incident_id) if t.incident_id else None,
        resolutions=[r.value for r in Resolution if r is not Resolution.AUTO],
    )  # fmt: skip


@router.get("/tickets/{ticket_id}/report.{fmt}")
def ticket_export(request: Request, ticket_id: int, fmt: str, who: Viewer) -> Response:
    report = report_of(console_of(request).store, _ticket(request, ticket_id))

    def page_html() -> str:
        from collector.web.host_report import standalone_html

        return standalone_html(f"#{ticket_id} {report.ticket.summary}", report.html())

    return _export(fmt, f"rdiag-ticket-{ticket_id}", page_html, report.markdown, report.data)


@router.get("/tickets/{ticket_id}/files/{file_id}")
def ticket_file(request: Request, ticket_id: int, file_id: int, who: Viewer) -> Response:
    f = console_of(request).store.ticket_file(file_id)
    if f is None or f.ticket_id != ticket_id:
        raise HTTPException(404, f"no file #{file_id} on ticket #{ticket_id}")
    # Always a download, never rendered: an attachment is evidence from a host, not markup
    # to run in the console's origin.
    return Response(f.content, media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name)}"})  # fmt: skip


def _export(fmt: str, name: str, as_html: Any, as_md: Any, as_data: Any) -> Response:
    disposition = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "html":
        return HTMLResponse(as_html(), headers=disposition)
    if fmt == "md":
        return PlainTextResponse(as_md(), media_type="text/markdown; charset=utf-8",
                                 headers=disposition)  # fmt: skip
    if fmt == "json":
        return Response(json.dumps(as_data(), indent=2, sort_keys=True, default=str),
                        media_type="application/json", headers=disposition)  # fmt: skip
    raise HTTPException(404, f"no export format {fmt!r}: html, md or json")


def _do(ticket_id: int, action: Any) -> RedirectResponse:
    try:
        action()
    except TicketError as exc:
        raise ticket_error(exc) from None
    return back(f"/tickets/{ticket_id}", "saved")


@router.post("/tickets/{ticket_id}/acknowledge")
def ack_form(request: Request, ticket_id: int, who: L1) -> Response:
    store = console_of(request).store
    return _do(ticket_id, lambda: store.acknowledge(ticket_id, who.name))


@router.post("/tickets/{ticket_id}/assign")
def assign_form(
    request: Request, ticket_id: int, who: L1,
    assignee: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:  # fmt: skip
    if assignee != who.name and not who.may(Role.L2):
        raise HTTPException(403, "the L1 role may assign a ticket only to oneself")
    store = console_of(request).store
    return _do(ticket_id, lambda: store.assign(ticket_id, assignee.strip(), who.name))


@router.post("/tickets/{ticket_id}/comment")
def comment_form(
    request: Request, ticket_id: int, who: L1,
    text: Annotated[str, Form(min_length=1, max_length=20_000)],
) -> Response:  # fmt: skip
    store = console_of(request).store
    return _do(ticket_id, lambda: store.comment(ticket_id, text, who.name))


@router.post("/tickets/{ticket_id}/resolve")
def resolve_form(
    request: Request, ticket_id: int, who: L2,
    resolution: Annotated[Literal["fixed", "wont_fix", "duplicate"], Form()] = "fixed",
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:  # fmt: skip
    store = console_of(request).store
    how = Resolution(resolution)
    return _do(ticket_id, lambda: store.resolve_ticket(ticket_id, who.name, how, note))


@router.post("/tickets/{ticket_id}/reopen")
def reopen_form(request: Request, ticket_id: int, who: L2) -> Response:
    store = console_of(request).store
    return _do(ticket_id, lambda: store.reopen_ticket(ticket_id, who.name))


@router.post("/tickets/{ticket_id}/silence")
def silence_form(
    request: Request, ticket_id: int, who: L2,
    scope: Annotated[Literal["host", "rule"], Form()],
    duration: Annotated[str, Form(min_length=1, max_length=20)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:  # fmt: skip
    c = console_of(request)
    t = _ticket(request, ticket_id)
    value = t.agent_id if scope == "host" else t.rule_id
    silence(c, scope, value, reason, duration, who.name)
    return back(f"/tickets/{ticket_id}", f"silenced {scope} {value}")


# -- incidents -----------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def incidents(
    request: Request, who: Viewer, state: Literal["open", "resolved", "all"] = "open"
) -> Response:
    rows = console_of(request).store.list_incidents(
        state=None if state == "all" else state, limit=200
    )
    return render(request, "incidents.html", who, rows=rows, state=state)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(request: Request, incident_id: int, who: Viewer) -> Response:
    store = console_of(request).store
    inc = store.get_incident(incident_id)
    if inc is None:
        raise HTTPException(404, f"no incident #{incident_id}")
    tickets, _ = store.page_tickets(incident_id=incident_id, limit=PAGE)
    return render(request, "incident.html", who, inc=inc, tickets=tickets)


# -- rules and silences --------------------------------------------------------------


@router.get("/rules", response_class=HTMLResponse)
def rules(request: Request, who: Viewer) -> Response:
    return render(request, "rules.html", who, view=console_of(request).rules())


@router.post("/rules/reload")
def reload_rules(request: Request, who: Admin) -> Response:
    reload = console_of(request).reload_rules
    if reload is None:
        raise HTTPException(409, "this console cannot reload rules")
    ok = reload()
    return back("/rules", "reloaded" if ok else "not reloaded: see the load errors")


@router.get("/silences", response_class=HTMLResponse)
def silences(request: Request, who: Viewer) -> Response:
    rows = console_of(request).store.list_silences()
    return render(request, "silences.html", who, rows=rows)


@router.post("/silences")
def add_silence_form(
    request: Request, who: L2,
    scope: Annotated[Literal["host", "site", "rule"], Form()],
    value: Annotated[str, Form(min_length=1, max_length=200)],
    duration: Annotated[str, Form(min_length=1, max_length=20)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:  # fmt: skip
    silence(console_of(request), scope, value, reason, duration, who.name)
    return back("/silences", "silence added")


@router.post("/silences/{silence_id}/remove")
def remove_silence_form(request: Request, silence_id: int, who: L2) -> Response:
    if not console_of(request).store.remove_silence(silence_id):
        raise HTTPException(404, f"no silence #{silence_id}")
    return back("/silences", "silence removed")


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, who: Viewer) -> Response:
    """The REST API's reference, rendered from its OpenAPI document: no CDN, no script."""
    spec = request.app.openapi()
    operations = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "params": [
                    {"name": p["name"], "in": p["in"], "required": p.get("required", False),
                     "type": _schema_text(p.get("schema", {})),
                     "description": p.get("description", "")}
                    for p in op.get("parameters", [])
                ],
                "body": ref.rsplit("/", 1)[-1],
                "responses": sorted(op.get("responses", {})),
            })  # fmt: skip
    schemas = {
        name: [(field, _schema_text(prop), field in schema.get("required", []))
               for field, prop in schema.get("properties", {}).items()]
        for name, schema in spec.get("components", {}).get("schemas", {}).items()
        if not name.startswith(("HTTPValidationError", "ValidationError"))
    }  # fmt: skip
    return render(request, "api_docs.html", who, spec=spec, operations=operations,
                  schemas=schemas)  # fmt: skip


def _schema_text(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_schema_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    text = str(schema.get("type", "any"))
    bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "minLength", "maxLength")
              if k in schema]  # fmt: skip
    return text + (f" ({', '.join(bounds)})" if bounds else "")


__all__ = ["render_error", "router", "ticket_json"]
