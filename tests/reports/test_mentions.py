"""The filtered mention list: every filter, full-text search, keyset pagination."""

from __future__ import annotations

import pytest

from reports import queries
from reports.filters import MentionFilter, parse
from reports.queries import iter_mentions, mention_by_id, mention_page
from socialcrm.db import Database
from tests.reports import builders as b


def _ids(db: Database, f: MentionFilter, limit: int = 50) -> list[int]:
    with db.transaction() as session:
        return [row.id for row in mention_page(session, f, limit).rows]


@pytest.fixture
def sample(db: Database) -> dict[str, int]:
    """Six mentions by two authors, one of them a customer's."""
    ada_customer = b.customer(db, "Ada Ltd")
    ada = b.author(db, "ada", followers=10, customer_id=ada_customer)
    bob = b.author(db, "bob", source="mastodon")
    return {
        "customer": ada_customer,
        "refund": b.mention(
            db,
            ada,
            b.at(0),
            "I want a REFUND for my order",
            sentiment="negative",
            intents={"complaint": 0.9},
        ),
        "praise": b.mention(
            db,
            bob,
            b.at(1),
            "Love the new app",
            source="mastodon",
            sentiment="positive",
            intents={"praise": 0.8},
        ),
        "rival": b.mention(
            db,
            bob,
            b.at(2),
            "Globex has refund issues too",
            source="mastodon",
            query="competitor:globex",
            sentiment="negative",
        ),
        "unlabelled": b.mention(db, ada, b.at(3), "c'est la vie", labelled=False),
        "other_lang": b.mention(db, ada, b.at(4), "das ist gut", sentiment=None),
        "question": b.mention(
            db,
            ada,
            b.at(5),
            "how do I get a refund?",
            sentiment="neutral",
            intents={"question": 0.7, "complaint": 0.2},
        ),
    }


def test_newest_first_with_labels_and_author(db: Database, sample: dict[str, int]) -> None:
    with db.transaction() as session:
        page = mention_page(session, MentionFilter(), 50)
    assert [row.id for row in page.rows] == sorted(
        (v for k, v in sample.items() if k != "customer"), reverse=True
    )
    assert page.next_after is None
    first = page.rows[0]
    assert (first.author_handle, first.sentiment, first.customer_id) == (
        "ada",
        "neutral",
        sample["customer"],
    )
    assert first.intents == {"question": 0.7, "complaint": 0.2}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"source": "mastodon"}, ["rival", "praise"]),
        ({"query": "competitor:globex"}, ["rival"]),
        ({"sentiment": "negative"}, ["rival", "refund"]),
        ({"sentiment": "unlabelled"}, ["other_lang", "unlabelled"]),
        ({"intent": "complaint"}, ["refund"]),
        ({"intent": "question"}, ["question"]),
        ({"text": "refund"}, ["question", "rival", "refund"]),
        ({"text": "Refund ORDER"}, ["refund"]),  # every word, any case
        ({"text": "refund", "source": "reddit", "sentiment": "negative"}, ["refund"]),
        ({"since": "2026-03-03T00:00:00Z", "until": "2026-03-05"}, ["rival", "praise"]),
    ],
)
def test_each_filter(
    db: Database, sample: dict[str, int], fields: dict[str, str], expected: list[str]
) -> None:
    assert _ids(db, parse(**fields)) == [sample[name] for name in expected]  # type: ignore[arg-type]


def test_customer_filter_finds_every_author_of_the_customer(
    db: Database, sample: dict[str, int]
) -> None:
    found = _ids(db, MentionFilter(customer_id=sample["customer"]))
    assert found == [sample[n] for n in ("question", "other_lang", "unlabelled", "refund")]
    assert _ids(db, MentionFilter(customer_id=sample["customer"] + 100)) == []


@pytest.mark.parametrize(
    "hostile", ['refund" OR "love', "refund*", "NEAR(refund love)", "text:refund", "'; --", "-x"]
)
def test_search_syntax_from_users_is_only_words(
    db: Database, sample: dict[str, int], hostile: str
) -> None:
    # FTS5 and tsquery operators in the search box are plain words: no error, no OR
    found = set(_ids(db, MentionFilter(text=hostile)))
    assert sample["praise"] not in found


def test_search_of_only_punctuation_finds_nothing(db: Database, sample: dict[str, int]) -> None:
    assert _ids(db, MentionFilter(text="?!")) == []


def test_keyset_pages_are_stable_and_complete(db: Database, sample: dict[str, int]) -> None:
    seen: list[int] = []
    after = None
    with db.transaction() as session:
        while True:
            page = mention_page(session, MentionFilter(), 4, after)
            seen += [row.id for row in page.rows]
            if page.next_after is None:
                break
            after = page.next_after
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 6
    # a mention added meanwhile goes on top: the next page is unchanged
    with db.transaction() as session:
        before = [r.id for r in mention_page(session, MentionFilter(), 2, seen[1]).rows]
    b.mention(db, b.author(db, "cy"), b.at(9))
    with db.transaction() as session:
        assert [r.id for r in mention_page(session, MentionFilter(), 2, seen[1]).rows] == before


def test_iter_mentions_reads_all_pages_and_stops_at_limit(
    db: Database, sample: dict[str, int]
) -> None:
    with db.transaction() as session:
        assert len(list(iter_mentions(session, MentionFilter(), batch=2))) == 6
        assert len(list(iter_mentions(session, MentionFilter(), batch=2, limit=3))) == 3


def test_mention_by_id(db: Database, sample: dict[str, int]) -> None:
    with db.transaction() as session:
        row = mention_by_id(session, sample["praise"])
        assert mention_by_id(session, 10_000) is None
    assert row is not None
    assert (row.text, row.source, row.sentiment) == ("Love the new app", "mastodon", "positive")


@pytest.mark.parametrize(
    "fields",
    [{}, {"text": "refund"}, {"sentiment": "negative"}, {"source": "mastodon"}, {"text": "app"}],
)
def test_small_windows_give_the_same_pages(
    db: Database, sample: dict[str, int], monkeypatch: pytest.MonkeyPatch, fields: dict[str, str]
) -> None:
    # the windows widen step by step (newest 1 id, 2 ids, 3 ids, then all): same rows, same order
    f = parse(**fields)  # type: ignore[arg-type]
    whole = _ids(db, f, limit=2)
    monkeypatch.setattr(queries, "WINDOWS", (1, 2, 3))
    monkeypatch.setattr(queries, "PROBE", 1)
    assert _ids(db, f, limit=2) == whole
    pages, after = [], None
    with db.transaction() as session:
        while True:
            page = mention_page(session, f, 1, after)
            pages += [row.id for row in page.rows]
            if page.next_after is None:
                break
            after = page.next_after
    assert pages == _ids(db, f)
