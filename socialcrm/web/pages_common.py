"""What every dashboard page shares: templates, the logged-in viewer, roles, CSRF, messages, CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import quote

import jinja2
from fastapi import HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.templating import Jinja2Templates

from reports.cells import safe_cell
from socialcrm.db import Database
from socialcrm.pseudonym import keyed_hash
from socialcrm.web.api_models import MAX_ID
from socialcrm.web.auth import Role, Viewer, active_viewer, pseudonym_key
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_session import CSRF_FIELD, csrf_ok, csrf_token, session_user

HERE: Final = Path(__file__).resolve().parent
_HTTP_URL: Final = re.compile(r"https?://[^\s<>\"'`\\]+", re.IGNORECASE)
_JSON_ESCAPES: Final = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
# a spreadsheet runs a cell that starts with one of these as a formula (CSV injection)


class LoginRequiredError(Exception):
    """The request needs a logged-in user; the app answers with a redirect to the log-in page."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def json_script(value: Any) -> Markup:
    """JSON safe inside a `<script type="application/json">` element (no `<`, `>` or `&`)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Markup(text.translate(_JSON_ESCAPES))  # noqa: S704 - escaped just above


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def http_url(value: str | None) -> str | None:
    """`value` when it is a plain http(s) address, fit for an href; None otherwise."""
    if not value or not _HTTP_URL.fullmatch(value):
        return None
    return value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name: data is always escaped
        undefined=jinja2.StrictUndefined,
    )
    env.filters["json_script"] = json_script
    env.filters["when"] = _when
    env.filters["http_url"] = http_url
    return env


templates: Final = Jinja2Templates(env=_environment())


def viewer(request: Request) -> Viewer | None:
    """The logged-in user, or None (no session, expired, ended, disabled or removed)."""
    if getattr(request.state, "viewer_known", False):
        known: Viewer | None = request.state.viewer
        return known
    found = None
    claimed, since = session_user(request.session), request.session.get("since")
    hours = settings_of(request).web.session_hours
    if (
        claimed is not None
        and isinstance(since, int | float)
        and time.time() - since < hours * 3600
    ):
        with db_of(request).transaction() as session:
            found = active_viewer(session, *claimed)
    if found is None and "uid" in request.session:
        request.session.clear()
    request.state.viewer, request.state.viewer_known = found, True
    return found


def require(*roles: Role) -> Callable[[Request], Viewer]:
    """A dependency: the viewer, who must be logged in (else a redirect) and have one of `roles`."""

    def dependency(request: Request) -> Viewer:
        found = viewer(request)
        if found is None:
            query = request.url.query
            raise LoginRequiredError(request.url.path + (f"?{query}" if query else ""))
        if roles and found.role not in roles:
            raise HTTPException(403, f"your role ({found.role}) may not open this page")
        return found

    return dependency


ANYONE: Final = require()
STAFF: Final = require("admin", "agent")
ADMIN: Final = require("admin")


async def form_of(request: Request) -> FormData:
    """The posted form, once its CSRF token is checked (403 otherwise)."""
    form = await request.form()
    if not csrf_ok(request.session, form.get(CSRF_FIELD)):
        raise HTTPException(403, "the form is stale or was not sent by this site: reload the page")
    return form


def field(form: FormData, name: str) -> str:
    """A text field of the form ('' when absent)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once, on the next page the user sees."""
    messages = request.session.setdefault("flash", [])
    messages.append({"kind": kind, "text": text[:500]})


def render(
    request: Request, name: str, context: Mapping[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a page with what every page needs: the viewer, the CSRF token, the messages."""
    who = viewer(request)
    base = {
        "viewer": who,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request.session),
        "messages": request.session.pop("flash", []),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def back(path: str) -> RedirectResponse:
    """After a POST: see the page again (303, so a reload does not post twice)."""
    return RedirectResponse(path, status_code=303)


def login_redirect(path: str) -> RedirectResponse:
    """To the log-in page, coming back to `path` afterwards."""
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)


def local_path(value: str | None, default: str = "/") -> str:
    """`value` when it is a path on this site, else `default` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


class People:
    """How authors are shown to a viewer: as they are, or pseudonymised for analysts."""

    def __init__(self, request: Request, who: Viewer) -> None:
        settings = settings_of(request)
        self.hidden = who.role == "analyst" and settings.web.pseudonymise_for_analysts
        self._key = pseudonym_key(settings) if self.hidden else b""

    def handle(self, handle: str) -> str:
        """The handle, or its keyed hash."""
        return keyed_hash(handle, self._key) if self.hidden else handle

    def plain(self, value: str | None) -> str | None:
        """A value that names someone (display name, profile or post link): None when hidden."""
        return None if self.hidden else value


# ids in paths and cursors fit the database's 64-bit ids; anything larger is a 422, not a 500
PageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Cursor = Annotated[int, Query(ge=0, le=MAX_ID)]


After = TypeVar("After")
# one batch of an export: its rows, and the cursor after the last of them (None: no more)
CsvBatch = tuple[Sequence[Sequence[object]], After | None]
CsvFetch = Callable[[Session, After | None], CsvBatch[After]]


def csv_line(values: Iterable[object]) -> str:
    """One CSV line of safe cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(value) for value in values])
    return buffer.getvalue()


def csv_lines(db: Database, columns: Sequence[str], fetch: CsvFetch[After]) -> Iterator[str]:
    """The header, then a batch of lines per `fetch(session, after)`, each in its own transaction.

    `fetch` reads one keyset page after the cursor it is given (None: from the start), so memory
    stays bounded whatever the length of the list, and no transaction stays open for a download.
    """
    yield csv_line(columns)
    after: After | None = None
    while True:
        with db.transaction() as session:
            rows, after = fetch(session, after)
        yield "".join(csv_line(row) for row in rows)
        if after is None:
            return


def csv_download(
    request: Request, name: str, columns: Sequence[str], fetch: CsvFetch[After]
) -> Response:
    """A streamed CSV download of a list, read a batch at a time (see `csv_lines`)."""
    lines = csv_lines(db_of(request), columns, fetch)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)
