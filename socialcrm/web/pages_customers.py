"""Customers: search, the enriched profile with its history; admins export or forget a person."""

from __future__ import annotations

import json
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from crm_sync import outbox, privacy
from crm_sync.customers import audit
from crm_sync.profile import CustomerNotFoundError, build_profile
from reports.sql import compact_search_index
from socialcrm import models
from socialcrm.mention import utcnow
from socialcrm.web.auth import Viewer
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_common import (
    ADMIN,
    STAFF,
    CsvBatch,
    Cursor,
    PageId,
    back,
    csv_download,
    field,
    flash,
    form_of,
    render,
)

router = APIRouter(include_in_schema=False)
PAGE: Final = 50
EXPORT_BATCH: Final = 1000
Staff = Annotated[Viewer, Depends(STAFF)]
Admin = Annotated[Viewer, Depends(ADMIN)]
Form = Annotated[FormData, Depends(form_of)]


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, who: Staff, q: str = "", after: Cursor = 0) -> Response:
    """Customers by id, narrowed by name, email, CRM id or a linked handle; keyset pages."""
    wanted = q.strip()[:200]
    with db_of(request).transaction() as session:
        rows = session.execute(_found(wanted, after).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    context = {"rows": rows, "q": wanted, "next": rows[-1].id if more else None}
    return render(request, "customers.html", context)


@router.get("/customers.csv")
def customers_csv(request: Request, who: Staff, q: str = "") -> Response:
    """Every customer the search finds as CSV, by id, streamed a batch at a time."""
    wanted = q.strip()[:200]

    def fetch(session: Session, after: int | None) -> CsvBatch[int]:
        rows = session.execute(_found(wanted, after or 0).limit(EXPORT_BATCH)).all()
        return rows, rows[-1].id if len(rows) == EXPORT_BATCH else None

    return csv_download(request, "customers.csv", CSV_COLUMNS, fetch)


CSV_COLUMNS: Final = ("id", "display_name", "email", "crm_id")


def _found(wanted: str, after: int) -> Select[int, str | None, str | None, str | None]:
    """Active customers with an id above `after` that match the search (all when it is empty)."""
    customer = models.Customer
    query = (
        select(customer.id, customer.display_name, customer.email, customer.crm_id)
        .where(customer.merged_into_id.is_(None), customer.id > after)
        .order_by(customer.id)
    )
    if not wanted:
        return query
    pattern = f"%{_like_escaped(wanted.lower())}%"
    handles = select(models.Author.customer_id).where(
        func.lower(models.Author.handle).like(pattern, escape="\\")
    )
    texts = (customer.display_name, customer.email, cast(customer.crm_id, String))
    return query.where(
        or_(*(func.lower(t).like(pattern, escape="\\") for t in texts), customer.id.in_(handles))
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: PageId, who: Staff) -> Response:
    """The enriched profile: identities, linked accounts, figures, topics and the history."""
    settings = settings_of(request)
    with db_of(request).transaction() as session:
        try:
            profile = build_profile(session, customer_id, settings.crm, utcnow())
        except CustomerNotFoundError:
            raise HTTPException(404, f"there is no customer #{customer_id}") from None
    return render(request, "customer.html", {"profile": profile})


@router.post("/customers/{customer_id}/export")
def export(request: Request, customer_id: PageId, who: Admin, form: Form) -> Response:
    """Everything held about the customer, as a JSON download (the export is audited)."""
    with db_of(request).transaction() as session:
        person = _person(session, customer_id)
        data = privacy.export(session, person)
        rows = sum(len(table) for table in data["tables"].values())
        audit(
            session,
            who.actor().name,
            "person.export",
            ("customer", customer_id),
            None,
            {"rows": rows},
        )
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    headers = {"Content-Disposition": f'attachment; filename="customer-{customer_id}.json"'}
    return Response(body, media_type="application/json", headers=headers)


@router.post("/customers/{customer_id}/forget")
def forget(request: Request, customer_id: PageId, who: Admin, form: Form) -> Response:
    """Erase everything held about the customer and tell the CRM; asks for "forget" typed in."""
    if field(form, "confirm").strip().lower() != "forget":
        flash(request, 'Nothing was erased: type "forget" to confirm.', "error")
        return back(f"/customers/{customer_id}")
    connectors = outbox.enabled_connectors(settings_of(request).crm)
    with db_of(request).transaction() as session:
        person = _person(session, customer_id)
        done = privacy.forget(session, person, who.actor().name, connectors)
        compact_search_index(session)  # the person's words leave the search index now
    erased = sum(done.counts.values())
    flash(request, f"Customer #{customer_id} is forgotten: {erased} row(s) erased.")
    return back("/customers")


def _person(session: Session, customer_id: int) -> privacy.Person:
    try:
        return privacy.find_person(session, f"customer:{customer_id}")
    except privacy.PersonError as error:
        raise HTTPException(404, str(error)) from None
