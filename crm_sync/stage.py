"""The pipeline's link stage: authors to customers, then what the CRM should hear about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    authors: Sequence[models.Author],
    crm: CrmSettings,
    texts: Mapping[int, Sequence[str]] | None = None,
    actor: str = ACTOR,
) -> Resolution:
    """Link each unlinked author whose clues are strong enough; suggest the rest to staff.

    A batch of authors costs a few queries, whatever its size: linking runs on every mention.
    """
    todo = [a for a in authors if a.customer_id is None]
    found = {a.id: linking.clues(profile_of(a, (texts or {}).get(a.id, ()))) for a in todo}
    owners = customers.owners_of(session, [c.identity for cs in found.values() for c in cs])
    if not owners:
        return Resolution()
    rejected = _rejected(session, [a.id for a in todo])
    links: list[customers.NewLink] = []
    offers: list[tuple[int, linking.Candidate]] = []
    for row in todo:
        options = linking.candidates(found[row.id], owners)
        decision = linking.decide(
            options, crm.link_threshold, crm.suggest_threshold, rejected.get(row.id, ())
        )
        if decision.link is not None:
            best = decision.link
            links.append(
                customers.NewLink(
                    row, best.customer_id, best.method, best.confidence, best.evidence()
                )
            )
        offers += [(row.id, option) for option in decision.suggest]
    return Resolution(customers.link_many(session, links, actor), suggest(session, offers))


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
        done = resolve(session, chunk, crm, actor=actor)
        total.linked += done.linked
        total.suggested += done.suggested
    return total


@dataclass
class LinkStage:
    """Link the authors of a batch of mentions, and queue what qualifies for the CRM."""

    crm: CrmSettings
    connectors: list[str] = field(default_factory=list)

    def __call__(self, session: Session, mentions: Sequence[Mention]) -> None:
        ids = [m.id for m in mentions if m.id is not None]
        if not ids:
            return
        rows = session.execute(
            select(models.Mention, models.Author, models.Classification)
            .join(models.Author, models.Author.id == models.Mention.author_id)
            .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
            .where(models.Mention.id.in_(ids))
        ).all()
        authors = {author.id: author for _, author, _ in rows}
        texts: dict[int, list[str]] = {}
        for mention, author, _ in rows:
            texts.setdefault(author.id, []).append(mention.text)
        resolve(session, list(authors.values()), self.crm, texts)
        if self.connectors:
            push(session, [(m, a, c) for m, a, c in rows], self.crm, self.connectors)


Row = tuple[models.Mention, models.Author, models.Classification | None]


def qualifies(classification: models.Classification | None, crm: CrmSettings) -> bool:
    """Whether a mention by an author who is not a customer is worth the CRM's attention."""
    if classification is None:
        return False
    intents = classification.intents
    return any(
        intents.get(i, 0.0) >= crm.push_intent_probability for i in crm.push_unlinked_intents
    )


def push(session: Session, rows: Sequence[Row], crm: CrmSettings, connectors: list[str]) -> int:
    """Queue a contact.mention event for mentions by customers and by qualifying authors.

    A customer's profile is marked for the next profile push; listening alone pushes nothing.
    """
    linked = {a.customer_id for _, a, _ in rows if a.customer_id is not None}
    people = {
        c.id: c
        for c in session.scalars(select(models.Customer).where(models.Customer.id.in_(linked)))
    }
    held = customers.identities_of(session, linked)
    now = utcnow()
    known: list[outbox.Outgoing] = []
    leads: list[outbox.Outgoing] = []
    for mention, author, classification in rows:
        customer = people.get(author.customer_id or -1)
        body = events.mention_body(mention, classification)
        key = f"mention:{mention.id}"
        if customer is not None:
            who = events.contact(customer, held.get(customer.id, []))
            payload = events.envelope(events.CONTACT_MENTION, key, now, who, mention=body)
            known.append(outbox.Outgoing(payload, customer_id=customer.id))
        elif qualifies(classification, crm):
            found = identities.of_author(author.source, author.handle, author.key)
            who = events.contact(None, found, author)
            payload = events.envelope(events.CONTACT_MENTION, key, now, who, mention=body)
            leads.append(outbox.Outgoing(payload, author_id=author.id))
    outbox.enqueue_many(session, connectors, known)
    reach = [name for name in connectors if name not in outbox.NEEDS_CONTACT_ID]
    outbox.enqueue_many(session, reach, leads)
    customers.mark_dirty(session, set(people), now)
    return len(known) + len(leads)
