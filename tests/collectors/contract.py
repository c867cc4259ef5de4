"""The contract every collector passes; a platform's test module subclasses `CollectorContract`.

A subclass provides the `harness` fixture: a `Harness` whose `web` serves the platform's API
from fixtures the project wrote (with at least two good items and the ids to expect), whose
`build()` returns a collector talking to that web with `sleep` recording waits instead of
sleeping, whose `break_one_item()` makes the next listing carry one malformed item more, and
whose `add_item()` makes one more item appear, as happens between two runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

import pytest

from collectors.base import (
    Collector,
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
)
from socialcrm import models, pipeline
from socialcrm.db import Database
from socialcrm.mention import Cursor, Mention, Page
from tests.collectors.fakeweb import FakeWeb
from tests.fakes import count_rows


@dataclass
class Harness:
    """A collector wired to a fake web, and the knobs the contract turns."""

    web: FakeWeb
    build: Callable[[], Collector]
    break_one_item: Callable[[], None]
    expected_ids: set[str]
    sleeps: list[float] = field(default_factory=list)
    # a collector built without its credentials; None when the source needs none
    build_without_credentials: Callable[[], Collector] | None = None
    # makes the platform show one more item, as a real one would between two runs (a new post,
    # or one indexed late with an older time); returns its source_id
    add_item: Callable[[], str] | None = None

    def sleep(self, seconds: float) -> None:
        """The collector's sleep: recorded, never slept."""
        self.sleeps.append(seconds)


def fetch_all(collector: Collector, cursor: Cursor | None = None) -> list[Page]:
    """Every page of one run."""
    return list(collector.fetch(cursor))


def mentions_of(pages: list[Page]) -> list[Mention]:
    """The mentions of `pages`, in order."""
    return [mention for page in pages for mention in page.mentions]


class CollectorContract:
    """Tests every collector must pass; see the module docstring for the `harness` fixture."""

    @pytest.fixture
    def harness(self) -> Harness:
        raise NotImplementedError("a collector's test module provides the harness fixture")

    def test_declares_its_nature(self, harness: Harness) -> None:
        collector = harness.build()
        assert isinstance(collector, Collector)
        assert isinstance(collector.is_sorted, bool)
        assert collector.min_interval_seconds >= 1
        assert collector.name

    def test_check_passes_with_good_credentials(self, harness: Harness) -> None:
        harness.build().check()

    def test_missing_credentials_fail_check_with_one_line(self, harness: Harness) -> None:
        if harness.build_without_credentials is None:
            pytest.skip("this source needs no credentials")
        with pytest.raises(SourceConfigError) as caught:
            harness.build_without_credentials().check()
        assert "\n" not in str(caught.value)
        assert "SOCIALCRM_" in str(caught.value) or "settings" in str(caught.value)

    def test_revoked_credentials_fail_check_as_auth_error(self, harness: Harness) -> None:
        harness.web.fail_always(401)
        with pytest.raises(SourceAuthError) as caught:
            harness.build().check()
        assert "\n" not in str(caught.value)

    def test_mentions_have_stable_keys_utc_times_and_a_query(self, harness: Harness) -> None:
        first = mentions_of(fetch_all(harness.build()))
        again = mentions_of(fetch_all(harness.build()))
        assert {m.source_id for m in first} == harness.expected_ids
        assert [m.key for m in first] == [m.key for m in again]
        for mention in first:
            assert mention.source == harness.build().name
            assert mention.created_at.tzinfo is UTC
            assert mention.matched_query
            assert mention.author.handle
            assert mention.text.strip()

    def test_sorted_sources_yield_oldest_first(self, harness: Harness) -> None:
        collector = harness.build()
        if not collector.is_sorted:
            pytest.skip("the source declares itself unsorted")
        times = [m.created_at for m in mentions_of(fetch_all(collector))]
        assert times == sorted(times)

    def test_cursor_survives_a_json_round_trip(self, harness: Harness) -> None:
        for page in fetch_all(harness.build()):
            assert Cursor.from_json(page.cursor.to_json()) == page.cursor
            json.loads(page.cursor.to_json())

    def test_second_run_from_the_saved_cursor_yields_no_duplicates(self, harness: Harness) -> None:
        pages = fetch_all(harness.build())
        assert pages, "the first run yielded nothing"
        saved = Cursor.from_json(pages[-1].cursor.to_json())
        again = mentions_of(fetch_all(harness.build(), saved))
        assert not {m.key for m in again} & {m.key for m in mentions_of(pages)}

    def test_an_item_that_appears_between_runs_is_yielded_once(self, harness: Harness) -> None:
        if harness.add_item is None:
            pytest.skip("the harness cannot add an item")
        pages = fetch_all(harness.build())
        saved = Cursor.from_json(pages[-1].cursor.to_json())
        added = harness.add_item()
        second = fetch_all(harness.build(), saved)
        assert [m.source_id for m in mentions_of(second)] == [added]
        third = fetch_all(harness.build(), Cursor.from_json(second[-1].cursor.to_json()))
        assert mentions_of(third) == []

    def test_a_429_becomes_a_wait(self, harness: Harness) -> None:
        harness.web.fail_next(429, {"Retry-After": "7"})
        mentions = mentions_of(fetch_all(harness.build()))
        assert {m.source_id for m in mentions} == harness.expected_ids
        assert 7 in [round(seconds) for seconds in harness.sleeps]

    def test_a_long_429_ends_the_run_as_rate_limited(self, harness: Harness) -> None:
        harness.web.fail_always(429, {"Retry-After": "3600"})
        with pytest.raises(RateLimitedError) as caught:
            fetch_all(harness.build())
        assert caught.value.retry_after >= 3600 - 1
        assert not [seconds for seconds in harness.sleeps if seconds >= 3600 - 1]

    def test_a_passing_server_error_is_retried(self, harness: Harness) -> None:
        harness.web.fail_next(503)
        mentions = mentions_of(fetch_all(harness.build()))
        assert {m.source_id for m in mentions} == harness.expected_ids

    def test_a_malformed_item_is_quarantined_and_the_rest_stored(self, harness: Harness) -> None:
        harness.break_one_item()
        pages = fetch_all(harness.build())
        rejects = [q for page in pages for q in page.quarantined]
        assert len(rejects) == 1
        assert rejects[0].reason
        assert rejects[0].source == harness.build().name
        assert {m.source_id for m in mentions_of(pages)} == harness.expected_ids

    def test_401_while_collecting_disables_the_source_and_keeps_the_cursor(
        self, harness: Harness, db: Database
    ) -> None:
        collector = harness.build()
        first = pipeline.collect(db, collector)
        assert first.status == "ok", first.error
        assert first.new == len(harness.expected_ids)
        with db.transaction() as session:
            cursor_before = session.get(models.CollectorCursor, collector.name)
            assert cursor_before is not None
            saved = cursor_before.cursor
        harness.web.fail_always(401)
        summary = pipeline.collect(db, harness.build())
        assert summary.status == "config_error"
        assert summary.error
        assert "\n" not in summary.error
        with db.transaction() as session:
            after = session.get(models.CollectorCursor, collector.name)
            assert after is not None
            assert after.cursor == saved
        assert count_rows(db, models.Mention) == len(harness.expected_ids)

    def test_errors_are_source_errors(self, harness: Harness) -> None:
        harness.web.fail_always(500)
        with pytest.raises(SourceError):
            fetch_all(harness.build())
