"""The console's ASGI app: pages, the REST API, the live feed, assets, security headers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

import collector
from collector.web import api, pages
from collector.web.auth import Permission, Principal
from collector.web.live import Live
from collector.web.security import install_error_handlers, require
from collector.web.views import Console

STATIC = Path(__file__).parent / "static"

# Scripts and styles only from the console itself; the plots are inline SVG, which needs
# no script at all. Inline style attributes are allowed for the exported reports.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

# FastAPI's own /docs loads Swagger UI from a CDN: the console renders its own page from
# the same OpenAPI document instead (pages.api_docs).
DESCRIPTION = """\
The rdiag collector's REST API: hosts, findings, tickets, incidents, rules and silences.

Authenticate with `Authorization: Bearer <API token>` (tokens: `rdiag-collector tokens add`
or POST /api/v1/tokens as an admin), or with the console's session cookie plus the
`X-CSRF-Token` header on state-changing calls. Lists answer
`{items, total, limit, offset, next}`; errors answer `{error}` with a 4xx status.
"""


def create_app(console: Console, live: Live | None = None) -> FastAPI:
    app = FastAPI(
        title="rdiag collector API", version=collector.__version__, description=DESCRIPTION,
        docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json",
    )  # fmt: skip
    app.state.console = console
    live = live or Live(console.store, console.live_poll_s)
    app.state.live = live

    @app.middleware("http")
    async def timing_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # Server time, for the benchmark and for anyone asking "is it the console or me".
        ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={ms:.1f}"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.url.path != "/login" and "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    install_error_handlers(app, pages.render_error)
    app.include_router(api.router, tags=["api"])
    app.include_router(pages.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    reader = require(Permission.READ)

    @app.get("/events", include_in_schema=False)
    async def events(
        request: Request,
        last_event_id: Annotated[str | None, Header()] = None,
        after: int | None = None,
    ) -> Response:
        who: Principal = await reader(request)
        del who
        since = after
        if last_event_id and last_event_id.isdigit():
            since = int(last_event_id)
        return StreamingResponse(
            live.stream(since), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )  # fmt: skip

    return app
