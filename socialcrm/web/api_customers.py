"""`GET /api/customers` (keyset-paginated) and `GET /api/customers/{id}` (the enriched profile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from crm_sync.profile import CustomerNotFoundError, build_profile
from engagement.views import segments
from socialcrm import models
from socialcrm.mention import utcnow
from socialcrm.web.api_auth import Reader
from socialcrm.web.api_models import CustomerOut, CustomerPage, CustomerProfile
from socialcrm.web.api_params import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    NO_NUL,
    NOT_FOUND,
    After,
    ItemId,
    Limit,
    not_found,
)
from socialcrm.web.deps import db_of, settings_of

router = APIRouter(tags=["customers"])


@router.get("/customers", response_model=CustomerPage, responses=AUTH_ERRORS)
def list_customers(
    request: Request,
    _: Reader,
    email: Annotated[
        str | None,
        Query(max_length=320, pattern=NO_NUL, description="Only customers with this email."),
    ] = None,
    crm_id: Annotated[
        str | None,
        Query(max_length=255, pattern=NO_NUL, description="Only the customer with this CRM id."),
    ] = None,
    include_merged: Annotated[
        bool, Query(description="Also customers merged into another.")
    ] = False,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> CustomerPage:
    """Customers in id order."""
    c = models.Customer
    query = select(c).order_by(c.id).limit(limit + 1)
    if after is not None:
        query = query.where(c.id > after)
    if email is not None:
        query = query.where(c.email == email.strip())
    if crm_id is not None:
        query = query.where(c.crm_id == crm_id)
    if not include_merged:
        query = query.where(c.merged_into_id.is_(None))
    with db_of(request).transaction() as session:
        rows = list(session.scalars(query))
    items = [_out(row) for row in rows[:limit]]
    return CustomerPage(items=items, next=items[-1].id if len(rows) > limit else None)


@router.get(
    "/customers/{customer_id}", response_model=CustomerProfile, responses=AUTH_ERRORS | NOT_FOUND
)
def get_customer(request: Request, _: Reader, customer_id: ItemId) -> CustomerProfile:
    """The customer's enriched profile: identities, history, sentiment, topics, scores."""
    crm = settings_of(request).crm
    with db_of(request).transaction() as session:
        try:
            profile = build_profile(
                session, customer_id, crm, utcnow(), segments=segments(session, crm)
            )
        except CustomerNotFoundError:
            raise not_found("customer", customer_id) from None
    return CustomerProfile.model_validate(profile.as_dict())


def _out(row: models.Customer) -> CustomerOut:
    return CustomerOut(
        id=row.id,
        name=row.display_name,
        email=row.email,
        crm_id=row.crm_id,
        merged_into_id=row.merged_into_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
