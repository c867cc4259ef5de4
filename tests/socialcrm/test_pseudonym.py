"""Pseudonymised authors: keyed hashes, what is dropped, and collection storing only pseudonyms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import Text, cast, select

from socialcrm import models, pipeline, pseudonym
from socialcrm.db import Database
from socialcrm.mention import Author, Cursor, Mention, Page, ProfileLink, Quarantined
from socialcrm.settings import PrivacySettings, Secrets, Settings
from tests.fakes import FakeCollector

KEY = b"0123456789abcdef-test-key"
OTHER_KEY = b"fedcba9876543210-test-key"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def _author() -> Author:
    return Author(
        handle="ada@mastodon.social",
        external_id="https://mastodon.social/users/ada",
        display_name="Ada Lovelace",
        url="https://mastodon.social/@ada",
        followers=120,
        bio="Engines. Write to ada@example.com",
        links=(ProfileLink("https://ada.dev", verified=True),),
    )


def _mention(number: int, parent: str | None = None) -> Mention:
    return Mention(
        source="mastodon",
        source_id=f"https://mastodon.social/users/ada/statuses/{number}",
        text=f"post {number} about the brand",
        created_at=WHEN,
        author=_author(),
        url=f"https://mastodon.social/@ada/{number}",
        thread_id=f"https://mastodon.social/users/ada/statuses/{number}",
        parent_id=parent,
        extra={
            "instance": "https://mastodon.social",
            "status_id": str(number),
            "visibility": "public",
            "root": {"uri": "at://did:plc:ada/post"},
            "mentioned": "ada@mastodon.social",
            "sensitive": False,
        },
    )


def test_the_keyed_hash_is_stable_prefixed_and_depends_on_the_key() -> None:
    first = pseudonym.keyed_hash("ada", KEY)
    assert first == pseudonym.keyed_hash("ada", KEY)
    assert first.startswith(pseudonym.PREFIX)
    assert len(first) == len(pseudonym.PREFIX) + pseudonym.DIGEST_CHARS
    assert pseudonym.is_pseudonym(first)
    assert first != pseudonym.keyed_hash("ada", OTHER_KEY)
    assert first != pseudonym.keyed_hash("Ada", KEY)
    assert "ada" not in first.removeprefix(pseudonym.PREFIX)


def test_hashing_a_pseudonym_again_changes_nothing() -> None:
    once = pseudonym.keyed_hash("ada", KEY)
    assert pseudonym.keyed_hash(once, KEY) == once
    assert not pseudonym.is_pseudonym("psn_not-a-digest")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        pseudonym.keyed_hash("ada", b"")


def test_pseudonymise_hashes_the_ids_and_drops_the_profile() -> None:
    author = pseudonym.pseudonymise(_author(), KEY)
    assert author.handle == pseudonym.keyed_hash("ada@mastodon.social", KEY)
    assert author.external_id == pseudonym.keyed_hash("https://mastodon.social/users/ada", KEY)
    assert author.key == author.external_id
    assert (author.display_name, author.url, author.bio, author.links) == (None, None, None, None)
    assert author.followers == 120


def test_an_author_without_external_id_keeps_none() -> None:
    author = pseudonym.pseudonymise(Author(handle="grace"), KEY)
    assert author.external_id is None
    assert author.key == pseudonym.keyed_hash("grace", KEY)


def test_a_pseudonymised_mention_keeps_no_url_and_no_id_that_names_the_author() -> None:
    parent = "https://mastodon.social/users/ada/statuses/1"
    mention = pseudonym.pseudonymise_mention(_mention(2, parent=parent), KEY)
    assert mention.url is None
    assert mention.source_id == pseudonym.keyed_hash(
        "https://mastodon.social/users/ada/statuses/2", KEY
    )
    # a reply still points at its parent: both sides are hashed the same way
    assert mention.parent_id == _pseudonymised_source_id(1)
    assert mention.extra == {"status_id": "2", "visibility": "public", "sensitive": False}
    assert mention.text == "post 2 about the brand"


def _pseudonymised_source_id(number: int) -> str:
    """The pseudonymised source id of `_mention(number)`."""
    return pseudonym.pseudonymise_mention(_mention(number), KEY).source_id


def test_a_pseudonymised_page_keeps_no_raw_payload() -> None:
    rejected = Quarantined("mastodon", "no created_at", '{"acct": "ada"}', locator="status 9")
    page = Page((_mention(1),), Cursor({"p": 1}), (rejected,))
    result = pseudonym.pseudonymise_page(page, KEY)
    assert result.quarantined[0].payload == ""
    assert result.quarantined[0].locator is None
    assert result.quarantined[0].reason == "no created_at"
    assert result.cursor == page.cursor


def _settings(enabled: bool, key: str | None) -> Settings:
    secrets = Secrets(pseudonym_key=key)  # type: ignore[arg-type]
    return Settings(privacy=PrivacySettings(pseudonymise_authors=enabled), secrets=secrets)


def test_the_key_comes_from_the_settings_only_when_switched_on() -> None:
    assert pseudonym.settings_key(_settings(False, KEY.decode())) is None
    assert pseudonym.settings_key(_settings(True, KEY.decode())) == KEY
    with pytest.raises(ValidationError, match="SOCIALCRM_PSEUDONYM_KEY is too short"):
        _settings(True, "short")


def _every_text(db: Database) -> list[str]:
    """Every value of every column of every table, as text."""
    found = []
    with db.transaction() as session:
        for table in models.Base.metadata.sorted_tables:
            query = select(*(cast(column, Text) for column in table.columns))
            for row in session.execute(query):
                found += [value for value in row if value is not None]
    return found


def test_collect_with_a_key_stores_only_pseudonyms(db: Database) -> None:
    page_two = _mention(2, parent="https://mastodon.social/users/ada/statuses/1")
    collector = FakeCollector([_mention(1), page_two], page_size=1, name="mastodon")
    summary = pipeline.collect(db, collector, pseudonym_key=KEY)
    again = pipeline.collect(db, FakeCollector([_mention(1)], name="mastodon"), pseudonym_key=KEY)
    assert (summary.new, again.new) == (2, 0)  # the hashed ids still dedupe
    with db.transaction() as session:
        author = session.scalars(select(models.Author)).one()
        mentions = session.scalars(select(models.Mention).order_by(models.Mention.id)).all()
    assert pseudonym.is_pseudonym(author.handle)
    assert (author.display_name, author.url, author.bio, author.links) == (None, None, None, None)
    assert [m.url for m in mentions] == [None, None]
    assert mentions[1].parent_id == mentions[0].source_id
    texts = "\n".join(_every_text(db)).lower()
    for clear in ("ada@", "/users/ada", "lovelace", "ada.dev", "@ada", "did:plc"):
        assert clear not in texts


def test_collect_without_a_key_stores_authors_as_they_are(db: Database) -> None:
    pipeline.collect(db, FakeCollector([_mention(1)], name="mastodon"))
    with db.transaction() as session:
        author = session.scalars(select(models.Author)).one()
        mention = session.scalars(select(models.Mention)).one()
    assert (author.handle, author.display_name) == ("ada@mastodon.social", "Ada Lovelace")
    assert mention.url == "https://mastodon.social/@ada/1"
