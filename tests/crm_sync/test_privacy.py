"""Export and forget: everything about a person, nothing of anyone else, no trace left behind."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from crm_sync import merges, privacy
from crm_sync.events import CONTACT_FORGET
from crm_sync.stage import LinkStage
from socialcrm import models, storage
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.pseudonym import keyed_hash
from socialcrm.settings import CrmSettings
from tests.crm_sync.helpers import customers, post, save

WHEN = datetime(2026, 11, 1, tzinfo=UTC)
KEY = b"0123456789abcdef-test-key"

# Everything that names Ada anywhere: none of it may be found once she is forgotten.
ADA = (
    "ada_l",
    "t2_ada77",
    "ada@mastodon.social",
    "mastodon.social/users/ada",
    "ada.bsky.social",
    "did:plc:adalovelace42",
    "ada@example.com",
    "ada.lovelace@oldmail.org",
    "ada.dev",
    "CRM-ADA-7731",
    "CRM-ADA-0042",
    "Lovelace",
)
GRACE = ("grace_h", "t2_grace9", "grace@navy.example", "CRM-GH-1906", "Hopper")


@dataclass(frozen=True)
class Scene:
    """The ids of a realistic database: Ada (to forget), Grace and Linus (to keep)."""

    ada: int
    ada_merged: int
    ada_reddit: int
    ada_mastodon: int
    ada_bluesky: int
    grace: int
    linus_reply: int


def _mention(
    session: Session, author_id: int, source: str, number: int, **extra: Any
) -> models.Mention:
    row = models.Mention(
        source=source,
        source_id=extra.pop("source_id", f"{source}-{number}"),
        author_id=author_id,
        text=extra.pop("text", f"post {number} about inkwell"),
        url=extra.pop("url", None),
        created_at=WHEN + timedelta(hours=number),
        **extra,
    )
    session.add(row)
    session.flush()
    session.add(
        models.Classification(
            mention_id=row.id,
            sentiment="negative",
            sentiment_scores={"negative": 0.8, "neutral": 0.1, "positive": 0.1},
            intents={"complaint": 0.9},
            needs_reply=0.9,
            uncertain=False,
            lang="en",
            model="test@1",
        )
    )
    return row


def _author(session: Session, source: str, handle: str, key: str, **details: Any) -> int:
    row = models.Author(source=source, key=key, handle=handle, **details)
    session.add(row)
    session.flush()
    return row.id


def _customer(session: Session, name: str, email: str, crm_id: str, **details: Any) -> int:
    row = models.Customer(display_name=name, email=email, crm_id=crm_id, **details)
    session.add(row)
    session.flush()
    return row.id


def _identities(session: Session, customer_id: int, *pairs: tuple[str, str]) -> None:
    for kind, value in pairs:
        session.add(models.Identity(customer_id=customer_id, kind=kind, value=value))


def _build_ada(session: Session) -> tuple[int, int, int, int, int]:
    ada = _customer(
        session, "Ada Lovelace", "ada@example.com", "CRM-ADA-7731", attributes={"revenue": 1200}
    )
    merged = _customer(
        session, "A. Lovelace", "ada.lovelace@oldmail.org", "CRM-ADA-0042", merged_into_id=ada
    )
    _identities(
        session,
        ada,
        ("email", "ada@example.com"),
        ("website", "ada.dev"),
        ("reddit", "ada_l"),
        ("mastodon", "ada@mastodon.social"),
        ("bluesky", "did:plc:adalovelace42"),
        ("crm", "CRM-ADA-7731"),
    )
    reddit = _author(
        session,
        "reddit",
        "ada_l",
        "t2_ada77",
        url="https://www.reddit.com/user/ada_l/",
        bio="Poet of engines, see ada.dev",
        links=[{"url": "https://ada.dev", "verified": False}],
        customer_id=ada,
        link_method="exact",
        link_evidence=[{"kind": "identity", "value": "reddit:ada_l"}],
    )
    mastodon = _author(
        session,
        "mastodon",
        "ada@mastodon.social",
        "https://mastodon.social/users/ada",
        display_name="Ada Lovelace",
        url="https://mastodon.social/@ada",
        bio="Write to ada@example.com",
        customer_id=ada,
    )
    # not linked, but one of Ada's identities names it exactly: it is Ada too
    bluesky = _author(session, "bluesky", "ada.bsky.social", "did:plc:adalovelace42")
    return ada, merged, reddit, mastodon, bluesky


def _ada_activity(session: Session, ada: int, merged: int, authors: tuple[int, int, int]) -> None:
    reddit, mastodon, bluesky = authors
    first = _mention(session, reddit, "reddit", 1, url="https://reddit.com/r/x/1")
    _mention(session, reddit, "reddit", 2, text="ada_l here: where is my order?")
    _mention(
        session,
        mastodon,
        "mastodon",
        3,
        source_id="https://mastodon.social/users/ada/statuses/3",
        url="https://mastodon.social/@ada/3",
    )
    _mention(
        session, bluesky, "bluesky", 4, source_id="at://did:plc:adalovelace42/app.bsky.feed.post/4"
    )
    task = models.Task(
        conversation="reddit:t:1",
        mention_id=first.id,
        author_id=reddit,
        reason="complaint",
        queue="support",
    )
    session.add(task)
    session.flush()
    session.add(models.TaskNote(task_id=task.id, author="sam", text="called her"))
    # the task's card, already in chat: it must be edited to say nothing of her
    session.add(
        models.ChatMessage(
            key=f"task:{task.id}", kind="card", queue="support", task_id=task.id, message_id="9"
        )
    )
    session.add(models.Reply(mention_id=first.id, idempotency_key="reply-ada-1", text="Hi ada_l!"))
    session.add(
        models.LabelCorrection(mention_id=first.id, sentiment="neutral", corrected_by="sam")
    )
    session.add(
        models.LinkSuggestion(
            author_id=bluesky,
            customer_id=ada,
            confidence=0.6,
            evidence=[{"kind": "handle", "value": "ada.bsky.social"}],
        )
    )
    session.add(
        models.CustomerHistory(customer_id=ada, action="link", actor="sam", data={"author": reddit})
    )
    session.add(
        models.CustomerHistory(
            customer_id=ada,
            action="merge",
            actor="sam",
            data={"absorbed_before": {"email": "ada.lovelace@oldmail.org"}},
        )
    )
    contact = {"crm_id": "CRM-ADA-7731", "email": "ada@example.com", "name": "Ada Lovelace"}
    _outbox(session, "upsert-ada", {"event": "contact.upsert", "contact": contact}, customer=ada)
    _outbox(session, "note-ada", {"event": "contact.mention", "text": "x"}, author=reddit)
    session.add(
        models.QuarantinedItem(
            source="reddit", reason="no created_utc", payload='{"author": "ada_l", "body": "hi"}'
        )
    )
    _audit(session, "author.link", "author", reddit, {"customer_id": ada})
    _audit(session, "customer.merge", "customer", ada, {"absorbed_id": merged})
    # an entry keyed to nothing of Ada's, whose text names her: found by its text
    _audit(session, "customers.import", "import", "batch-3", {"emails": ["ada@example.com"]})


def _outbox(
    session: Session,
    key: str,
    payload: dict[str, Any],
    customer: int | None = None,
    author: int | None = None,
) -> None:
    session.add(
        models.OutboxMessage(
            connector="webhook",
            topic=payload["event"],
            idempotency_key=key,
            payload={**payload, "id": key},
            customer_id=customer,
            author_id=author,
            state="sent" if author else "pending",
        )
    )


def _audit(session: Session, action: str, kind: str, subject: object, after: Any) -> None:
    session.add(
        models.AuditEntry(
            actor="sam", action=action, subject_type=kind, subject_id=str(subject), after=after
        )
    )


def _build_grace(session: Session) -> int:
    grace = _customer(session, "Grace Hopper", "grace@navy.example", "CRM-GH-1906")
    _identities(session, grace, ("email", "grace@navy.example"), ("reddit", "grace_h"))
    author = _author(session, "reddit", "grace_h", "t2_grace9", customer_id=grace, bio="COBOL")
    first = _mention(session, author, "reddit", 10)
    _mention(session, author, "reddit", 11)
    session.add(
        models.Task(
            conversation="reddit:t:10",
            mention_id=first.id,
            author_id=author,
            reason="question",
            queue="support",
        )
    )
    session.add(models.Reply(mention_id=first.id, idempotency_key="reply-grace", text="Hi!"))
    _outbox(session, "upsert-grace", {"event": "contact.upsert", "crm": "CRM-GH-1906"}, grace)
    session.add(
        models.QuarantinedItem(source="reddit", reason="bad", payload='{"author": "grace_h"}')
    )
    _audit(session, "author.link", "author", author, {"customer_id": grace})
    return grace


def _build_linus(session: Session) -> int:
    """Someone else answering Ada on Bluesky: his reply's ids hold her DID."""
    author = _author(session, "bluesky", "linus.bsky.social", "did:plc:linus")
    ada_post = "at://did:plc:adalovelace42/app.bsky.feed.post/4"
    reply = _mention(
        session,
        author,
        "bluesky",
        20,
        source_id="at://did:plc:linus/app.bsky.feed.post/20",
        text="agreed",
        thread_id=ada_post,
        parent_id=ada_post,
        extra={"cid": "bafy20", "root": {"uri": ada_post, "cid": "bafy4"}},
    )
    return reply.id


@pytest.fixture
def scene(db: Database) -> Scene:
    """Ada with two customer records, three authors and a trail through every table; others."""
    with db.transaction() as session:
        ada, merged, reddit, mastodon, bluesky = _build_ada(session)
        _ada_activity(session, ada, merged, (reddit, mastodon, bluesky))
        grace = _build_grace(session)
        linus_reply = _build_linus(session)
    return Scene(ada, merged, reddit, mastodon, bluesky, grace, linus_reply)


def _hits(db: Database, needles: tuple[str, ...]) -> list[tuple[str, int, str]]:
    """(table, row number, needle) for every value of every table that contains a needle."""
    found = []
    with db.transaction() as session:
        for table in models.Base.metadata.sorted_tables:
            query = select(*(cast(column, Text) for column in table.columns))
            for number, row in enumerate(session.execute(query)):
                text = " ".join(value for value in row if value is not None).lower()
                found += [(table.name, number, n) for n in needles if n.lower() in text]
    return found


def _find(db: Database, ref: str, key: bytes | None = None) -> privacy.Person:
    with db.transaction() as session:
        return privacy.find_person(session, ref, key)


def _forget(db: Database, ref: str, connectors: tuple[str, ...] = ()) -> privacy.Forgotten:
    with db.transaction() as session:
        person = privacy.find_person(session, ref)
        return privacy.forget(session, person, "dpo", connectors)


def _export(db: Database, ref: str) -> dict[str, Any]:
    with db.transaction() as session:
        return privacy.export(session, privacy.find_person(session, ref))


# --- finding the person


def test_a_customer_id_names_the_survivor_with_merged_records_and_every_author(
    db: Database, scene: Scene
) -> None:
    for ref in (str(scene.ada), f"customer:{scene.ada}", str(scene.ada_merged)):
        person = _find(db, ref)
        assert person.label == f"customer:{scene.ada}"
        assert set(person.customer_ids) == {scene.ada, scene.ada_merged}
        assert set(person.author_ids) == {scene.ada_reddit, scene.ada_mastodon, scene.ada_bluesky}


@pytest.mark.parametrize(
    "ref",
    ["reddit:ada_l", "reddit:ADA_L", "mastodon:ada@mastodon.social", "bluesky:ada.bsky.social"],
)
def test_a_handle_of_a_customer_names_the_whole_customer(
    db: Database, scene: Scene, ref: str
) -> None:
    assert _find(db, ref).customer_ids[0] == scene.ada


@pytest.mark.parametrize(
    "ref", ["ada@example.com", "CRM-ADA-7731", "ada_l", "email:ADA@example.com"]
)
def test_an_email_crm_id_or_bare_handle_finds_the_customer(
    db: Database, scene: Scene, ref: str
) -> None:
    assert _find(db, ref).label == f"customer:{scene.ada}"


def test_a_handle_of_an_unlinked_author_names_just_that_author(db: Database, scene: Scene) -> None:
    person = _find(db, "bluesky:linus.bsky.social")
    assert (person.label, person.customer_ids, len(person.author_ids)) == (
        "bluesky:linus.bsky.social",
        (),
        1,
    )


def test_an_ambiguous_bare_handle_lists_the_candidates(db: Database, scene: Scene) -> None:
    with db.transaction() as session:
        _author(session, "hackernews", "grace_h", "grace_h")
    with pytest.raises(privacy.PersonError) as raised:
        _find(db, "grace_h")
    message = str(raised.value)
    assert message == f"'grace_h' names 2 people: customer:{scene.grace}, hackernews:grace_h"
    assert _find(db, "hackernews:grace_h").customer_ids == ()


def test_unknown_references_are_one_clear_error(db: Database, scene: Scene) -> None:
    with pytest.raises(privacy.PersonError, match="nobody is known as 'reddit:nobody'"):
        _find(db, "reddit:nobody")
    with pytest.raises(privacy.PersonError, match="no customer has id 999999"):
        _find(db, "customer:999999")


def test_a_pseudonymised_author_is_found_by_its_clear_handle_with_the_key(db: Database) -> None:
    with db.transaction() as session:
        _author(session, "reddit", keyed_hash("zed", KEY), keyed_hash("t2_zed", KEY))
    assert _find(db, "reddit:zed", KEY).label.startswith("reddit:psn_")
    with pytest.raises(privacy.PersonError):
        _find(db, "reddit:zed")


# --- export


def test_export_holds_every_item_of_the_person_and_nothing_of_anyone_else(
    db: Database, scene: Scene
) -> None:
    data = _export(db, f"customer:{scene.ada}")
    tables = data["tables"]
    counts = {name: len(rows) for name, rows in tables.items()}
    assert counts == {
        "customers": 2,
        "authors": 3,
        "identities": 6,
        "quarantine": 1,
        "customer_history": 2,
        "outbox": 2,
        "link_suggestions": 1,
        "mentions": 4,
        "label_corrections": 1,
        "task_notes": 1,
        "task_mentions": 0,
        "route_decisions": 0,
        "tasks": 1,
        "replies": 1,
        "classifications": 4,
        "audit_log": 3,
    }
    assert data["person"] == f"customer:{scene.ada}"
    assert {c["crm_id"] for c in tables["customers"]} == {"CRM-ADA-7731", "CRM-ADA-0042"}
    reddit = next(a for a in tables["authors"] if a["source"] == "reddit")
    assert reddit["bio"] == "Poet of engines, see ada.dev"
    assert reddit["links"] == [{"url": "https://ada.dev", "verified": False}]
    assert tables["replies"][0]["text"] == "Hi ada_l!"
    assert tables["mentions"][0]["created_at"] == "2026-11-01T01:00:00+00:00"
    text = json.dumps(data)
    for name in ("grace", "linus", "hopper", "crm-gh-1906"):
        assert name not in text.lower()


def test_what_is_held_matches_the_export(db: Database, scene: Scene) -> None:
    data = _export(db, "ada_l")
    with db.transaction() as session:
        held = privacy.held(session, privacy.find_person(session, "ada_l"))
    assert held == {name: len(rows) for name, rows in data["tables"].items()}


# --- forget


def test_forget_leaves_no_row_that_names_the_person(db: Database, scene: Scene) -> None:
    assert {n for _, _, n in _hits(db, ADA)} == set(ADA)  # the scan sees them all before
    with db.transaction() as session:
        held = privacy.held(session, privacy.find_person(session, "ada@example.com"))
    forgotten = _forget(db, "ada@example.com")
    assert _hits(db, ADA) == []
    counts = dict(forgotten.counts)
    assert counts.pop("references_cleared") == 1
    assert counts.pop("chat_messages_erased") == 1
    assert counts == held
    assert forgotten.crm_messages == 0
    with db.transaction() as session:
        assert session.scalars(select(models.OutboxMessage.topic)).all() == ["contact.upsert"]
        # her card stays in chat only as a note that it was erased, due to be edited so
        card = session.scalars(select(models.ChatMessage)).one()
        assert (card.task_id, card.kind, card.state) == (None, "alert", "pending")
        assert card.payload == {"text": privacy.ERASED_IN_CHAT}
        assert card.version == 2


def test_forget_keeps_one_audit_entry_with_counts_only(db: Database, scene: Scene) -> None:
    _forget(db, f"customer:{scene.ada}")
    with db.transaction() as session:
        entries = session.scalars(
            select(models.AuditEntry).where(models.AuditEntry.action == privacy.FORGOTTEN)
        ).all()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor, entry.subject_type, entry.subject_id) == ("dpo", "person", None)
    assert entry.after is not None
    assert entry.after["erased"]["mentions"] == 4
    assert entry.after["erased"]["customers"] == 2


def test_forget_leaves_everyone_else_intact(db: Database, scene: Scene) -> None:
    before = _export(db, "grace@navy.example")
    _forget(db, "ada_l")
    after = _export(db, "grace@navy.example")
    assert after["tables"] == before["tables"]
    assert len(after["tables"]["mentions"]) == 2
    with db.transaction() as session:
        others = session.scalars(select(models.QuarantinedItem.payload)).all()
        reply = session.get(models.Mention, scene.linus_reply)
    assert others == ['{"author": "grace_h"}']
    # Linus's reply stays; only its pointers to Ada's (erased) post go
    assert reply is not None
    assert (reply.text, reply.thread_id, reply.parent_id) == ("agreed", None, None)
    assert reply.extra == {"cid": "bafy20"}


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        ('{"author": "ada_lfan"}', True),  # a longer handle that merely starts like Ada's
        ('{"author": "canada.dev"}', True),
        ('{"author": "ADA_L"}', False),
        ('{"text": "thanks u/ada_l!"}', False),
        ('{"author": "zo\\u00eb"}', False),  # JSON escapes are seen through
        ('{"crm": "CRM-ADA-7731"}', False),
    ],
)
def test_rows_are_erased_by_whole_names_only(
    db: Database, scene: Scene, payload: str, kept: bool
) -> None:
    with db.transaction() as session:
        _identities(session, scene.ada, ("twitch", "zoë"))
        session.add(models.QuarantinedItem(source="x", reason="test", payload=payload))
    _forget(db, "ada_l")
    with db.transaction() as session:
        left = session.scalars(select(models.QuarantinedItem.payload)).all()
    assert (payload in left) is kept


def test_a_message_about_someone_else_that_quotes_the_person_stays(
    db: Database, scene: Scene
) -> None:
    with db.transaction() as session:
        about_grace = {"event": "contact.mention", "contact": {"crm_id": "CRM-GH-1906"}}
        _outbox(session, "quote", {**about_grace, "text": "as ada_l said"})
        about_ada = {"event": "contact.upsert", "contact": {"email": "ada@example.com"}}
        _outbox(session, "stray", about_ada)
    _forget(db, "ada_l")
    with db.transaction() as session:
        keys = session.scalars(select(models.OutboxMessage.idempotency_key)).all()
    assert sorted(keys) == ["quote", "upsert-grace"]


def test_forget_with_a_connector_queues_the_only_message_that_still_names_the_person(
    db: Database, scene: Scene
) -> None:
    forgotten = _forget(db, f"customer:{scene.ada}", connectors=("webhook", "hubspot"))
    assert forgotten.crm_messages == 4  # two customer records, two connectors
    hits = _hits(db, ADA)
    assert hits
    assert {table for table, _, _ in hits} == {"outbox"}
    with db.transaction() as session:
        rows = session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.topic == CONTACT_FORGET)
        ).all()
        other_topics = session.scalars(
            select(models.OutboxMessage.topic).where(models.OutboxMessage.topic != CONTACT_FORGET)
        ).all()
    assert other_topics == ["contact.upsert"]  # Grace's, which names nothing of Ada
    assert {(r.connector, r.state, r.customer_id, r.author_id) for r in rows} == {
        ("webhook", "pending", None, None),
        ("hubspot", "pending", None, None),
    }
    contacts = {r.payload["contact"]["crm_id"]: r.payload["contact"] for r in rows}
    assert set(contacts) == {"CRM-ADA-7731", "CRM-ADA-0042"}
    survivor = contacts["CRM-ADA-7731"]
    assert survivor["email"] == "ada@example.com"
    assert survivor["name"] is None
    assert {"kind": "bluesky", "value": "did:plc:adalovelace42"} in survivor["identities"]


def test_forgetting_an_author_who_is_no_customer_tells_the_crm_its_identities(
    db: Database, scene: Scene
) -> None:
    forgotten = _forget(db, "bluesky:linus.bsky.social", connectors=("webhook",))
    assert forgotten.counts["mentions"] == 1
    assert [(table, name) for table, _, name in _hits(db, ("linus",))] == [("outbox", "linus")]
    with db.transaction() as session:
        message = session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.topic == CONTACT_FORGET)
        ).one()
        left = session.scalar(select(func.count()).select_from(models.Mention))
    assert message.payload["contact"]["identities"] == [
        {"kind": "bluesky", "value": "linus.bsky.social"},
        {"kind": "bluesky", "value": "did:plc:linus"},
    ]
    assert left == 6  # Ada's four and Grace's two


# --- the command line


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings('[app]\nlog_level = "WARNING"\n')

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args], input=input)

    return invoke


def test_cli_export_to_a_private_file_and_to_stdout(cli, scene: Scene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "ada.json"
    result = cli("customers", "export", "reddit:ada_l", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"exported customer:{scene.ada}: 32 row(s) to {target}" in result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert len(json.loads(target.read_text())["tables"]["mentions"]) == 4
    printed = cli("customers", "export", "grace@navy.example")
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["tables"]["customers"][0]["crm_id"] == "CRM-GH-1906"


def test_cli_an_ambiguous_handle_is_one_line(cli, db: Database, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        _author(session, "hackernews", "grace_h", "grace_h")
    result = cli("customers", "forget", "grace_h", "--yes")
    assert result.exit_code == 2
    assert "names 2 people: customer:" in result.output
    assert "hackernews:grace_h" in result.output
    assert "Traceback" not in result.output


def test_cli_forget_asks_first_and_a_no_erases_nothing(cli, db: Database, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    declined = cli("customers", "forget", "ada_l", input="n\n")
    assert declined.exit_code == 1
    assert f"Erase customer:{scene.ada} (audit_log 3, classifications 4" in declined.output
    assert len(_hits(db, ("ada_l",))) > 0
    accepted = cli("customers", "forget", "ada_l", "--by", "dpo", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert f"forgot customer:{scene.ada}; erased:" in accepted.output
    assert "  mentions: 4" in accepted.output
    assert "no CRM connector is enabled" in accepted.output
    assert _hits(db, ADA) == []


def test_cli_forget_yes_does_not_ask(cli, db: Database, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    result = cli("customers", "forget", f"customer:{scene.grace}", "--yes")
    assert result.exit_code == 0, result.output
    assert "Erase" not in result.output
    assert "  customers: 1" in result.output
    assert _hits(db, GRACE) == []
    assert len(_hits(db, ("ada_l",))) > 0


def test_forget_after_real_linking_a_merge_and_a_split_leaves_nothing(db: Database) -> None:
    """The person's data made by the product's own flows, not written by hand, is all erased."""
    zed, other = customers(
        db,
        {"crm_id": "Z-77", "email": "zed@example.org", "website": "zed.example", "reddit": "zed_r"},
        {"crm_id": "O-1", "email": "olga@example.org", "reddit": "olga"},
    )
    ids = save(
        db,
        post(1, "zed_r", text="my invoice is wrong"),
        post(2, "zed_m", "mastodon", bio="zed@example.org https://zed.example", key="zed_m@m.s"),
        post(3, "stranger", text="write to zed@example.org, says zed_r"),  # suggests, quotes
        post(4, "olga", text="hello"),
        post(5, "colleague", bio="ask my colleague zed@example.org"),  # suggested, not linked
    )
    stage = LinkStage(CrmSettings(), ["webhook"])
    with db.transaction() as session:
        stage(session, storage.load_mentions(session, ids))
    with db.transaction() as session:  # a wrong merge, undone
        merge_id = merges.merge(session, other, zed, "staff")
    with db.transaction() as session:
        merges.split(session, merge_id, "staff")
    needles = ("zed@example.org", "zed_r", "zed_m", "Z-77", "zed.example")
    assert _hits(db, needles)  # the flows did store the person's data
    _forget(db, "customer:" + str(zed))
    # another person's post that quotes the address and the handle stays: it is theirs
    assert {(table, needle) for table, _, needle in _hits(db, needles)} == {
        ("mentions", "zed@example.org"),
        ("mentions", "zed_r"),
    }
    with db.transaction() as session:
        assert session.get(models.Customer, other) is not None
        olga = session.scalars(select(models.Author).where(models.Author.handle == "olga")).one()
        assert olga.customer_id == other
        # the colleague's account stays, without the profile text that named the person
        colleague = session.scalars(
            select(models.Author).where(models.Author.handle == "colleague")
        ).one()
        assert colleague.bio is None
