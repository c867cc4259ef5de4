"""CSV exports of the queue, customers and mentions: filters, roles, safe cells, batches."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from crm_sync.customers import link
from socialcrm import models
from socialcrm.db import Database
from socialcrm.web import pages_customers, pages_mentions, pages_queue
from tests.engagement.builders import post, route, store, tasks
from tests.web.conftest import XSS_HANDLE, XSS_TEXT, Seeded

RoleClient = Callable[[str], TestClient]
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _ids_on_page(page: str, kind: str) -> list[str]:
    return list(dict.fromkeys(re.findall(rf'href="/{kind}/(\d+)"', page)))


def _defused(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA), value


def _more_tasks(db: Database, count: int, first: int = 100) -> None:
    """`count` more open tasks, each by its own author in its own thread; every third linked."""
    for number in range(first, first + count):
        mention = post(number, handle=f"user{number}", thread=f"x{number}")
        store(db, mention, "negative", needs_reply=0.9, complaint=0.9)
    route(db)
    with db.transaction() as session:
        customer = models.Customer(display_name=f"Customer {first}")
        session.add(customer)
        session.flush()
        for number in range(first, first + count, 3):
            author = select(models.Author.id).where(models.Author.handle == f"user{number}")
            link(session, session.scalars(author).one(), customer.id, "test")


# --- the queue


def test_the_queue_csv_has_the_open_tasks_of_the_page_with_formulas_defused(
    as_role: RoleClient, seeded: Seeded
) -> None:
    agent = as_role("agent")
    answer = agent.get("/queue.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="queue.csv"' in answer.headers["content-disposition"]
    rows = _csv(answer.text)
    assert [r["id"] for r in rows] == _ids_on_page(agent.get("/queue").text, "queue")
    hostile = next(r for r in rows if r["id"] == str(seeded.task))
    assert hostile["text"] == "'" + XSS_TEXT
    assert hostile["author"] == "'" + XSS_HANDLE
    assert hostile["customer_id"] == str(seeded.customer)
    assert hostile["intents"] == "complaint"
    assert hostile["mentions"] == "1"
    _defused(rows)


def test_the_queue_csv_keeps_the_pages_filters(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    agent = as_role("agent")
    with db.transaction() as session:
        session.execute(
            update(models.Task).where(models.Task.id == seeded.task).values(queue="vip")
        )
    page = agent.get("/queue?mine=true&queue_name=vip").text
    assert 'href="/queue.csv?mine=true&amp;queue_name=vip"' in page
    assert 'href="/queue.csv?"' in agent.get("/queue").text
    assert _csv(agent.get("/queue.csv?mine=true").text) == []  # nobody claimed anything
    assert [r["id"] for r in _csv(agent.get("/queue.csv?queue_name=vip").text)] == [
        str(seeded.task)
    ]
    others = _csv(agent.get("/queue.csv?queue_name=support").text)
    assert others
    assert str(seeded.task) not in {r["id"] for r in others}


def test_the_queue_csv_streams_every_task_in_the_pages_order(
    as_role: RoleClient, seeded: Seeded, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _more_tasks(db, 9)
    with db.transaction() as session:  # ties and tasks without an SLA, to test the keyset
        session.execute(update(models.Task).where(models.Task.id % 2 == 0).values(priority=1))
        session.execute(update(models.Task).where(models.Task.id % 3 == 0).values(sla_due_at=None))
    monkeypatch.setattr(pages_queue, "EXPORT_BATCH", 2)
    agent = as_role("agent")
    rows = _csv(agent.get("/queue.csv").text)
    assert [r["id"] for r in rows] == _ids_on_page(agent.get("/queue").text, "queue")
    assert len(rows) == len([t for t in tasks(db) if t.state == "new"]) == 11
    _defused(rows)


def test_analysts_and_strangers_get_no_queue_or_customer_csv(
    as_role: RoleClient, seeded: Seeded, client: TestClient
) -> None:
    analyst = as_role("analyst")
    for path in ("/queue.csv", "/customers.csv", "/customers.csv?q=leaky"):
        answer = analyst.get(path)
        assert answer.status_code == 403, path
        assert "leaky@example.com" not in answer.text
        stranger = client.get(path, follow_redirects=False)
        assert stranger.status_code == 303
        assert stranger.headers["location"].startswith("/login")


# --- customers


def test_the_customers_csv_has_the_search_results_with_formulas_defused(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    with db.transaction() as session:
        session.add(models.Customer(display_name="=HYPERLINK(1)", email="+1@example.com"))
    agent = as_role("agent")
    page = agent.get("/customers?q=leaky").text
    assert 'href="/customers.csv?q=leaky"' in page
    rows = _csv(agent.get("/customers.csv?q=leaky").text)
    assert rows == [
        {
            "id": str(seeded.customer),
            "display_name": "<iframe src=javascript:alert('customer')>",
            "email": "leaky@example.com",
            "crm_id": "",
        }
    ]
    everyone = _csv(agent.get("/customers.csv").text)
    assert [r["id"] for r in everyone] == _ids_on_page(agent.get("/customers").text, "customers")
    assert {r["display_name"] for r in everyone} >= {"'=HYPERLINK(1)"}
    _defused(everyone)


def test_the_customers_csv_streams_past_one_batch(
    as_role: RoleClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.transaction() as session:
        session.add_all(models.Customer(display_name=f"Person {n}") for n in range(7))
        session.add(models.Customer(display_name="Someone else"))
    monkeypatch.setattr(pages_customers, "EXPORT_BATCH", 3)
    rows = _csv(as_role("agent").get("/customers.csv?q=person").text)
    assert [r["display_name"] for r in rows] == [f"Person {n}" for n in range(7)]


# --- mentions


def test_the_mentions_csv_streams_past_one_batch_with_no_cap(
    as_role: RoleClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_mentions, "EXPORT_BATCH", 1)
    agent = as_role("agent")
    rows = _csv(agent.get("/mentions.csv").text)
    assert [r["id"] for r in rows] == _ids_on_page(agent.get("/mentions").text, "mentions")
    assert len(rows) == 4
    assert not hasattr(pages_mentions, "MAX_EXPORT")


# --- the queue page's queries


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on `db` inside the block."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_the_queue_page_runs_as_many_queries_for_25_tasks_as_for_5(
    as_role: RoleClient, db: Database
) -> None:
    agent = as_role("agent")
    _more_tasks(db, 5)
    agent.get("/queue")  # value segments are ranked once and cached
    with _statements(db) as five:
        page = agent.get("/queue").text
    assert len(_ids_on_page(page, "queue")) == 5
    _more_tasks(db, 20, first=200)
    with _statements(db) as twenty_five:
        page = agent.get("/queue").text
    assert len(_ids_on_page(page, "queue")) == 25
    assert len(twenty_five) == len(five), twenty_five
    assert len(five) <= 12, five
