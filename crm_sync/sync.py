"""Profile pushes: customers whose profile changed get a contact.upsert event, in batches."""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from crm_sync import events, outbox
from crm_sync.profile import build_profile, value_segments
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import CrmSettings

BATCH = 200


def push_profiles(
    db: Database, crm: CrmSettings, connectors: list[str], now: datetime | None = None
) -> int:
    """Queue a contact.upsert for every customer marked dirty; returns how many were queued.

    A profile whose content is what was last queued for that customer is not queued again. A
    mark is cleared only if no newer one came while the profile was built.
    """
    if not connectors:
        return 0
    now = now or utcnow()
    queued = 0
    while True:
        with db.transaction() as session:
            marks = session.execute(
                select(models.Customer.id, models.Customer.dirty_since)
                .where(models.Customer.dirty_since.is_not(None))
                .order_by(models.Customer.dirty_since, models.Customer.id)
                .limit(BATCH)
            ).all()
            if not marks:
                return queued
            segments = value_segments(session, crm)
            last = _last_queued(session, [customer_id for customer_id, _ in marks])
            messages = []
            for customer_id, marked in marks:
                profile = build_profile(session, customer_id, crm, now, segments=segments)
                body = profile.as_payload()
                if last.get(customer_id) == _content(body):
                    continue
                customer = session.get(models.Customer, customer_id)
                assert customer is not None  # noqa: S101 - read in this transaction
                held = [(i.kind, i.value) for i in profile.identities]
                key = f"profile:{customer_id}:{marked.isoformat() if marked else now.isoformat()}"
                payload = events.envelope(
                    events.CONTACT_UPSERT, key, now, events.contact(customer, held), profile=body
                )
                messages.append(outbox.Outgoing(payload, customer_id=customer_id))
            outbox.enqueue_many(session, connectors, messages)
            # Core, one statement for the batch: a mark newer than the one read stays
            table = cast(Table, models.Customer.__table__)
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.dirty_since == bindparam("b_at"))
                .values(dirty_since=None),
                [{"b_id": customer_id, "b_at": marked} for customer_id, marked in marks],
            )
        queued += len(messages)


def _last_queued(session: Session, customer_ids: list[int]) -> dict[int, str]:
    """The content of the profile last queued for each customer (by any connector)."""
    table = models.OutboxMessage
    newest = (
        select(func.max(table.id))
        .where(table.customer_id.in_(customer_ids), table.topic == events.CONTACT_UPSERT)
        .group_by(table.customer_id)
    )
    rows = session.execute(select(table.customer_id, table.payload).where(table.id.in_(newest)))
    return {customer_id: _content(payload.get("profile", {})) for customer_id, payload in rows}


def _content(body: dict[str, object]) -> str:
    """The profile without the time it was computed (which always changes), as stable text."""
    content = {k: v for k, v in body.items() if k != "computed_at"}
    return json.dumps(content, sort_keys=True, default=str)
