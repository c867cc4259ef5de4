"""Profile pushes: a changed profile is queued once; an unchanged one is not queued again."""

from __future__ import annotations

from sqlalchemy import delete, select

from crm_sync.customers import mark_dirty
from crm_sync.sync import push_profiles
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import CrmSettings
from tests.crm_sync.helpers import customers, post, save

CRM = CrmSettings()


def _queued(db: Database) -> list[models.OutboxMessage]:
    with db.transaction() as session:
        return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


def _touch(db: Database, customer_id: int) -> None:
    with db.transaction() as session:
        mark_dirty(session, {customer_id}, utcnow())


def test_profiles_are_queued_when_they_change_and_only_then(db: Database) -> None:
    [ada] = customers(db, {"crm_id": "C-1", "email": "ada@example.org", "reddit": "ada"})
    _touch(db, ada)
    assert push_profiles(db, CRM, ["webhook"]) == 1
    first = _queued(db)[0]
    assert first.payload["event"] == "contact.upsert"
    assert first.payload["contact"]["crm_id"] == "C-1"
    assert first.payload["profile"]["counts"]["mention"] == 0
    # marked again with nothing new: nothing queued, and the mark is cleared
    _touch(db, ada)
    assert push_profiles(db, CRM, ["webhook"]) == 0
    with db.transaction() as session:
        customer = session.get(models.Customer, ada)
        assert customer is not None
        assert customer.dirty_since is None
    # a mention by the customer changes the profile
    [mention] = save(db, post(1, "ada"))
    with db.transaction() as session:
        session.execute(
            models.Author.__table__.update().values(customer_id=ada)  # type: ignore[attr-defined]
        )
    _touch(db, ada)
    assert push_profiles(db, CRM, ["webhook"]) == 1
    assert _queued(db)[-1].payload["profile"]["counts"]["mention"] == 1
    # back to the first state (the mention erased): queued again, the CRM holds the second
    with db.transaction() as session:
        session.execute(delete(models.Mention).where(models.Mention.id == mention))
    _touch(db, ada)
    assert push_profiles(db, CRM, ["webhook"]) == 1
    assert _queued(db)[-1].payload["profile"]["counts"]["mention"] == 0
    assert len({m.idempotency_key for m in _queued(db)}) == 3


def test_nothing_is_built_without_a_connector(db: Database) -> None:
    [ada] = customers(db, {"crm_id": "C-1"})
    _touch(db, ada)
    assert push_profiles(db, CRM, []) == 0
    assert _queued(db) == []
