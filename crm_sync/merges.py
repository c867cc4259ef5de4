"""Merging two records of one person, and splitting them again exactly as they were."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_sync.customers import CustomerError, active_customer, audit, history, mark_dirty
from socialcrm import models
from socialcrm.mention import utcnow

FIELDS = ("display_name", "email", "crm_id", "attributes")


def fields(customer: models.Customer) -> dict[str, Any]:
    """The customer's own fields, as merge snapshots keep them."""
    return {name: getattr(customer, name) for name in FIELDS}


def merge(session: Session, survivor_id: int, absorbed_id: int, actor: str) -> int:
    """Merge `absorbed_id` into `survivor_id`; returns the merge's id, which `split` undoes.

    Identities, authors and suggestions move to the survivor; the survivor keeps its own
    fields and takes the absorbed customer's only where it has none. The absorbed record stays,
    marked merged, so splitting restores both as they were.
    """
    if survivor_id == absorbed_id:
        raise CustomerError("a customer cannot be merged into itself")
    survivor = active_customer(session, survivor_id)
    absorbed = active_customer(session, absorbed_id)
    snapshot = {
        "absorbed_id": absorbed_id,
        "survivor_before": fields(survivor),
        "absorbed_before": fields(absorbed),
        "identity_ids": _ids(session, models.Identity, absorbed_id),
        "author_ids": _ids(session, models.Author, absorbed_id),
        "suggestions": _move_suggestions(session, absorbed_id, survivor_id),
    }
    for table in (models.Identity, models.Author):
        session.execute(
            update(table).where(table.customer_id == absorbed_id).values(customer_id=survivor_id)
        )
    _fill_fields(session, survivor, absorbed)
    absorbed.merged_into_id = survivor_id
    mark_dirty(session, {survivor_id, absorbed_id}, utcnow())
    merge_id = history(session, survivor_id, "merge", actor, snapshot)
    audit(
        session,
        actor,
        "customer.merge",
        ("customer", survivor_id),
        None,
        {"absorbed_id": absorbed_id, "merge_id": merge_id},
    )
    return merge_id


def _ids(session: Session, table: Any, customer_id: int) -> list[int]:
    return list(session.scalars(select(table.id).where(table.customer_id == customer_id)))


def _move_suggestions(session: Session, absorbed_id: int, survivor_id: int) -> dict[str, Any]:
    """Move the absorbed customer's suggestions; one about an author the survivor already has a
    suggestion for is dropped, and kept in the snapshot to be restored."""
    table = models.LinkSuggestion
    taken = set(session.scalars(select(table.author_id).where(table.customer_id == survivor_id)))
    moved, dropped = [], []
    for row in session.scalars(select(table).where(table.customer_id == absorbed_id)):
        if row.author_id in taken:
            dropped.append(_suggestion_row(row))
            session.delete(row)
        else:
            moved.append(row.id)
            row.customer_id = survivor_id
    session.flush()
    return {"moved": moved, "dropped": dropped}


def _suggestion_row(row: models.LinkSuggestion) -> dict[str, Any]:
    return {
        "author_id": row.author_id,
        "confidence": row.confidence,
        "evidence": row.evidence,
        "state": row.state,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decided_by": row.decided_by,
    }


def _fill_fields(session: Session, survivor: models.Customer, absorbed: models.Customer) -> None:
    survivor.display_name = survivor.display_name or absorbed.display_name
    survivor.email = survivor.email or absorbed.email
    if survivor.crm_id is None and absorbed.crm_id is not None:
        crm_id, absorbed.crm_id = absorbed.crm_id, None
        session.flush()  # crm_id is unique: free it before the survivor takes it
        survivor.crm_id = crm_id
    survivor.attributes = {**absorbed.attributes, **survivor.attributes}
    survivor.updated_at = absorbed.updated_at = utcnow()


def split(session: Session, merge_id: int, actor: str) -> int:
    """Undo merge `merge_id`: both customers as they were before it; returns the restored id.

    Whatever was linked to the survivor after the merge stays with it.
    """
    entry = session.get(models.CustomerHistory, merge_id)
    if entry is None or entry.action != "merge":
        raise CustomerError(f"no merge {merge_id} (see `socialcrm customers show ID`)")
    if entry.undone_at is not None:
        raise CustomerError(f"merge {merge_id} was already split")
    data, survivor_id = entry.data, entry.customer_id
    survivor = active_customer(session, survivor_id)
    absorbed = session.get(models.Customer, data["absorbed_id"])
    if absorbed is None or absorbed.merged_into_id != survivor_id:
        raise CustomerError(
            f"customer {data['absorbed_id']} is no longer merged into {survivor_id}"
        )
    for table, key in ((models.Identity, "identity_ids"), (models.Author, "author_ids")):
        session.execute(
            update(table)
            .where(table.id.in_(data[key]), table.customer_id == survivor_id)
            .values(customer_id=absorbed.id)
        )
    _restore_suggestions(session, data["suggestions"], survivor_id, absorbed.id)
    _restore_fields(session, survivor, data["survivor_before"])
    _restore_fields(session, absorbed, data["absorbed_before"])
    absorbed.merged_into_id = None
    entry.undone_at = utcnow()
    mark_dirty(session, {survivor_id, absorbed.id}, entry.undone_at)
    history(session, survivor_id, "split", actor, {"merge_id": merge_id, "restored": absorbed.id})
    audit(
        session,
        actor,
        "customer.split",
        ("customer", survivor_id),
        None,
        {"restored_id": absorbed.id, "merge_id": merge_id},
    )
    return absorbed.id


def _restore_suggestions(
    session: Session, saved: dict[str, Any], survivor_id: int, absorbed_id: int
) -> None:
    table = models.LinkSuggestion
    session.execute(
        update(table)
        .where(table.id.in_(saved["moved"]), table.customer_id == survivor_id)
        .values(customer_id=absorbed_id)
    )
    authors = [row["author_id"] for row in saved["dropped"]]
    # an author forgotten or purged since the merge has no suggestion to come back to
    alive = set(session.scalars(select(models.Author.id).where(models.Author.id.in_(authors))))
    for row in saved["dropped"]:
        if row["author_id"] not in alive:
            continue
        session.add(
            table(
                customer_id=absorbed_id,
                author_id=row["author_id"],
                confidence=row["confidence"],
                evidence=row["evidence"],
                state=row["state"],
                created_at=_time(row["created_at"]),
                decided_at=_time(row["decided_at"]),
                decided_by=row["decided_by"],
            )
        )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _restore_fields(session: Session, customer: models.Customer, before: dict[str, Any]) -> None:
    if customer.crm_id != before["crm_id"]:
        customer.crm_id = None
        session.flush()  # free the unique crm_id for whichever record held it before
    for name in FIELDS:
        setattr(customer, name, before[name])
    customer.updated_at = utcnow()
    session.flush()
