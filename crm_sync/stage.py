"""The pipeline's link stage: authors to customers, then what the CRM should hear about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from crm_sync import customers, events, identities, linking, outbox
from socialcrm import models, storage
from socialcrm.mention import Mention, utcnow
from socialcrm.settings import CrmSettings

ACTOR = customers.LINKER


@dataclass
class Resolution:
    """What one round of linking did."""

    linked: int = 0
    suggested: int = 0


def profile_of(author: models.Author, texts: Sequence[str] = ()) -> linking.Profile:
    """What linking reads about a stored author."""
    links = [(x["url"], bool(x.get("verified"))) for x in author.links or ()]
    return linking.Profile(author.source, author.handle, author.key, author.bio, links, texts)


def resolve(
    session: Session,
    unlinked: Mapping[int, linking.Profile],
    crm: CrmSettings,
    actor: str = ACTOR,
) -> Resolution:
    """Link each unlinked author (id -> profile) whose clues are strong enough; suggest the rest.

    A batch of authors costs a few queries, whatever its size: linking runs on every mention.
    """
    found = {author_id: linking.clues(profile) for author_id, profile in unlinked.items()}
    owners = customers.owners_of(session, [c.identity for cs in found.values() for c in cs])
    if not owners:
        return Resolution()
    rejected = _rejected(session, list(found))
    chosen: dict[int, linking.Candidate] = {}
    offers: list[tuple[int, linking.Candidate]] = []
    for author_id, clues in found.items():
        options = linking.candidates(clues, owners)
        decision = linking.decide(
            options, crm.link_threshold, crm.suggest_threshold, rejected.get(author_id, ())
        )
        if decision.link is not None:
            chosen[author_id] = decision.link
        offers += [(author_id, option) for option in decision.suggest]
    links = []
    for row in _authors(session, list(chosen)):
        best = chosen[row.id]
        evidence = best.evidence()
        links.append(
            customers.NewLink(row, best.customer_id, best.method, best.confidence, evidence)
        )
    return Resolution(customers.link_many(session, links, actor), suggest(session, offers))


def _authors(session: Session, ids: Sequence[int]) -> list[models.Author]:
    if not ids:
        return []
    return list(session.scalars(select(models.Author).where(models.Author.id.in_(ids))))


def _rejected(session: Session, author_ids: Sequence[int]) -> dict[int, set[int]]:
    table = models.LinkSuggestion
    rows = session.execute(
        select(table.author_id, table.customer_id).where(
            table.author_id.in_(author_ids), table.state == "rejected"
        )
    )
    out: dict[int, set[int]] = {}
    for author_id, customer_id in rows:
        out.setdefault(author_id, set()).add(customer_id)
    return out


def suggest(session: Session, offers: Sequence[tuple[int, linking.Candidate]]) -> int:
    """Offer links to staff; open suggestions are refreshed, decided ones left alone.

    Returns how many suggestions are new.
    """
    if not offers:
        return 0
    table = models.LinkSuggestion
    pairs = [(author_id, option.customer_id) for author_id, option in offers]
    known = {
        (row.author_id, row.customer_id): row
        for row in session.scalars(
            select(table).where(tuple_(table.author_id, table.customer_id).in_(pairs))
        )
    }
    new = []
    for author_id, option in offers:
        row = known.get((author_id, option.customer_id))
        if row is None:
            new.append(
                {
                    "author_id": author_id,
                    "customer_id": option.customer_id,
                    "confidence": option.confidence,
                    "evidence": option.evidence(),
                }
            )
        elif row.state == "open":
            row.confidence, row.evidence = option.confidence, option.evidence()
    if new:
        # another worker may suggest the same pair meanwhile: theirs stands
        stmt = storage.upsert(session, table.__table__).on_conflict_do_nothing(
            index_elements=["author_id", "customer_id"]
        )
        session.execute(stmt, new)
    return len(new)


def link_known_authors(session: Session, crm: CrmSettings, actor: str) -> Resolution:
    """Resolve every unlinked author against the customers now held (after an import)."""
    unlinked = select(models.Author).where(models.Author.customer_id.is_(None))
    total = Resolution()
    for chunk in session.scalars(unlinked.execution_options(yield_per=1000)).partitions():
        done = resolve(session, {a.id: profile_of(a) for a in chunk}, crm, actor=actor)
        total.linked += done.linked
        total.suggested += done.suggested
    return total


@dataclass(frozen=True, slots=True)
class Row:
    """A mention of the batch with what linking and pushing need beyond the contract."""

    mention: Mention
    author_id: int
    customer_id: int | None
    labels: Mapping[str, Any] | None  # sentiment, intents, needs_reply; None: not classified


@dataclass
class LinkStage:
    """Link the authors of a batch of mentions, and queue what qualifies for the CRM."""

    crm: CrmSettings
    connectors: list[str] = field(default_factory=list)

    def __call__(self, session: Session, mentions: Sequence[Mention]) -> None:
        rows = _rows(session, mentions)
        if not rows:
            return
        texts: dict[int, list[str]] = {}
        for row in rows:
            texts.setdefault(row.author_id, []).append(row.mention.text)
        unlinked = {
            row.author_id: _profile(row.mention, texts[row.author_id])
            for row in rows
            if row.customer_id is None
        }
        done = resolve(session, unlinked, self.crm)
        if self.connectors:
            if done.linked:  # the batch's authors just linked count as customers already
                rows = _rows(session, mentions)
            push(session, rows, self.crm, self.connectors)


def _profile(mention: Mention, texts: Sequence[str]) -> linking.Profile:
    author = mention.author
    links = [(link.url, link.verified) for link in author.links or ()]
    return linking.Profile(mention.source, author.handle, author.key, author.bio, links, texts)


def _rows(session: Session, mentions: Sequence[Mention]) -> list[Row]:
    """The batch's author ids, their customers and labels: columns, not ORM objects."""
    by_id = {m.id: m for m in mentions if m.id is not None}
    if not by_id:
        return []
    m, a, c = models.Mention, models.Author, models.Classification
    found = session.execute(
        select(m.id, m.author_id, a.customer_id, c.sentiment, c.intents, c.needs_reply)
        .join(a, a.id == m.author_id)
        .outerjoin(c, c.mention_id == m.id)
        .where(m.id.in_(list(by_id)))
        .order_by(m.id)
    )
    return [
        Row(
            by_id[mention_id],
            author_id,
            customer_id,
            None
            if intents is None
            else {"sentiment": sentiment, "intents": intents, "needs_reply": needs_reply},
        )
        for mention_id, author_id, customer_id, sentiment, intents, needs_reply in found
    ]


def qualifies(labels: Mapping[str, Any] | None, crm: CrmSettings) -> bool:
    """Whether a mention by an author who is not a customer is worth the CRM's attention."""
    if labels is None:
        return False
    intents = labels["intents"]
    return any(
        intents.get(i, 0.0) >= crm.push_intent_probability for i in crm.push_unlinked_intents
    )


def push(session: Session, rows: Sequence[Row], crm: CrmSettings, connectors: list[str]) -> int:
    """Queue a contact.mention event for mentions by customers and by qualifying authors.

    A customer's profile is marked for the next profile push; listening alone pushes nothing.
    """
    linked = {row.customer_id for row in rows if row.customer_id is not None}
    people = {
        c.id: c
        for c in session.scalars(select(models.Customer).where(models.Customer.id.in_(linked)))
    }
    held = customers.identities_of(session, linked)
    now = utcnow()
    known: list[outbox.Outgoing] = []
    leads: list[outbox.Outgoing] = []
    for row in rows:
        mention, customer = row.mention, people.get(row.customer_id or -1)
        body = events.mention_body(mention, row.labels)
        key = f"mention:{mention.id}"
        if customer is not None:
            who = events.contact(customer, held.get(customer.id, []))
            payload = events.envelope(events.CONTACT_MENTION, key, now, who, mention=body)
            known.append(outbox.Outgoing(payload, customer_id=customer.id))
        elif qualifies(row.labels, crm):
            author = mention.author
            found = identities.of_author(mention.source, author.handle, author.key)
            who = events.contact(None, found, author.display_name)
            payload = events.envelope(events.CONTACT_MENTION, key, now, who, mention=body)
            leads.append(outbox.Outgoing(payload, author_id=row.author_id))
    outbox.enqueue_many(session, connectors, known)
    reach = [name for name in connectors if name not in outbox.NEEDS_CONTACT_ID]
    outbox.enqueue_many(session, reach, leads)
    customers.mark_dirty(session, set(people), now)
    return len(known) + len(leads)
