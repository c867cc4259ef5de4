"""Customer records: link and unlink authors, merge and split customers, every change undoable.

Each change writes a `customer_history` row holding what is needed to undo it, and an audit
entry that names only ids (so erasing a person leaves the audit trail without personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from crm_sync import identities
from crm_sync.identities import Identity
from socialcrm import models, storage
from socialcrm.mention import utcnow

# who automatic linking acts as, in the history and the audit log
LINKER = "linker"


class CustomerError(ValueError):
    """A change that cannot be made as asked; the message says why, in one line."""


def active_customer(session: Session, customer_id: int) -> models.Customer:
    """The customer `customer_id`, which must exist and not be merged into another."""
    customer = session.get(models.Customer, customer_id)
    if customer is None:
        raise CustomerError(f"no customer {customer_id}")
    if customer.merged_into_id is not None:
        raise CustomerError(
            f"customer {customer_id} was merged into {customer.merged_into_id}: use that one"
        )
    return customer


def author(session: Session, author_id: int) -> models.Author:
    """The author `author_id`, which must exist."""
    found = session.get(models.Author, author_id)
    if found is None:
        raise CustomerError(f"no author {author_id}")
    return found


def history(session: Session, customer_id: int, action: str, actor: str, data: Any) -> int:
    """Record a change to a customer; returns the history id."""
    entry = models.CustomerHistory(customer_id=customer_id, action=action, actor=actor, data=data)
    session.add(entry)
    session.flush()
    return entry.id


def audit(
    session: Session,
    actor: str,
    action: str,
    subject: tuple[str, int],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An audit entry; by rule it carries ids and numbers, never names or addresses."""
    session.execute(insert(models.AuditEntry), [_audit_row(actor, action, subject, before, after)])


@dataclass(frozen=True, slots=True)
class NewLink:
    """An author to link to a customer, how, and why."""

    author: models.Author
    customer_id: int
    method: str = "manual"
    confidence: float = 1.0
    evidence: Sequence[dict[str, Any]] = ()


def link(
    session: Session,
    author_id: int,
    customer_id: int,
    actor: str,
    method: str = "manual",
    confidence: float = 1.0,
    evidence: Sequence[dict[str, Any]] = (),
) -> bool:
    """Link an author to a customer; False when it already was.

    An author linked to another customer is unlinked from it first (so the link is remembered
    as wrong, and the identity it added goes).
    """
    row = author(session, author_id)
    if row.customer_id not in (None, customer_id):
        active_customer(session, customer_id)  # refuse before changing anything
        unlink(session, author_id, actor)
    return link_many(session, [NewLink(row, customer_id, method, confidence, evidence)], actor) == 1


def link_many(session: Session, links: Sequence[NewLink], actor: str) -> int:
    """Make links in a few statements whatever their number; returns how many were new.

    Each author's platform identities are added to its customer (unless a customer holds them
    already), so their next mention links exactly; unlinking removes them again. The authors
    must not be linked to another customer (`link` unlinks them first).
    """
    todo = [new for new in links if new.author.customer_id != new.customer_id]
    if not todo:
        return 0
    _check_active(session, {new.customer_id for new in todo})
    added = _add_platform_identities(session, todo)
    now = utcnow()
    history_rows, audit_rows = [], []
    for new in todo:
        row = new.author
        previous = _link_state(row)
        row.customer_id, row.link_method, row.link_confidence = (
            new.customer_id,
            new.method,
            new.confidence,
        )
        row.link_evidence, row.linked_at = list(new.evidence), now
        history_rows.append(
            {
                "customer_id": new.customer_id,
                "action": "link",
                "actor": actor,
                "data": {
                    "author_id": row.id,
                    "previous": previous,
                    "identity_ids": added.get(row.id, []),
                },
            }
        )
        after = {"customer_id": new.customer_id, "method": new.method, "confidence": new.confidence}
        audit_rows.append(
            _audit_row(
                actor,
                "author.link",
                ("author", row.id),
                after=after,
                before={"customer_id": previous["customer_id"]},
            )
        )
    session.execute(insert(models.CustomerHistory), history_rows)
    session.execute(insert(models.AuditEntry), audit_rows)
    mark_dirty(session, {new.customer_id for new in todo}, now)
    suggestion = models.LinkSuggestion
    pairs = [(new.author.id, new.customer_id) for new in todo]
    session.execute(
        update(suggestion)
        .where(tuple_(suggestion.author_id, suggestion.customer_id).in_(pairs))
        .values(state="accepted", decided_at=now, decided_by=actor),
        execution_options={"synchronize_session": "fetch"},
    )
    return len(todo)


def _check_active(session: Session, customer_ids: set[int]) -> None:
    rows = dict(
        session.execute(
            select(models.Customer.id, models.Customer.merged_into_id).where(
                models.Customer.id.in_(customer_ids)
            )
        ).all()
    )
    for customer_id in sorted(customer_ids):
        if customer_id not in rows:
            raise CustomerError(f"no customer {customer_id}")
        if rows[customer_id] is not None:
            raise CustomerError(
                f"customer {customer_id} was merged into {rows[customer_id]}: use that one"
            )


def mark_dirty(session: Session, customer_ids: set[int], now: datetime) -> None:
    """Note that the CRM should hear about these customers at the next profile push.

    Always the latest time: a push clears only marks no newer than what it read.
    """
    session.execute(
        update(models.Customer).where(models.Customer.id.in_(customer_ids)).values(dirty_since=now),
        execution_options={"synchronize_session": "fetch"},
    )


def _audit_row(
    actor: str,
    action: str,
    subject: tuple[str, int],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "actor": actor,
        "action": action,
        "subject_type": subject[0],
        "subject_id": str(subject[1]),
        "before": before,
        "after": after,
    }


def _link_state(row: models.Author) -> dict[str, Any]:
    return {
        "customer_id": row.customer_id,
        "method": row.link_method,
        "confidence": row.link_confidence,
        "evidence": row.link_evidence,
        "linked_at": row.linked_at.isoformat() if row.linked_at else None,
    }


def _add_platform_identities(session: Session, todo: Sequence[NewLink]) -> dict[int, list[int]]:
    """Give each customer its new author's platform identities (handle, and the platform's id
    where it has one, e.g. a Bluesky DID that outlives a handle); author id -> identities added.
    """
    wanted: dict[Identity, NewLink] = {}
    for new in todo:
        for identity in identities.of_author(new.author.source, new.author.handle, new.author.key):
            wanted.setdefault(identity, new)
    held = owners_of(session, list(wanted))
    rows = [
        {
            "customer_id": new.customer_id,
            "kind": kind,
            "value": value,
            "confidence": new.confidence,
            "evidence": {"via": f"{new.method} link", "author_id": new.author.id},
        }
        for (kind, value), new in wanted.items()
        if (kind, value) not in held
    ]
    if not rows:
        return {}
    # another worker may add the same identity meanwhile: theirs stands
    stmt = storage.upsert(session, models.Identity.__table__).on_conflict_do_nothing(
        index_elements=["kind", "value"]
    )
    made = session.execute(
        stmt.returning(models.Identity.id, models.Identity.kind, models.Identity.value), rows
    )
    added: dict[int, list[int]] = {}
    for identity_id, kind, value in made:
        added.setdefault(wanted[(kind, value)].author.id, []).append(identity_id)
    return added


def identities_of(session: Session, customer_ids: Iterable[int]) -> dict[int, list[Identity]]:
    """Each customer's identities, in the order they were added."""
    table = models.Identity
    rows = session.execute(
        select(table.customer_id, table.kind, table.value)
        .where(table.customer_id.in_(list(customer_ids)))
        .order_by(table.id)
    )
    held: dict[int, list[Identity]] = {}
    for customer_id, kind, value in rows:
        held.setdefault(customer_id, []).append((kind, value))
    return held


def owners_of(session: Session, wanted: Sequence[Identity]) -> dict[Identity, int]:
    """Which customer holds each of `wanted` identities (those held by none are absent)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(wanted):
        by_kind.setdefault(kind, []).append(value)
    owners: dict[Identity, int] = {}
    table = models.Identity
    for kind, values in by_kind.items():
        # one kind at a time: `kind = ? AND value IN (...)` uses the (kind, value) index
        for start in range(0, len(values), 500):
            rows = session.execute(
                select(table.value, table.customer_id).where(
                    table.kind == kind, table.value.in_(values[start : start + 500])
                )
            )
            owners.update({(kind, value): owner for value, owner in rows})
    return owners


def unlink(session: Session, author_id: int, actor: str) -> int:
    """Undo an author's link; returns the customer it was linked to.

    The identity the link added goes, and the pair is remembered as rejected, so automatic
    linking does not make the same link again.
    """
    row = author(session, author_id)
    customer_id = row.customer_id
    if customer_id is None:
        raise CustomerError(f"author {author_id} is not linked to a customer")
    # the link may have been made with a record merged into this one since
    merged = select(models.Customer.id).where(models.Customer.merged_into_id == customer_id)
    made = session.scalars(
        select(models.CustomerHistory)
        .where(
            models.CustomerHistory.customer_id.in_([customer_id, *session.scalars(merged)]),
            models.CustomerHistory.action == "link",
            models.CustomerHistory.undone_at.is_(None),
        )
        .order_by(models.CustomerHistory.id.desc())
    )
    entry = next((h for h in made if h.data.get("author_id") == author_id), None)
    if entry is not None:
        entry.undone_at = utcnow()
        added = entry.data.get("identity_ids", [])
        session.execute(delete(models.Identity).where(models.Identity.id.in_(added)))
    before = _link_state(row)
    row.customer_id = row.link_method = row.link_confidence = None
    row.link_evidence = row.linked_at = None
    history(session, customer_id, "unlink", actor, {"author_id": author_id, "previous": before})
    _decide_suggestion(session, author_id, customer_id, "rejected", actor)
    mark_dirty(session, {customer_id}, utcnow())
    audit(session, actor, "author.unlink", ("author", author_id), {"customer_id": customer_id})
    return customer_id


def _decide_suggestion(
    session: Session, author_id: int, customer_id: int, state: str, actor: str
) -> None:
    """Record a person's decision about the pair, creating the suggestion row if needed."""
    row = session.scalar(
        select(models.LinkSuggestion).where(
            models.LinkSuggestion.author_id == author_id,
            models.LinkSuggestion.customer_id == customer_id,
        )
    )
    if row is None:
        if state == "accepted":
            return  # nothing to remember: the link itself says it
        row = models.LinkSuggestion(
            author_id=author_id, customer_id=customer_id, confidence=0.0, evidence=[]
        )
        session.add(row)
    row.state, row.decided_at, row.decided_by = state, utcnow(), actor


def decide(session: Session, suggestion_id: int, accept: bool, actor: str) -> models.LinkSuggestion:
    """Accept (link) or reject an open suggestion."""
    row = session.get(models.LinkSuggestion, suggestion_id)
    if row is None:
        raise CustomerError(f"no suggestion {suggestion_id}")
    if row.state != "open":
        raise CustomerError(f"suggestion {suggestion_id} was already {row.state}")
    if accept:
        link(
            session,
            row.author_id,
            row.customer_id,
            actor,
            "suggestion",
            row.confidence,
            row.evidence,
        )
    else:
        _decide_suggestion(session, row.author_id, row.customer_id, "rejected", actor)
    return row


def find_author(session: Session, ref: str) -> models.Author:
    """An author by id, `source:handle` or a handle found on one source only."""
    ref = ref.strip()
    if ref.isdigit():
        return author(session, int(ref))
    source, colon, handle = ref.partition(":")
    sources = set(session.scalars(select(models.Author.source).distinct()))
    if not colon or source not in sources:
        source, handle = "", ref  # e.g. a Bluesky did:plc:... is a handle, not source:handle
    wanted = handle.removeprefix("@").lower()
    query = select(models.Author).where(func.lower(models.Author.handle) == wanted)
    if source:
        query = query.where(models.Author.source == source)
    found = list(session.scalars(query.limit(6)))
    if not found:
        raise CustomerError(f"no author {ref!r} (give an author id or source:handle)")
    if len(found) > 1:
        names = ", ".join(f"{a.id} ({a.source}:{a.handle})" for a in found[:5])
        raise CustomerError(f"{ref!r} names several authors: {names}; give one id")
    return found[0]
