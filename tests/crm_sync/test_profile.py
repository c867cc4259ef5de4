"""The enriched profile from database rows, its CRM payload, and `socialcrm customers show`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from crm_sync.profile import CustomerNotFoundError, Profile, build_profile, value_segments
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import CrmSettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CRM = CrmSettings()  # half-life 30 days; mention 1, question 2, complaint 2, praise 3,
# purchase_intent 5, reply 2, staff_action 1; revenue; A 0.8, B 0.95; churn 30 days, 0.5, 2


@dataclass
class Seeded:
    """The ids of the rows a test looks for."""

    ada: int
    customers: dict[str, int]


def _scores(positive: float, negative: float) -> dict[str, float]:
    return {
        "negative": negative,
        "neutral": round(1 - positive - negative, 4),
        "positive": positive,
    }


class _Seeder:
    """Writes rows relative to `now`."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.count = 0

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def add(self, row: models.Base) -> Any:
        self.session.add(row)
        self.session.flush()
        return row

    def customer(self, name: str, **attributes: Any) -> models.Customer:
        row = models.Customer(
            display_name=name,
            email=f"{name.lower()}@example.com",
            crm_id=f"crm-{name.lower()}",
            attributes=attributes,
        )
        return self.add(row)  # type: ignore[no-any-return]

    def author(
        self, source: str, handle: str, customer: models.Customer | None, **link: Any
    ) -> int:
        row = models.Author(
            source=source, key=handle, handle=handle, customer_id=customer and customer.id, **link
        )
        return self.add(row).id  # type: ignore[no-any-return]

    def mention(
        self,
        author_id: int,
        days: float,
        text: str,
        label: tuple[str, dict[str, float], dict[str, float]] | None = None,
        **fields: Any,
    ) -> int:
        self.count += 1
        row = self.add(
            models.Mention(
                source=fields.pop("source", "reddit"),
                source_id=f"m{self.count}",
                author_id=author_id,
                text=text,
                created_at=self.ago(days),
                **fields,
            )
        )
        if label is not None:
            sentiment, scores, intents = label
            self.add(
                models.Classification(
                    mention_id=row.id,
                    sentiment=sentiment,
                    sentiment_scores=scores,
                    intents=intents,
                    needs_reply=0.5,
                    uncertain=False,
                    lang="en",
                    model="test@1",
                )
            )
        return row.id  # type: ignore[no-any-return]

    def audit(self, actor: str, action: str, subject: str, subject_id: int, days: float) -> None:
        self.add(
            models.AuditEntry(
                actor=actor,
                action=action,
                subject_type=subject,
                subject_id=str(subject_id),
                at=self.ago(days),
            )
        )


def seed(db: Database, now: datetime = NOW) -> Seeded:
    """Ada (revenue 500) with five mentions, replies, staff work and a link; other customers."""
    with db.transaction() as session:
        s = _Seeder(session, now)
        ada = s.customer("Ada", revenue=500, plan="pro")
        others = {
            "bob": s.customer("Bob", revenue=300).id,
            "cid": s.customer("Cid", revenue="100").id,  # a numeric string counts
            "dan": s.customer("Dan", revenue=60.0).id,
            "eve": s.customer("Eve", revenue=40).id,
            "fay": s.customer("Fay").id,  # no revenue
            "gus": s.customer("Gus", revenue="call us").id,  # not a number
        }
        merged = s.customer("Ada old", revenue=10_000)
        merged.merged_into_id = ada.id  # not active: not in the ABC total
        others["merged"] = merged.id
        s.add(models.Identity(customer_id=ada.id, kind="reddit", value="ada_l"))
        s.add(
            models.Identity(
                customer_id=ada.id, kind="email", value="ada@example.com", confidence=0.7
            )
        )
        reddit = s.author(
            "reddit", "ada_l", ada, link_method="exact", link_confidence=1.0, linked_at=s.ago(44)
        )
        masto = s.author(
            "mastodon", "ada@social.example", ada, link_method="evidence", link_confidence=0.7
        )
        stranger = s.author("reddit", "someone_else", None)
        s.mention(
            reddit,
            45,
            "Love my pen #inkwell",
            ("positive", _scores(0.9, 0.05), {"praise": 0.8}),
            matched_query="brand:inkwell",
            extra={"subreddit": "FountainPens"},
        )
        s.mention(
            masto,
            35,
            "How do I refill it?",
            ("positive", _scores(0.8, 0.1), {"question": 0.6}),
            source="mastodon",
            matched_query="brand:inkwell",
        )
        m3 = s.mention(
            reddit,
            10,
            "Acme's ink never leaks, mine does",
            ("negative", _scores(0.1, 0.8), {"complaint": 0.9, "question": 0.3}),
            matched_query="competitor:acme",
            extra={"subreddit": "fountainpens"},
        )
        m4 = s.mention(
            masto,
            5,
            "#Inkwell broke again, do you sell the pro model?",
            ("negative", _scores(0.05, 0.85), {"complaint": 0.7, "purchase_intent": 0.5}),
            source="mastodon",
        )
        s.mention(reddit, 1, "still waiting")  # not classified yet
        theirs = s.mention(stranger, 2, "not Ada", ("negative", _scores(0, 1), {"complaint": 1.0}))
        sent = s.add(
            models.Reply(
                mention_id=m3,
                idempotency_key="r1",
                text="Sorry! DM us",
                state="sent",
                created_at=s.ago(9.2),
                sent_at=s.ago(9),
            )
        )
        s.add(
            models.Reply(
                mention_id=m4,
                idempotency_key="r2",
                text="Try this",
                state="failed",
                created_at=s.ago(4),
            )
        )
        task = s.add(
            models.Task(
                conversation="c3",
                mention_id=m3,
                author_id=reddit,
                queue="support",
                created_at=s.ago(10),
                updated_at=s.ago(9.5),
            )
        )
        other_task = s.add(
            models.Task(conversation="c9", mention_id=theirs, author_id=stranger, queue="support")
        )
        s.audit("pipeline", "route", "task", task.id, 10)  # the software: a record
        s.audit("sam", "claim", "task", task.id, 9.5)
        s.audit("sam", "correct", "mention", m4, 4.5)
        # the merge's audit entry on the customer: customer_history has it already
        s.audit("sam", "customer.merge", "customer", ada.id, 2)
        s.add(models.CustomerHistory(customer_id=ada.id, action="merge", actor="sam", at=s.ago(2)))
        s.audit("sam", "approve", "reply", sent.id, 9.1)
        s.audit("sam", "claim", "task", other_task.id, 1)  # someone else's conversation
        s.audit("sam", "edit", "customer", others["bob"], 1)
        s.add(
            models.CustomerHistory(
                customer_id=ada.id,
                action="link",
                actor="linker",
                at=s.ago(44),
                data={"author_id": reddit, "previous": {"customer_id": None}},
            )
        )
        return Seeded(ada.id, others)


def _profile(db: Database, customer_id: int, crm: CrmSettings = CRM) -> Profile:
    with db.transaction() as session:
        return build_profile(session, customer_id, crm, NOW)


def test_history_is_every_contact_newest_first(db: Database) -> None:
    ada = seed(db).ada
    profile = _profile(db, ada)
    kinds = [
        (item.kind, round((NOW - item.at).total_seconds() / 86_400, 1)) for item in profile.history
    ]
    assert kinds == [
        ("mention", 1.0),
        ("record", 2.0),  # the merge, once
        ("reply", 4.0),  # the failed reply: shown, at its creation
        ("staff_action", 4.5),
        ("mention", 5.0),
        ("reply", 9.0),
        ("staff_action", 9.1),  # approving the reply
        ("staff_action", 9.5),
        ("record", 10.0),  # the pipeline routed the mention: same time, after it
        ("mention", 10.0),
        ("mention", 35.0),
        ("record", 44.0),  # linked
        ("mention", 45.0),
    ]
    assert profile.counts == {"mention": 5, "reply": 2, "staff_action": 3, "record": 3}
    assert sum(item.details.get("action") == "customer.merge" for item in profile.history) == 0
    newest_mention = profile.history[4]
    assert newest_mention.summary.startswith("mastodon ada@social.example: #Inkwell broke again")
    assert newest_mention.details["intents"] == ["complaint", "purchase_intent"]
    assert newest_mention.details["sentiment_score"] == pytest.approx(-0.8)
    assert profile.history[2].details["state"] == "failed"
    assert (profile.history[1].actor, profile.history[1].summary) == ("sam", "merge")
    assert profile.history[3].actor == "sam"
    assert profile.history[3].summary.startswith("correct mention ")
    link = profile.history[11]
    assert (link.actor, link.summary) == ("linker", f"link author {link.details['author_id']}")


def test_labels_trend_topics_and_churn(db: Database) -> None:
    profile = _profile(db, seed(db).ada)
    assert profile.sentiment == {"negative": 2, "neutral": 0, "positive": 2, "unlabelled": 1}
    assert profile.intents == {
        "complaint": 2,
        "question": 1,  # 0.6 counts, 0.3 does not
        "purchase_intent": 1,
        "praise": 1,
        "feature_request": 0,
        "spam": 0,
    }
    # recent 30 days: (-0.7 + -0.8) / 2 = -0.75; the 30 before: (0.85 + 0.7) / 2 = 0.775
    trend = profile.trend
    assert (trend.recent_count, trend.previous_count) == (2, 2)
    assert trend.recent_mean == pytest.approx(-0.75)
    assert trend.previous_mean == pytest.approx(0.775)
    assert profile.churn_risk  # fell by 1.525 ≥ 0.5, two mentions in each window
    assert profile.topics.terms == {"brand:inkwell": 2, "competitor:acme": 1}
    assert profile.topics.hashtags == {"inkwell": 2}
    assert profile.topics.subreddits == {"fountainpens": 2}
    assert [(a.source, a.handle, a.link_method) for a in profile.authors] == [
        ("mastodon", "ada@social.example", "evidence"),
        ("reddit", "ada_l", "exact"),
    ]
    assert [(i.kind, i.value, i.confidence) for i in profile.identities] == [
        ("email", "ada@example.com", 0.7),
        ("reddit", "ada_l", 1.0),
    ]


def test_engagement_by_hand(db: Database) -> None:
    profile = _profile(db, seed(db).ada)

    def decayed(weight: float, days: float) -> float:
        return weight * math.pow(0.5, days / 30)

    expected = (
        decayed(1 + 3, 45)  # mention + praise
        + decayed(1 + 2, 35)  # mention + question (0.6)
        + decayed(1 + 2, 10)  # mention + complaint (question 0.3 does not count)
        + decayed(1 + 2 + 5, 5)  # mention + complaint + purchase_intent (0.5 counts)
        + decayed(1, 1)  # an unclassified mention
        + decayed(2, 9)  # the reply we sent (the failed one does not count)
        + decayed(1, 9.1)
        + decayed(1, 9.5)
        + decayed(1, 4.5)  # sam's three staff actions
    )
    assert profile.engagement == pytest.approx(expected)
    assert profile.engagement == pytest.approx(17.3751, abs=1e-4)


def test_segments_against_all_active_customers(db: Database) -> None:
    seeded = seed(db)
    ids = {"ada": seeded.ada, **seeded.customers}
    # active values: ada 500, bob 300, cid 100, dan 60, eve 40 = 1000 (merged 10 000 left out)
    # before: ada 0, bob 500 → A; cid 800, dan 900 → B; eve 960 → C
    with db.transaction() as session:
        segments = value_segments(session, CRM)
    assert segments == {
        ids[n]: s for n, s in {"ada": "A", "bob": "A", "cid": "B", "dan": "B", "eve": "C"}.items()
    }
    shown = {name: _profile(db, ids[name]) for name in ("ada", "cid", "fay", "gus", "merged")}
    assert {n: p.segment for n, p in shown.items()} == {
        "ada": "A",
        "cid": "B",
        "fay": "C",
        "gus": "C",
        "merged": None,
    }
    assert (shown["ada"].value, shown["cid"].value, shown["fay"].value) == (500.0, 100.0, None)
    assert shown["merged"].merged_into_id == seeded.ada


def test_segments_by_another_field_and_passed_in(db: Database) -> None:
    seeded = seed(db)
    by_seats = CRM.model_copy(update={"value_field": "seats"})  # nobody has seats: all C
    assert _profile(db, seeded.ada, by_seats).segment == "C"
    with db.transaction() as session:
        given = build_profile(session, seeded.ada, CRM, NOW, segments={seeded.ada: "B"})
    assert given.segment == "B"


def test_a_customer_without_contact(db: Database) -> None:
    bob = _profile(db, seed(db).customers["bob"])
    assert bob.engagement == 0
    # an audit entry on bob, but no history, no mentions
    assert bob.counts == {"mention": 0, "reply": 0, "staff_action": 0, "record": 0}
    assert bob.history == ()
    assert (bob.trend.recent_mean, bob.churn_risk) == (None, False)
    assert bob.mention_times() == (None, None)


def test_a_missing_customer(db: Database) -> None:
    with (
        db.transaction() as session,
        pytest.raises(CustomerNotFoundError, match="customer 999 does not exist"),
    ):
        build_profile(session, 999, CRM, NOW)


def test_payload_is_json_and_short(db: Database) -> None:
    profile = _profile(db, seed(db).ada)
    payload = json.loads(json.dumps(profile.as_payload(), allow_nan=False))
    assert set(payload) == {
        "computed_at",
        "merged_into_id",
        "identities",
        "authors",
        "counts",
        "first_mention_at",
        "last_mention_at",
        "sentiment",
        "trend",
        "intents",
        "topics",
        "engagement",
        "value",
        "churn_risk",
        "recent",
    }
    assert len(payload["recent"]) == 5
    assert payload["recent"][0]["kind"] == "mention"
    assert payload["value"] == {"field": "revenue", "amount": 500.0, "segment": "A"}
    assert payload["churn_risk"] is True
    assert payload["engagement"]["score"] == pytest.approx(17.3751, abs=1e-4)
    assert payload["first_mention_at"] == (NOW - timedelta(days=45)).isoformat()
    assert payload["trend"]["change"] == pytest.approx(-1.525)
    assert payload["counts"]["mention"] == 5
    assert "attributes" not in payload
    assert "history" not in payload
    full = json.loads(json.dumps(profile.as_dict(), allow_nan=False))
    assert len(full["history"]) == 13
    assert full["attributes"] == {"revenue": 500, "plan": "pro"}
    assert math.isclose(full["engagement"]["score"], payload["engagement"]["score"])


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings('[app]\nlog_level = "WARNING"\n')

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args])

    return invoke


def test_show_prints_a_readable_profile(cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    ada = seed(db, now=utcnow()).ada
    result = cli("customers", "show", str(ada))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Customer {ada}: Ada <ada@example.com>"
    assert "CRM id: crm-ada" in lines
    assert any(line.startswith("segment: A (revenue: 500); engagement: 17.3") for line in lines)
    assert any(line.endswith("churn risk: YES") for line in lines)
    assert "sentiment: negative 2, neutral 0, positive 2, unlabelled 1" in lines
    assert "intents: complaint 2, question 1, purchase_intent 1, praise 1" in lines
    assert "hashtags: inkwell 2" in lines
    for shown in (
        "Identities",
        "Linked authors",
        "ada_l",
        "exact",
        "Contact history",
        "still waiting",
    ):
        assert shown in result.stdout


def test_show_limits_the_history(cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    ada = seed(db, now=utcnow()).ada
    result = cli("customers", "show", str(ada), "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "... 11 older items (--limit, or --json for all)" in result.stdout
    assert "Love my pen" not in result.stdout


def test_show_json_prints_the_whole_profile(cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    ada = seed(db, now=utcnow()).ada
    result = cli("customers", "show", str(ada), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["customer_id"], shown["name"], shown["crm_id"]) == (ada, "Ada", "crm-ada")
    assert len(shown["history"]) == 13
    assert shown["value"]["segment"] == "A"


def test_show_a_missing_customer_is_one_line(cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    result = cli("customers", "show", "4242")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: customer 4242 does not exist"
    assert "Traceback" not in result.output
