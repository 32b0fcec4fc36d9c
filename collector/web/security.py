"""Request-level security: who is asking, CSRF, role checks, and errors without tracebacks.

Both the API and the pages depend on these. A page that needs a login redirects to
/login; an API call answers 401 JSON. A state-changing request carried by a session
cookie must echo the session's CSRF token (form field `csrf` or header X-CSRF-Token);
one carried by a bearer token needs none (a browser never sends it on its own).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.store.model import Role
from collector.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Principal, digest, same
from collector.web.views import Console

log = logging.getLogger("rdiag.console")

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# RFC 9110: a 401 says how to authenticate.
BEARER = {"WWW-Authenticate": "Bearer"}


class LoginRequired(Exception):
    """A page asked for by someone not logged in: go to the login page, then back."""


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _lookup(console: Console, request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise HTTPException(401, "Authorization must be 'Bearer <API token>'", BEARER)
        token = console.store.token_by_hash(digest(secret.strip()))
        if token is None:
            raise HTTPException(401, "unknown or revoked API token", BEARER)
        return Principal(f"token:{token.name}", token.role, via_token=True)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = console.store.session_user(digest(cookie))
    if found is None:
        return None
    user, csrf = found
    return Principal(user.name, user.role, csrf=csrf, session_sha256=digest(cookie))


async def principal(request: Request) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is None:
        cached = await run_in_threadpool(_lookup, console_of(request), request)
        request.state.principal = cached
    return cached


async def check_csrf(request: Request, who: Principal) -> None:
    if request.method not in UNSAFE or who.via_token:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not same(sent, who.csrf):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def require(role: Role, *, page: bool = False) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, logged in, with at least `role`, CSRF checked."""

    async def dependency(request: Request) -> Principal:
        who = await principal(request)
        if who is None:
            if page:
                raise LoginRequired()
            raise HTTPException(401, "log in or send 'Authorization: Bearer <API token>'", BEARER)
        if not who.may(role):
            raise HTTPException(403, f"this needs the {role.value} role; you are {who.role.value}")
        await check_csrf(request, who)
        return who

    return dependency


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _where(error: Any) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # its loc is ("body", <character offset>): a number names nothing
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


def install_error_handlers(
    app: FastAPI, render_error: Callable[[Request, int, str], Response]
) -> None:
    """Every error as a short message saying what was wrong and where: JSON for the API,
    a page for people. Never a traceback; an unexpected one is logged with its id."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    # Starlette's own class, of which FastAPI's is a subclass: an unknown path (404) or
    # method (405) is raised by the router as Starlette's, and must not answer {"detail"}.
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if _is_api(request):
            return JSONResponse({"error": detail}, status_code=exc.status_code,
                                headers=exc.headers)  # fmt: skip
        return render_error(request, exc.status_code, detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"where": _where(e), "problem": str(e.get("msg", "invalid"))} for e in exc.errors()
        ]
        text = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        if _is_api(request):
            return JSONResponse({"error": f"bad request: {text}", "problems": problems},
                                status_code=422)  # fmt: skip
        return render_error(request, 422, f"bad request: {text}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        error = f"{type(exc).__name__}: {exc}"
        log.error("console request failed", extra={"path": request.url.path, "error": error})
        text = "internal error; it was logged on the collector"
        if _is_api(request):
            return JSONResponse({"error": text}, status_code=500)
        return HTMLResponse(f"<h1>500</h1><p>{text}</p>", status_code=500)
