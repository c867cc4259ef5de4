"""The dashboard: `install(app)` adds sessions, security headers, static files and every page."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from engagement import queue
from socialcrm.db import Database
from socialcrm.web import (
    pages_customers,
    pages_mentions,
    pages_overview,
    pages_queue,
    pages_users,
)
from socialcrm.web.auth import Viewer, end_sessions, log_in, login_limit_key, session_secret
from socialcrm.web.deps import db_of, now_of, settings_of
from socialcrm.web.login_limits import Attempt, Blocked, LoginLimits
from socialcrm.web.pages_common import (
    HERE,
    LoginRequiredError,
    back,
    field,
    form_of,
    local_path,
    login_redirect,
    render,
    viewer,
)
from socialcrm.web.pages_session import (
    HeadersMiddleware,
    SessionMiddleware,
    session_user,
    start_session,
)

# a failed log-in answers after this long: guessing passwords by hand or script stays slow
FAILED_LOGIN_DELAY: float = 1.0
PLOTLY_JS: Final = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
# scripts only from this site (Plotly's own and ours); Plotly sets inline styles on its SVG
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Add the dashboard to `app`: sessions, headers, error pages, static files and pages."""
    settings = app.state.settings
    if not hasattr(app.state, "responders"):
        # tests put a fake here; otherwise the platforms' responders as configured
        app.state.responders = queue.responders_for(settings)
    app.add_middleware(HeadersMiddleware, page_headers=PAGE_HEADERS)
    app.add_middleware(
        SessionMiddleware,
        secret=session_secret(settings),
        max_age=settings.web.session_hours * 3600,
        secure=settings.web.secure_cookies,
    )
    app.add_exception_handler(LoginRequiredError, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _error_page)  # type: ignore[arg-type]
    app.add_api_route("/static/plotly.min.js", _plotly, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages_overview, pages_mentions, pages_queue, pages_customers, pages_users):
        app.include_router(module.router)
    app.include_router(router)


async def _to_login(request: Request, error: LoginRequiredError) -> RedirectResponse:
    return login_redirect(error.path)


async def _error_page(request: Request, error: StarletteHTTPException) -> Response:
    """The API answers errors in JSON; the pages with a page saying what happened."""
    if request.url.path.startswith("/api"):
        return await http_exception_handler(request, error)
    detail = error.detail if isinstance(error.detail, str) else "the request cannot be served"
    context = {"status": error.status_code, "detail": detail}
    return render(request, "error.html", context, status_code=error.status_code)


def _plotly() -> FileResponse:
    """Plotly's JavaScript from the installed package: charts work offline, never from a CDN."""
    return FileResponse(PLOTLY_JS, media_type="text/javascript")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    """The log-in form (the overview when already logged in)."""
    if viewer(request) is not None:
        return back(local_path(next))
    return render(request, "login.html", {"next": local_path(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check name and password within the rate limits; start a fresh session, or say why not."""
    form = await form_of(request)
    name, password = field(form, "name").strip(), field(form, "password")
    target = local_path(field(form, "next"))
    settings, now = settings_of(request), now_of(request)
    address = request.client.host if request.client is not None else "-"

    def check() -> Viewer | Blocked | None:
        attempt = Attempt.of(login_limit_key(settings), name, address)
        limits = LoginLimits.of(settings.web)
        with db_of(request).transaction() as session:
            return log_in(session, name, password, attempt, limits, now)

    found = await run_in_threadpool(check)
    if isinstance(found, Blocked):
        return _too_many_failures(request, target, found.until, now)
    if found is None:
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        context = {"next": target, "error": "Wrong name or password, or the account is disabled."}
        return render(request, "login.html", context, status_code=401)
    start_session(request.session, found.id, found.epoch)
    request.state.viewer_known = False  # looked up afresh for the new session
    return back(target)


def _too_many_failures(request: Request, target: str, until: datetime, now: datetime) -> Response:
    """429, with when to try again; the password was not checked (no wait, no scrypt)."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    error = f"Too many failed log-ins: try again at {until:%H:%M} UTC (in {minutes} min)."
    context = {"next": target, "error": error}
    answer = render(request, "login.html", context, status_code=429)
    answer.headers["Retry-After"] = str(seconds)
    return answer


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session and every other of the user: copies of the cookie, other devices."""
    await form_of(request)
    claimed = session_user(request.session)
    if claimed is not None:
        await run_in_threadpool(_end_sessions, db_of(request), *claimed)
    request.session.clear()
    return back("/login")


def _end_sessions(db: Database, user_id: int, epoch: int) -> None:
    with db.transaction() as session:
        end_sessions(session, user_id, epoch)
