"""The events sent to CRM connectors: versioned JSON payloads (schema in docs/crm.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from socialcrm import models

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
    author: models.Author | None = None,
) -> dict[str, Any]:
    """Who an event is about: a customer record, or an author not linked to one."""
    if customer is not None:
        return {
            "customer_id": customer.id,
            "crm_id": customer.crm_id,
            "email": customer.email,
            "name": customer.display_name,
            "identities": [{"kind": k, "value": v} for k, v in identities],
        }
    return {
        "customer_id": None,
        "crm_id": None,
        "email": None,
        "name": author.display_name if author is not None else None,
        "identities": [{"kind": k, "value": v} for k, v in identities],
    }


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


def mention_body(
    mention: models.Mention, classification: models.Classification | None
) -> dict[str, Any]:
    """What a CRM note needs to know about a mention."""
    labels: dict[str, Any] = {}
    if classification is not None:
        labels = {
            "sentiment": classification.sentiment,
            "intents": dict(classification.intents),
            "needs_reply": classification.needs_reply,
        }
    return {
        "source": mention.source,
        "source_id": mention.source_id,
        "url": mention.url,
        "title": mention.title,
        "text": mention.text,
        "created_at": mention.created_at.isoformat(),
        **labels,
    }
