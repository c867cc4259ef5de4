"""The events sent to CRM connectors: versioned JSON payloads (schema in docs/crm.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from socialcrm import models
from socialcrm.mention import Mention

SCHEMA: Final = "socialcrm.event/1"
# A customer's (or qualifying author's) details and enriched profile: upsert the contact.
CONTACT_UPSERT: Final = "contact.upsert"
# A mention by the contact: a note or timeline entry on it.
CONTACT_MENTION: Final = "contact.mention"
# The person asked to be forgotten: erase the contact.
CONTACT_FORGET: Final = "contact.forget"
TOPICS: Final = (CONTACT_UPSERT, CONTACT_MENTION, CONTACT_FORGET)


def contact(
    customer: models.Customer | None,
    identities: Sequence[tuple[str, str]],
    name: str | None = None,
) -> dict[str, Any]:
    """Who an event is about: a customer record, or an author (named `name`) who is not one."""
    listed = [{"kind": k, "value": v} for k, v in identities]
    if customer is not None:
        return {
            "customer_id": customer.id,
            "crm_id": customer.crm_id,
            "email": customer.email,
            "name": customer.display_name,
            "identities": listed,
        }
    return {"customer_id": None, "crm_id": None, "email": None, "name": name, "identities": listed}


def envelope(
    event: str, key: str, at: datetime, who: Mapping[str, Any], **body: Any
) -> dict[str, Any]:
    """The common shape of every event: schema, event, id, time, contact, then its own fields."""
    return {
        "schema": SCHEMA,
        "event": event,
        "id": key,
        "occurred_at": at.isoformat(),
        "contact": dict(who),
        **body,
    }


def mention_body(mention: Mention, labels: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a CRM note needs to know about a mention (`labels`: sentiment, intents, needs_reply)."""
    return {
        "source": mention.source,
        "source_id": mention.source_id,
        "url": mention.url,
        "title": mention.title,
        "text": mention.text,
        "created_at": mention.created_at.isoformat(),
        **(dict(labels) if labels is not None else {}),
    }
