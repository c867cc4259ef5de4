"""Task cards loaded in a batch: the same cards as one by one, in the order asked for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm_sync.customers import link
from engagement import views
from socialcrm import models
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import START, post, route, store, tasks

SETTINGS = Settings()


def _seed(db: Database) -> int:
    """Ana (linked to a VIP customer) in two threads, one with two posts; Bea unlinked."""
    store(db, post(1, handle="ana", thread="t1"), "negative", needs_reply=0.9, complaint=0.9)
    store(db, post(2, handle="ana", thread="t1"), "negative", needs_reply=0.9, complaint=0.9)
    store(db, post(3, handle="ana", thread="t2"), "neutral", needs_reply=0.9, question=0.9)
    store(db, post(4, handle="bea", thread="t3"), "neutral", needs_reply=0.9, question=0.9)
    route(db)
    with db.transaction() as session:
        customer = models.Customer(display_name="Ana Co", attributes={"vip": "yes"})
        session.add(customer)
        session.flush()
        ana = session.scalars(select(models.Author.id).where(models.Author.handle == "ana")).one()
        link(session, ana, customer.id, "test")
        return customer.id


def test_a_batch_has_the_cards_one_by_one_would_give_in_the_order_asked(db: Database) -> None:
    _seed(db)
    ids = [task.id for task in tasks(db)]
    wanted = [*reversed(ids), 999_999]  # a task that is gone is left out
    with db.transaction() as session:
        batch = views.task_views(session, wanted, SETTINGS)
        single = [views.task_view(session, task_id, SETTINGS) for task_id in wanted]
    assert [view.task_id for view in batch] == list(reversed(ids))
    assert [*batch, None] == single


def test_a_card_counts_its_conversation_and_its_customers_contacts(db: Database) -> None:
    customer_id = _seed(db)
    with db.transaction() as session:
        cards = views.open_tasks(session, SETTINGS)
        assert views.task_views(session, [], SETTINGS) == []
    assert len(cards) == 3
    thread = next(v for v in cards if v.mention_count == 2)
    assert thread.author_handle == "ana"
    assert thread.sentiment == "negative"
    customer = thread.customer
    assert customer is not None
    assert customer.id == customer_id
    assert customer.vip
    assert customer.mentions_total == 3
    assert customer.open_tasks == 2
    assert customer.last_contact == START + timedelta(minutes=3)
    bea = next(v for v in cards if v.author_handle == "bea")
    assert bea.customer is None
    assert bea.mention_count == 1
