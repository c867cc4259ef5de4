"""Profile pushes: customers whose profile changed get a contact.upsert event, in batches."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select, update

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

    The event's key is a digest of its content: a profile that did not change since it was last
    queued is not queued again.
    """
    if not connectors:
        return 0
    now = now or utcnow()
    queued = 0
    while True:
        with db.transaction() as session:
            ids = list(
                session.scalars(
                    select(models.Customer.id)
                    .where(models.Customer.dirty_since.is_not(None))
                    .order_by(models.Customer.dirty_since, models.Customer.id)
                    .limit(BATCH)
                )
            )
            if not ids:
                return queued
            segments = value_segments(session, crm)
            messages = []
            for customer_id in ids:
                profile = build_profile(session, customer_id, crm, now, segments=segments)
                customer = session.get(models.Customer, customer_id)
                assert customer is not None  # noqa: S101 - read in this transaction
                held = [(i.kind, i.value) for i in profile.identities]
                body = profile.as_payload()
                key = f"profile:{customer_id}:{_digest(body)}"
                payload = events.envelope(
                    events.CONTACT_UPSERT, key, now, events.contact(customer, held), profile=body
                )
                messages.append(outbox.Outgoing(payload, customer_id=customer_id))
            outbox.enqueue_many(session, connectors, messages)
            session.execute(
                update(models.Customer)
                .where(models.Customer.id.in_(ids))
                .values(dirty_since=None)
                .execution_options(synchronize_session=False)
            )
        queued += len(messages)


def _digest(body: dict[str, object]) -> str:
    """The content's fingerprint, without the time it was computed (which always changes)."""
    content = {k: v for k, v in body.items() if k != "computed_at"}
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
