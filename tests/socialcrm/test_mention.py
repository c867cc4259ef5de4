"""The contract: frozen mentions with UTC times, cursors that survive a JSON round trip."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialcrm.mention import MAX_KEY, MAX_LANG, Author, Cursor, Mention

AUTHOR = Author(handle="maple_fern")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Mention("demo", "1", "hi", datetime(2026, 1, 1), AUTHOR)  # noqa: DTZ001


def test_created_at_is_normalised_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    mention = Mention("demo", "1", "hi", datetime(2026, 1, 1, 12, tzinfo=plus_two), AUTHOR)
    assert mention.created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert mention.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("source", "source_id"), [("", "1"), ("demo", " ")])
def test_a_mention_needs_a_key(source: str, source_id: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Mention(source, source_id, "hi", datetime.now(UTC), AUTHOR)


def test_mentions_are_frozen_and_replaced() -> None:
    mention = Mention("demo", "1", "hi", datetime.now(UTC), AUTHOR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mention.text = "changed"  # type: ignore[misc]
    assert dataclasses.replace(mention, text="changed").text == "changed"
    assert mention.text == "hi"


def test_author_key_prefers_the_platform_id() -> None:
    assert Author(handle="alice.bsky.social", external_id="did:plc:abc").key == "did:plc:abc"
    assert Author(handle="alice").key == "alice"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_cursor_survives_a_json_round_trip(state: dict[str, object]) -> None:
    cursor = Cursor(state)
    assert Cursor.from_json(cursor.to_json()) == cursor


def test_an_unversioned_cursor_is_refused() -> None:
    with pytest.raises(ValueError, match="not a versioned cursor"):
        Cursor.from_json('{"after": 3}')
    assert Cursor.from_json(None) is None


def test_oversized_platform_values_are_fitted_to_the_stored_widths() -> None:
    long_handle = "Ada Lovelace and " * 60
    mention = Mention(
        source="rss",
        source_id="x" * 255,
        text="t",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        author=Author(handle=long_handle, external_id="id" * 200, url="https://a/" + "p" * 3000),
        url="https://a/" + "p" * 3000,
        thread_id="t" * 300,
        matched_query="feed:" + "T" * 400,
        lang="en-" + "x" * 40,
    )
    with pytest.raises(ValueError, match="source_id is longer than 255"):
        dataclasses.replace(mention, source_id="x" * 256)
    assert len(mention.author.handle) == MAX_KEY
    assert mention.author.handle.startswith("Ada Lovelace and ")
    assert len(mention.author.external_id or "") == MAX_KEY
    assert (mention.url, mention.author.url) == (None, None)
    assert len(mention.thread_id or "") == MAX_KEY
    assert mention.matched_query is not None
    assert len(mention.matched_query) == MAX_KEY
    assert mention.matched_query.endswith("…")
    assert len(mention.lang or "") == MAX_LANG
