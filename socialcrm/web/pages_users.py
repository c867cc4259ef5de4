"""Dashboard users, for admins: list, add, disable (the CLI does the same: `socialcrm users`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from socialcrm.web.auth import ROLES, UserError, Viewer, add_user, disable_user, list_users
from socialcrm.web.deps import db_of
from socialcrm.web.pages_common import ADMIN, back, field, flash, form_of, render

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(ADMIN)]
Form = Annotated[FormData, Depends(form_of)]


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, who: Admin) -> Response:
    """Every user with role and state, and the form to add one."""
    with db_of(request).transaction() as session:
        users = list_users(session)
        session.expunge_all()
    return render(request, "users.html", {"users": users, "roles": ROLES})


@router.post("/users")
async def add(request: Request, who: Admin, form: Form) -> Response:
    """Add a user (audited as the admin who did)."""
    name, role, password = field(form, "name").strip(), field(form, "role"), field(form, "password")

    def store() -> None:
        with db_of(request).transaction() as session:
            add_user(session, name, role, password, who.actor().name)

    try:
        await run_in_threadpool(store)
    except UserError as error:
        flash(request, str(error), "error")
    else:
        flash(request, f"User {name} ({role}) is added.")
    return back("/users")


@router.post("/users/{name}/disable")
def disable(request: Request, name: str, who: Admin, form: Form) -> Response:
    """Disable a user: their sessions end at once (audited)."""
    if name == who.name:
        flash(request, "You cannot disable yourself: ask another admin.", "error")
        return back("/users")
    try:
        with db_of(request).transaction() as session:
            disable_user(session, name, who.actor().name)
    except UserError as error:
        flash(request, str(error), "error")
    else:
        flash(request, f"User {name} is disabled.")
    return back("/users")
