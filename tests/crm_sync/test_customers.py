"""Customers in the database: import, linking by the pipeline, suggestions, merge and split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_sync import customers, merges
from crm_sync.customer_import import (
    CustomerFileError,
    import_records,
    parse,
    read_records,
)
from crm_sync.stage import LinkStage, link_known_authors
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.settings import CrmSettings
from tests.crm_sync.helpers import author_of, classify, post, save
from tests.crm_sync.helpers import customers as add_customers

CRM = CrmSettings()


def run_link(db: Database, ids: list[int], connectors: list[str] | None = None) -> None:
    """The link stage over these mentions, as the pipeline runs it."""
    stage = LinkStage(CRM, connectors or [])
    with db.transaction() as session:
        stage(session, storage.load_mentions(session, ids))


def test_import_reads_csv_with_identities_and_numeric_attributes(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "crm_id,first_name,last_name,email,reddit,mastodon,revenue,plan\n"
        "C-1,Ada,Lovelace,Ada@Example.org,/u/ada_l,ada@mastodon.social,1200.50,pro\n"
        "C-2,Bob,,bob@example.org,,,300,free\n"
        "C-3,Eve,,not-an-email,,,1,free\n",
        encoding="utf-8",
    )
    with db.transaction() as session:
        report = import_records(session, read_records(path), "test")
    assert (report.created, report.updated) == (2, 0)
    assert report.problems == ["line 4: 'not-an-email' is not an email address"]
    with db.transaction() as session:
        ada = session.scalars(select(models.Customer).where(models.Customer.crm_id == "C-1")).one()
        assert (ada.display_name, ada.email) == ("Ada Lovelace", "ada@example.org")
        assert ada.attributes == {"revenue": 1200.5, "plan": "pro"}
        held = set(
            session.execute(
                select(models.Identity.kind, models.Identity.value).where(
                    models.Identity.customer_id == ada.id
                )
            ).all()
        )
    assert held == {
        ("email", "ada@example.org"),
        ("reddit", "ada_l"),
        ("mastodon", "ada@mastodon.social"),
        ("crm", "C-1"),
    }


def test_importing_the_next_export_updates_in_place(db: Database, tmp_path: Path) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "email": "ada@example.org", "revenue": 10})
    path = tmp_path / "next.jsonl"
    path.write_text(
        '{"crm_id": "C-1", "name": "Ada L", "revenue": 20, "bluesky": "ada.bsky.social"}\n'
        "{broken\n",
        encoding="utf-8",
    )
    with db.transaction() as session:
        report = import_records(session, read_records(path), "test")
        customer = session.get(models.Customer, ada)
        assert customer is not None
        assert (customer.display_name, customer.attributes["revenue"]) == ("Ada L", 20)
    assert (report.created, report.updated, report.identities_added) == (0, 1, 1)
    assert report.problems[0].startswith("line 2: not valid JSON")


def test_an_identity_held_by_another_customer_is_reported_not_moved(db: Database) -> None:
    add_customers(db, {"crm_id": "C-1", "reddit": "ada"})
    with db.transaction() as session:
        report = import_records(session, [(5, {"crm_id": "C-2", "reddit": "Ada"})], "test")
    assert report.problems == [
        "line 5: reddit:ada belongs to customer 1; "
        "left there (merge the two if they are one person)"
    ]


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(CustomerFileError, match="not valid JSON"):
        list(read_records(path))


def test_an_exact_platform_identity_links_with_full_confidence(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "reddit": "Ada_L"})
    ids = save(db, post(1, "ada_l"), post(2, "stranger"))
    run_link(db, ids)
    linked = author_of(db, "ada_l")
    assert (linked.customer_id, linked.link_method, linked.link_confidence) == (ada, "exact", 1.0)
    assert linked.link_evidence == [
        {
            "kind": "exact",
            "identity": "reddit:ada_l",
            "seen_in": "platform account",
            "confidence": 1.0,
        }
    ]
    assert author_of(db, "stranger").customer_id is None


def test_evidence_links_above_the_threshold_and_suggests_below_it(db: Database) -> None:
    ada, bob = add_customers(
        db,
        {"crm_id": "C-1", "email": "ada@example.org", "website": "ada.dev"},
        {"crm_id": "C-2", "email": "bob@example.org"},
    )
    ids = save(
        db,
        # email (0.7) and website (0.5) in the profile: 1 - 0.3 * 0.5 = 0.85, linked
        post(
            1,
            "ada_m",
            "mastodon",
            bio="ada@example.org",
            links=[("https://ada.dev", False)],
            key="ada_m@mastodon.social",
        ),
        # an address written in a post: 0.5, suggested
        post(2, "bobby", text="I am a customer, my email is bob@example.org"),
    )
    run_link(db, ids)
    ada_m = author_of(db, "ada_m")
    assert (ada_m.customer_id, ada_m.link_method) == (ada, "evidence")
    assert ada_m.link_confidence == pytest.approx(0.85)
    assert {e["kind"] for e in ada_m.link_evidence or []} == {"profile_email", "profile_website"}
    assert author_of(db, "bobby").customer_id is None
    with db.transaction() as session:
        [suggestion] = session.scalars(select(models.LinkSuggestion))
        assert (suggestion.customer_id, suggestion.state) == (bob, "open")
        assert suggestion.confidence == pytest.approx(0.5)
        assert suggestion.evidence[0]["seen_in"] == "a post by the author"


def test_a_verified_profile_link_alone_is_enough(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "website": "https://ada.dev"})
    ids = save(
        db, post(1, "ada", "mastodon", links=[("https://ada.dev/", True)], key="ada@m.social")
    )
    run_link(db, ids)
    assert author_of(db, "ada").link_confidence == pytest.approx(0.9)
    assert author_of(db, "ada").customer_id == ada


def test_a_linked_author_gives_the_customer_its_platform_identity(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "email": "ada@example.org"})
    save(db, post(1, "ada_r", bio="ada@example.org. also https://example.org"))
    with db.transaction() as session:
        row = customers.find_author(session, "reddit:ada_r")
        customers.link(session, row.id, ada, "staff")
        held = session.scalar(
            select(models.Identity.customer_id).where(
                models.Identity.kind == "reddit", models.Identity.value == "ada_r"
            )
        )
    assert held == ada


def test_accepting_and_rejecting_suggestions(db: Database) -> None:
    ada, bob = add_customers(
        db, {"crm_id": "C-1", "email": "ada@example.org"}, {"crm_id": "C-2", "email": "b@x.org"}
    )
    ids = save(
        db,
        post(1, "maybe_ada", text="write to ada@example.org"),
        post(2, "maybe_bob", text="write to b@x.org"),
    )
    run_link(db, ids)
    with db.transaction() as session:
        by_customer = {s.customer_id: s.id for s in session.scalars(select(models.LinkSuggestion))}
        customers.decide(session, by_customer[ada], True, "staff")
        customers.decide(session, by_customer[bob], False, "staff")
        with pytest.raises(customers.CustomerError, match="already rejected"):
            customers.decide(session, by_customer[bob], True, "staff")
    assert author_of(db, "maybe_ada").customer_id == ada
    assert author_of(db, "maybe_ada").link_method == "suggestion"
    # the rejected pair is not suggested again when the author posts the address again
    run_link(db, save(db, post(3, "maybe_bob", text="again: b@x.org")))
    with db.transaction() as session:
        states = dict(
            session.execute(
                select(models.LinkSuggestion.customer_id, models.LinkSuggestion.state)
            ).all()
        )
    assert states == {ada: "accepted", bob: "rejected"}
    assert author_of(db, "maybe_bob").customer_id is None


def test_unlink_undoes_the_link_and_automatic_linking_does_not_redo_it(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "email": "ada@example.org"})
    ids = save(db, post(1, "ada_x", bio="ada@example.org https://example.org", key="t2_x"))
    with db.transaction() as session:
        customers.link(session, customers.find_author(session, "ada_x").id, ada, "staff")
    with db.transaction() as session:
        assert customers.unlink(session, customers.find_author(session, "ada_x").id, "staff") == ada
        identities = session.scalar(
            select(func.count())
            .select_from(models.Identity)
            .where(models.Identity.kind == "reddit")
        )
    assert identities == 0
    run_link(db, ids)
    assert author_of(db, "ada_x").customer_id is None
    with db.transaction() as session:
        actions = list(session.scalars(select(models.CustomerHistory.action)))
        audit = list(
            session.execute(select(models.AuditEntry.action, models.AuditEntry.subject_id))
        )
    assert actions == ["link", "unlink"]
    assert [a for a, _ in audit] == ["author.link", "author.unlink"]


def snapshot(db: Database) -> dict[str, Any]:
    """Customers, identities, suggestions and author links as comparable values."""
    with db.transaction() as session:
        return {
            "customers": sorted(
                (
                    c.id,
                    c.display_name,
                    c.email,
                    c.crm_id,
                    sorted(c.attributes.items()),
                    c.merged_into_id,
                )
                for c in session.scalars(select(models.Customer))
            ),
            "identities": sorted(
                session.execute(
                    select(
                        models.Identity.id,
                        models.Identity.customer_id,
                        models.Identity.kind,
                        models.Identity.value,
                    )
                ).all()
            ),
            "authors": sorted(
                session.execute(select(models.Author.id, models.Author.customer_id)).all()
            ),
            "suggestions": sorted(
                (s.author_id, s.customer_id, s.state, s.confidence)
                for s in session.scalars(select(models.LinkSuggestion))
            ),
        }


def test_a_wrong_merge_undone_restores_both_customers_as_they_were(db: Database) -> None:
    ada, bob = add_customers(
        db,
        {"crm_id": "C-1", "name": "Ada", "reddit": "ada", "revenue": 100, "plan": "pro"},
        {
            "crm_id": "C-2",
            "name": "Bob",
            "email": "bob@example.org",
            "reddit": "bob",
            "revenue": 5,
            "city": "Leeds",
        },
    )
    ids = save(
        db,
        post(1, "ada"),
        post(2, "bob"),
        post(3, "maybe", text="bob@example.org!"),
        post(4, "maybe2", text="bob@example.org too"),
    )
    run_link(db, ids)
    with db.transaction() as session:
        # the survivor already has a suggestion for "maybe": the absorbed one's is dropped
        maybe = customers.find_author(session, "maybe").id
        session.add(
            models.LinkSuggestion(author_id=maybe, customer_id=ada, confidence=0.4, evidence=[])
        )
    before = snapshot(db)
    with db.transaction() as session:
        merge_id = merges.merge(session, ada, bob, "staff")
    merged = snapshot(db)
    assert {a for a, c in merged["authors"] if c == ada} == {
        author_of(db, h).id for h in ("ada", "bob")
    }
    with db.transaction() as session:
        survivor = session.get(models.Customer, ada)
        assert survivor is not None
        assert survivor.email == "bob@example.org"  # filled from the absorbed record
        assert survivor.attributes == {"revenue": 100, "plan": "pro", "city": "Leeds"}
        with pytest.raises(customers.CustomerError, match="merged into"):
            customers.link(session, 1, bob, "staff")
    with db.transaction() as session:
        assert merges.split(session, merge_id, "staff") == bob
    assert snapshot(db) == before
    with db.transaction() as session, pytest.raises(customers.CustomerError, match="already"):
        merges.split(session, merge_id, "staff")


def test_merge_moves_the_crm_id_only_when_the_survivor_has_none(db: Database) -> None:
    with db.transaction() as session:
        plain = models.Customer(display_name="Plain", attributes={})
        session.add(plain)
        session.flush()
        plain_id = plain.id
    [crm] = add_customers(db, {"crm_id": "C-9", "email": "c9@example.org"})
    before = snapshot(db)
    with db.transaction() as session:
        merge_id = merges.merge(session, plain_id, crm, "staff")
        survivor = session.get(models.Customer, plain_id)
        assert survivor is not None
        assert survivor.crm_id == "C-9"
    with db.transaction() as session:
        merges.split(session, merge_id, "staff")
    assert snapshot(db) == before


def test_nothing_is_pushed_for_unlinked_unqualified_authors(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "reddit": "ada"})
    ids = save(db, post(1, "ada"), post(2, "browser"), post(3, "buyer"), post(4, "meh"))
    classify(db, ids[1], question=0.9)
    classify(db, ids[2], purchase_intent=0.8)
    classify(db, ids[3], purchase_intent=0.5)
    run_link(db, ids, connectors=["webhook", "hubspot"])
    with db.transaction() as session:
        rows = list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))
        customer = session.get(models.Customer, ada)
        assert customer is not None
        assert customer.dirty_since is not None
    pushed = {(r.connector, r.payload["mention"]["source_id"]) for r in rows}
    # a lead has no email or CRM id for HubSpot to file it under: it goes to the webhook only
    assert pushed == {("webhook", "p1"), ("hubspot", "p1"), ("webhook", "p3")}
    ada_rows = [r for r in rows if r.payload["mention"]["source_id"] == "p1"]
    assert {r.customer_id for r in ada_rows} == {ada}
    assert ada_rows[0].payload["contact"]["identities"] == [
        {"kind": "reddit", "value": "ada"},
        {"kind": "crm", "value": "C-1"},
    ]
    buyer = next(r for r in rows if r.payload["mention"]["source_id"] == "p3")
    assert buyer.customer_id is None
    assert buyer.author_id == author_of(db, "buyer").id
    assert buyer.payload["contact"]["identities"] == [{"kind": "reddit", "value": "buyer"}]
    # the stage is idempotent: running it again queues nothing new
    run_link(db, ids, connectors=["webhook", "hubspot"])
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.OutboxMessage)) == 3


def test_nothing_is_queued_when_no_connector_is_enabled(db: Database) -> None:
    add_customers(db, {"crm_id": "C-1", "reddit": "ada"})
    run_link(db, save(db, post(1, "ada")))
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.OutboxMessage)) == 0


def test_import_links_the_authors_already_seen(db: Database) -> None:
    save(db, post(1, "Ada_L"), post(2, "someone"))
    [ada] = add_customers(db, {"crm_id": "C-1", "reddit": "u/ada_l"})
    with db.transaction() as session:
        done = link_known_authors(session, CRM, "import")
    assert done.linked == 1
    assert author_of(db, "Ada_L").customer_id == ada


def test_reimporting_after_a_merge_updates_both_records_without_duplicates(db: Database) -> None:
    ada, other = add_customers(
        db,
        {"crm_id": "C-1", "email": "ada@example.org", "revenue": 1},
        {"crm_id": "C-2", "email": "ada.l@example.org", "revenue": 2},
    )
    with db.transaction() as session:
        merges.merge(session, ada, other, "staff")
    records = [
        (1, {"crm_id": "C-1", "email": "ada@example.org", "revenue": 10}),
        (2, {"crm_id": "C-2", "email": "ada.l@example.org", "revenue": 20, "reddit": "ada_l"}),
    ]
    with db.transaction() as session:
        report = import_records(session, records, "test")
    assert (report.created, report.updated, report.problems) == (0, 2, [])
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.Customer)) == 2
        absorbed = session.get(models.Customer, other)
        assert absorbed is not None
        assert absorbed.attributes["revenue"] == 20
        # a new identity goes to the record the person lives on now
        owner = session.scalar(
            select(models.Identity.customer_id).where(models.Identity.value == "ada_l")
        )
    assert owner == ada


def test_an_email_of_another_crm_record_is_a_conflict_not_an_overwrite(db: Database) -> None:
    [ada] = add_customers(db, {"crm_id": "C-1", "email": "ada@example.org"})
    with db.transaction() as session:
        report = import_records(
            session, [(3, {"crm_id": "C-9", "email": "Ada@example.org"})], "test"
        )
        customer = session.get(models.Customer, ada)
        assert customer is not None
        assert customer.crm_id == "C-1"
    assert report.problems == [
        "line 3: ada@example.org belongs to customer 1 (crm_id C-1), not to crm_id C-9; skipped"
    ]


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("1200", 1200),
        ("-3.5", -3.5),
        ("01234", "01234"),
        ("+44 20 7946", "+44 20 7946"),
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("1e3", "1e3"),
    ],
)
def test_only_plain_decimals_become_numbers(db: Database, cell: str, stored: object) -> None:
    with db.transaction() as session:
        import_records(session, [(2, {"crm_id": "C-1", "value": cell})], "test")
        customer = session.scalars(select(models.Customer)).one()
        assert customer.attributes["value"] == stored


def test_hubspot_export_headers_and_a_pretty_printed_object_are_read(tmp_path: Path) -> None:
    csv_file = tmp_path / "hubspot.csv"
    csv_file.write_text("Record ID,First Name,Last Name,Email\n501,Ada,L,ada@x.org\n")
    [(_, row)] = list(read_records(csv_file))
    assert isinstance(row, dict)
    record = parse(2, row)
    assert (record.crm_id, record.name, record.email) == ("501", "Ada L", "ada@x.org")
    one = tmp_path / "one.json"
    one.write_text('{\n  "crm_id": "C-1",\n  "email": "a@x.org"\n}\n')
    assert [r for _, r in read_records(one)] == [{"crm_id": "C-1", "email": "a@x.org"}]
    broken = tmp_path / "huge.csv"
    broken.write_text('crm_id,notes\nC-1,"' + "x" * 200_000 + '"\n')
    with pytest.raises(CustomerFileError, match="not readable as CSV"):
        list(read_records(broken))


def test_unlinking_after_a_merge_removes_the_identity_the_link_added(db: Database) -> None:
    ada, other = add_customers(db, {"crm_id": "C-1"}, {"crm_id": "C-2"})
    save(db, post(1, "ada_x"))
    with db.transaction() as session:
        author = customers.find_author(session, "ada_x").id
        customers.link(session, author, other, "staff")
        merges.merge(session, ada, other, "staff")
    with db.transaction() as session:
        assert customers.unlink(session, author, "staff") == ada
        left = session.scalar(
            select(func.count())
            .select_from(models.Identity)
            .where(models.Identity.kind == "reddit")
        )
    assert left == 0


def test_relinking_moves_the_author_and_remembers_the_first_link_as_wrong(db: Database) -> None:
    ada, bob = add_customers(db, {"crm_id": "C-1"}, {"crm_id": "C-2"})
    save(db, post(1, "sam"))
    with db.transaction() as session:
        author = customers.find_author(session, "reddit:SAM").id
        customers.link(session, author, ada, "staff")
        customers.link(session, author, bob, "staff")
        owner = session.scalar(
            select(models.Identity.customer_id).where(models.Identity.value == "sam")
        )
        state = session.scalar(
            select(models.LinkSuggestion.state).where(models.LinkSuggestion.customer_id == ada)
        )
    assert (owner, state) == (bob, "rejected")
    assert author_of(db, "sam").customer_id == bob


def test_find_author_takes_underscores_literally(db: Database) -> None:
    save(db, post(1, "a_b"), post(2, "axb"))
    with db.transaction() as session:
        assert customers.find_author(session, "a_b").handle == "a_b"
        with pytest.raises(customers.CustomerError, match="no author 'a%'"):
            customers.find_author(session, "a%")
