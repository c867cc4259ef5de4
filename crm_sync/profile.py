"""The enriched profile of one customer: who they are, what they said, what we did, how it scores.

`build_profile` reads the rows (a few queries, all bounded by the customer's own mentions, plus
one over every active customer's value field for the ABC segment); `scoring` does the arithmetic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session

from crm_sync import scoring
from crm_sync.history import HISTORY_KINDS, HistoryItem, contact_history, is_staff_action
from crm_sync.scoring import Interaction, Segment, SentimentTrend, Topics
from nlp.labels import SENTIMENTS
from socialcrm import models
from socialcrm.settings import CrmSettings

PAYLOAD_HISTORY: Final = 5  # history items in the CRM payload
PAYLOAD_TOPICS: Final = 10  # topics of each kind in the CRM payload


class CustomerNotFoundError(LookupError):
    """No customer has this id."""


@dataclass(frozen=True, slots=True)
class IdentityView:
    """One of the customer's identities, with how sure the link is."""

    kind: str
    value: str
    confidence: float


@dataclass(frozen=True, slots=True)
class LinkedAuthor:
    """A platform account linked to the customer, and how the link was made."""

    id: int
    source: str
    handle: str
    display_name: str | None
    url: str | None
    link_method: str | None
    link_confidence: float | None
    linked_at: datetime | None


@dataclass(frozen=True)
class Profile:
    """Everything the CRM and staff learn about one customer from social media."""

    customer_id: int
    name: str | None
    email: str | None
    crm_id: str | None
    attributes: dict[str, Any]
    merged_into_id: int | None
    computed_at: datetime
    identities: tuple[IdentityView, ...]
    authors: tuple[LinkedAuthor, ...]
    history: tuple[HistoryItem, ...]  # newest first
    sentiment: dict[str, int]  # mentions per sentiment label, and "unlabelled"
    trend: SentimentTrend
    intents: dict[str, int]  # mentions where the intent's probability was ≥ 0.5
    topics: Topics
    engagement: float
    half_life_days: float
    value_field: str
    value: float | None
    segment: Segment | None  # None for a customer merged into another
    churn_risk: bool

    @property
    def counts(self) -> dict[str, int]:
        """History items of each kind."""
        kinds = Counter(item.kind for item in self.history)
        return {kind: kinds[kind] for kind in HISTORY_KINDS}

    def mention_times(self) -> tuple[datetime | None, datetime | None]:
        """When the customer first and last mentioned us (None, None if never)."""
        times = [item.at for item in self.history if item.kind == scoring.MENTION]
        return (min(times), max(times)) if times else (None, None)

    def as_payload(self, history_limit: int = PAYLOAD_HISTORY) -> dict[str, Any]:
        """The `profile` of a contact.upsert event: figures and the last few history items only."""
        first, last = self.mention_times()
        return {
            "computed_at": self.computed_at.isoformat(),
            "merged_into_id": self.merged_into_id,
            "identities": [_identity(i) for i in self.identities],
            "authors": [_author_brief(a) for a in self.authors],
            "counts": self.counts,
            "first_mention_at": _iso(first),
            "last_mention_at": _iso(last),
            "sentiment": dict(self.sentiment),
            "trend": self.trend.as_dict(),
            "intents": dict(self.intents),
            "topics": self.topics.as_dict(PAYLOAD_TOPICS),
            "engagement": {
                "score": round(self.engagement, 4),
                "half_life_days": self.half_life_days,
            },
            "value": {"field": self.value_field, "amount": self.value, "segment": self.segment},
            "churn_risk": self.churn_risk,
            "recent": [item.as_dict() for item in self.history[:history_limit]],
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: the payload, the customer record, authors in full and the whole history."""
        return {
            **self.as_payload(history_limit=len(self.history)),
            "customer_id": self.customer_id,
            "name": self.name,
            "email": self.email,
            "crm_id": self.crm_id,
            "attributes": self.attributes,
            "authors": [_author(a) for a in self.authors],
            "topics": self.topics.as_dict(),
            "history": [item.as_dict() for item in self.history],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _identity(identity: IdentityView) -> dict[str, Any]:
    return {"kind": identity.kind, "value": identity.value, "confidence": identity.confidence}


def _author_brief(author: LinkedAuthor) -> dict[str, Any]:
    return {
        "source": author.source,
        "handle": author.handle,
        "url": author.url,
        "link_method": author.link_method,
        "link_confidence": author.link_confidence,
    }


def _author(author: LinkedAuthor) -> dict[str, Any]:
    return {
        **_author_brief(author),
        "id": author.id,
        "display_name": author.display_name,
        "linked_at": _iso(author.linked_at),
    }


@dataclass(frozen=True)
class _Rows:
    """What one profile is built from, read from the database."""

    customer: models.Customer
    identities: Sequence[models.Identity]
    authors: Sequence[models.Author]
    mentions: Sequence[tuple[models.Mention, models.Classification | None]]
    replies: Sequence[models.Reply]
    audit: Sequence[models.AuditEntry]
    records: Sequence[models.CustomerHistory]


def build_profile(
    session: Session,
    customer_id: int,
    crm: CrmSettings,
    now: datetime,
    *,
    segments: Mapping[int, Segment] | None = None,
) -> Profile:
    """The customer's profile at `now`; pass `segments` (value_segments) when building many.

    CustomerNotFoundError when no customer has this id.
    """
    rows = _read(session, customer_id)
    customer = rows.customer
    if customer.merged_into_id is not None:
        segment: Segment | None = None
    else:
        known = segments if segments is not None else value_segments(session, crm)
        # a customer without a usable value adds nothing to the total: the bottom segment
        segment = known.get(customer_id, "C")
    return _assemble(rows, crm, now, segment)


def value_segments(session: Session, crm: CrmSettings) -> dict[int, Segment]:
    """ABC segment of every active customer with a usable value (one query over all of them)."""
    value = models.Customer.attributes[crm.value_field]
    query = select(models.Customer.id, value).where(models.Customer.merged_into_id.is_(None))
    values = {
        cid: v for cid, raw in session.execute(query) if (v := scoring.as_value(raw)) is not None
    }
    return scoring.abc_segments(values, crm.segment_a_share, crm.segment_b_share)


def _read(session: Session, customer_id: int) -> _Rows:
    customer = session.get(models.Customer, customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"customer {customer_id} does not exist")
    own = (
        select(models.Mention.id)
        .join(models.Author)
        .where(models.Author.customer_id == customer_id)
    )
    return _Rows(
        customer=customer,
        identities=_all(
            session,
            select(models.Identity)
            .where(models.Identity.customer_id == customer_id)
            .order_by(models.Identity.kind, models.Identity.value),
        ),
        authors=_all(
            session,
            select(models.Author)
            .where(models.Author.customer_id == customer_id)
            .order_by(models.Author.source, models.Author.handle),
        ),
        mentions=_mention_rows(session, customer_id),
        replies=_all(session, select(models.Reply).where(models.Reply.mention_id.in_(own))),
        audit=_all(session, _audit_query(own)),
        records=_all(
            session,
            select(models.CustomerHistory).where(models.CustomerHistory.customer_id == customer_id),
        ),
    )


def _all(session: Session, query: Any) -> list[Any]:
    return list(session.scalars(query))


def _mention_rows(
    session: Session, customer_id: int
) -> list[tuple[models.Mention, models.Classification | None]]:
    query = (
        select(models.Mention, models.Classification)
        .join(models.Author, models.Author.id == models.Mention.author_id)
        .outerjoin(models.Classification)
        .where(models.Author.customer_id == customer_id)
    )
    return [(mention, label) for mention, label in session.execute(query)]


def _audit_query(own_mentions: Any) -> Any:
    """Audit entries on the customer's mentions, their tasks and our replies.

    Entries on the customer itself are left out: each change to the record (merge, split) is
    also in customer_history, which the profile shows, and would appear twice.
    """
    # subject_id is text: compare it with the ids as text, so the (subject_type, subject_id)
    # index serves the lookup
    text_ids = {
        "mention": own_mentions.with_only_columns(cast(models.Mention.id, String)),
        "task": select(cast(models.Task.id, String)).where(
            models.Task.mention_id.in_(own_mentions)
        ),
        "reply": select(cast(models.Reply.id, String)).where(
            models.Reply.mention_id.in_(own_mentions)
        ),
    }
    entry = models.AuditEntry
    return select(entry).where(
        or_(*(and_(entry.subject_type == k, entry.subject_id.in_(v)) for k, v in text_ids.items()))
    )


def _assemble(rows: _Rows, crm: CrmSettings, now: datetime, segment: Segment | None) -> Profile:
    """The profile from its rows: pure, no queries."""
    labelled = [(m, c) for m, c in rows.mentions if c is not None and c.sentiment is not None]
    points = [
        (m.created_at, score)
        for m, c in labelled
        if (score := scoring.sentiment_score(c.sentiment_scores)) is not None
    ]
    trend = scoring.sentiment_trend(points, crm.churn_window_days, now)
    customer = rows.customer
    return Profile(
        customer_id=customer.id,
        name=customer.display_name,
        email=customer.email,
        crm_id=customer.crm_id,
        attributes=dict(customer.attributes),
        merged_into_id=customer.merged_into_id,
        computed_at=now,
        identities=tuple(IdentityView(i.kind, i.value, i.confidence) for i in rows.identities),
        authors=tuple(_linked(a) for a in rows.authors),
        history=contact_history(
            rows.mentions,
            rows.replies,
            rows.audit,
            rows.records,
            {a.id: a.handle for a in rows.authors},
        ),
        sentiment=_sentiment_counts(c.sentiment if c else None for _, c in rows.mentions),
        trend=trend,
        intents=scoring.intents_seen(c.intents for _, c in rows.mentions if c is not None),
        topics=scoring.count_topics(_topic_sources(rows.mentions)),
        engagement=scoring.engagement_score(
            _interactions(rows),
            crm.engagement_weights.model_dump(),
            crm.engagement_half_life_days,
            now,
        ),
        half_life_days=crm.engagement_half_life_days,
        value_field=crm.value_field,
        value=scoring.as_value(customer.attributes.get(crm.value_field)),
        segment=segment,
        churn_risk=scoring.churn_risk(trend, crm.churn_drop, crm.churn_min_mentions),
    )


def _linked(author: models.Author) -> LinkedAuthor:
    return LinkedAuthor(
        id=author.id,
        source=author.source,
        handle=author.handle,
        display_name=author.display_name,
        url=author.url,
        link_method=author.link_method,
        link_confidence=author.link_confidence,
        linked_at=author.linked_at,
    )


def _sentiment_counts(labels: Iterable[str | None]) -> dict[str, int]:
    counts = dict.fromkeys((*SENTIMENTS, "unlabelled"), 0)
    for label in labels:
        counts[label if label in counts else "unlabelled"] += 1
    return counts


def _topic_sources(
    mentions: Iterable[tuple[models.Mention, models.Classification | None]],
) -> list[scoring.TopicSource]:
    return [(m.matched_query, f"{m.title or ''}\n{m.text}", m.extra or {}) for m, _ in mentions]


def _interactions(rows: _Rows) -> list[Interaction]:
    """Every mention and its scored intents, every reply we sent, every staff action."""
    found: list[Interaction] = []
    for mention, label in rows.mentions:
        found += scoring.mention_interactions(mention.created_at, label.intents if label else {})
    found += [(scoring.REPLY, r.sent_at) for r in rows.replies if r.sent_at is not None]
    found += [(scoring.STAFF_ACTION, e.at) for e in rows.audit if is_staff_action(e)]
    return found
